package upstream

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"minik8s/pkg/apiserver/apiservertest"
	"minik8s/pkg/controllers/endpointslice"
	"minik8s/pkg/netns"
	"minik8s/pkg/pki"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
)

// kubeProxy is the identity upstream's bootstrap policy binds to
// system:node-proxier (kubeadm runs kube-proxy as a ServiceAccount with the
// same role).
var kubeProxy = pki.Identity{User: "system:kube-proxy"}

var (
	// The informer sets kube-proxy waits for: "service config",
	// "endpoint slice config", "node config", "serviceCIDR config".
	proxyWaiting = regexp.MustCompile(`"Waiting for caches to sync" controller="([^"]+)"`)
	proxySynced  = regexp.MustCompile(`"Caches are synced" controller="([^"]+)"`)
	// A reflector that could not list or watch, whatever the reason
	// (a kind not served, RBAC, a bad response).
	listFailed = regexp.MustCompile(`(?m)^.*(?:"Failed to watch"|failed to list \*).*$`)
)

// kubeProxySynced tells whether every informer set kube-proxy waited for
// synced (the Service and EndpointSlice ones among them) with no list or
// watch failing, and what is missing.
func kubeProxySynced(log string) (bool, []string) {
	missing := listFailed.FindAllString(log, 5)
	waited := map[string]bool{}
	for _, m := range proxyWaiting.FindAllStringSubmatch(log, -1) {
		waited[m[1]] = true
	}
	for _, m := range proxySynced.FindAllStringSubmatch(log, -1) {
		delete(waited, m[1])
	}
	for name := range waited {
		missing = append(missing, "not synced: "+name)
	}
	for _, want := range []string{"service config", "endpoint slice config"} {
		if !strings.Contains(log, `"Caches are synced" controller="`+want+`"`) {
			missing = append(missing, "not synced: "+want)
		}
	}
	return len(missing) == 0, missing
}

// requireCommands fails the test, saying what to install, if a command it
// needs is missing.
func requireCommands(t *testing.T, names ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("kube-proxy's test makes a network namespace and nftables rules: run it as root (CI does)")
	}
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			t.Fatalf("kube-proxy's test needs %s on PATH (deploy/install-deps.sh installs it): %v", name, err)
		}
	}
}

// newNetns makes a network namespace for the test, with its loopback up;
// t.Cleanup removes it (the rules in it go with it).
func newNetns(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "netns")
	if err := netns.New(path); err != nil {
		t.Fatalf("making a network namespace: %v", err)
	}
	t.Cleanup(func() {
		if err := netns.Remove(path); err != nil {
			t.Errorf("removing the network namespace: %v", err)
		}
	})
	if err := netns.Do(path, netns.LoopbackUp); err != nil {
		t.Fatalf("setting lo up in the network namespace: %v", err)
	}
	return path
}

// forward listens on 127.0.0.1 inside the network namespace at nsPath and
// relays each connection to target in the test's own namespace, so a
// process in the namespace reaches the apiserver without any interface,
// address or route on the host. It returns the address to dial inside.
func forward(t *testing.T, nsPath, target string) string {
	t.Helper()
	var ln net.Listener
	err := netns.Do(nsPath, func() (err error) {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	})
	if err != nil {
		t.Fatalf("listening in the network namespace: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			go relay(in, target)
		}
	}()
	return ln.Addr().String()
}

func relay(in net.Conn, target string) {
	defer in.Close()
	out, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer out.Close()
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(out, in)
		_ = out.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	_, _ = io.Copy(in, out)
	_ = in.(*net.TCPConn).CloseWrite()
	<-done
}

// nftTable is `nft list table FAMILY NAME` run in the network namespace.
func nftTable(nsPath, family, name string) (string, error) {
	var out []byte
	err := netns.Do(nsPath, func() error {
		var stderr strings.Builder
		cmd := exec.Command("nft", "list", "table", family, name)
		cmd.Stderr = &stderr
		var err error
		if out, err = cmd.Output(); err != nil {
			return fmt.Errorf("nft list table %s %s: %w: %s", family, name, err, strings.TrimSpace(stderr.String()))
		}
		return nil
	})
	return string(out), err
}

// TestUpstreamKubeProxy runs Kubernetes' kube-proxy in nftables mode, in a
// network namespace of its own, against a minik8s apiserver: its Service,
// EndpointSlice, Node and ServiceCIDR informers sync, and a NodePort
// Service whose EndpointSlice minik8s's controller writes from two ready
// pods becomes a ClusterIP, a node port and DNAT rules to both pods in its
// table, which go when the Service is deleted.
func TestUpstreamKubeProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds kube-proxy: skipped with -short")
	}
	requireCommands(t, "nft")
	dir := t.TempDir()
	proxy := build(t, dir, "k8s.io/kubernetes/cmd/kube-proxy")

	s := apiservertest.Start(t)
	cs, err := kubernetes.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	// minik8s's EndpointSlice controller, as its controller-manager runs it.
	factory := informers.NewSharedInformerFactory(cs, 0)
	slices := endpointslice.New(cs, factory, &record.FakeRecorder{})
	factory.Start(ctx.Done())
	go slices.Run(ctx, 1)

	const nodeName, nodeIP = "n1", "10.123.0.10"
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: nodeName, Labels: map[string]string{corev1.LabelHostname: nodeName}},
		Status: corev1.NodeStatus{
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: nodeIP}},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
		},
	}
	if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating node: %v", err)
	}

	ns := newNetns(t, dir)
	target, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	inside := forward(t, ns, target.Host)
	kubeconfig := writeKubeconfigFor(t, s, dir, kubeProxy, "https://"+inside)
	start := time.Now()
	logs := runIn(t, ns, proxy, "--kubeconfig", kubeconfig, "-v=2",
		"--proxy-mode=nftables", "--hostname-override="+nodeName, "--cluster-cidr=10.244.0.0/16",
		// Their default ports, free in a namespace of its own.
		"--healthz-bind-address=127.0.0.1:10256", "--metrics-bind-address=127.0.0.1:10249",
		// Leave the namespace's conntrack sysctls as they are.
		"--conntrack-max-per-core=0", "--conntrack-tcp-timeout-established=0", "--conntrack-tcp-timeout-close-wait=0")
	waitSynced(t, "kube-proxy", logs, kubeProxySynced)

	// Two ready pods on n1 behind a NodePort Service.
	podIPs := []string{"10.244.1.5", "10.244.1.6"}
	for i, ip := range podIPs {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "web-" + strconv.Itoa(i), Namespace: "default", Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{
				Name: "c", Image: "minik8s/echo", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
			}}},
		}
		pod, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("creating pod: %v", err)
		}
		pod.Status = corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		}
		if _, err := cs.CoreV1().Pods("default").UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("writing pod status: %v", err)
		}
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeNodePort,
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
	svc, err = cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating service: %v", err)
	}
	clusterIP, nodePort := svc.Spec.ClusterIP, svc.Spec.Ports[0].NodePort

	// What kube-proxy's nftables proxier writes for it: the ClusterIP and
	// the node port in its service maps, a DNAT to each endpoint.
	want := []string{
		clusterIP + " . tcp . 80 : goto service-",
		"tcp . " + strconv.Itoa(int(nodePort)) + " : goto external-",
	}
	for _, ip := range podIPs {
		want = append(want, ip+" . 8080")
	}
	// And from what the apiserver keeps itself: the kubernetes Service
	// with its EndpointSlice (the apiserver's address), and the
	// ServiceCIDR, outside of which nothing is dropped.
	kubernetesSvc, err := cs.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cidr, err := cs.NetworkingV1().ServiceCIDRs().Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fixed := []string{
		kubernetesSvc.Spec.ClusterIP + " . tcp . 443 : goto service-",
		"dnat to " + target.Host,
		"ip daddr " + cidr.Spec.CIDRs[0] + " drop",
	}
	want = append(want, fixed...)
	var table string
	var missing []string
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		if table, err = nftTable(ns, "ip", "kube-proxy"); err != nil {
			missing = []string{err.Error()}
			return false, nil
		}
		missing = missing[:0]
		for _, w := range want {
			if !strings.Contains(table, w) {
				missing = append(missing, w)
			}
		}
		return len(missing) == 0, nil
	})
	if err != nil {
		t.Fatalf("kube-proxy did not program service default/web in 60 s: missing %q\ntable ip kube-proxy:\n%s", missing, table)
	}
	t.Logf("kube-proxy programmed default/web (ClusterIP %s, node port %d, endpoints %v) %s after it started",
		clusterIP, nodePort, podIPs, time.Since(start).Round(time.Second))

	// Deleted, the Service's map elements and DNATs go. (Its chains stay,
	// flushed, until a later sync deletes them: upstream's proxier deletes
	// chains only a second after they went stale.)
	if err := cs.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("deleting service: %v", err)
	}
	gone := want[:len(want)-len(fixed)]
	var left []string
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		if table, err = nftTable(ns, "ip", "kube-proxy"); err != nil {
			left = []string{err.Error()}
			return false, nil
		}
		left = left[:0]
		for _, g := range gone {
			if strings.Contains(table, g) {
				left = append(left, g)
			}
		}
		return len(left) == 0, nil
	})
	if err != nil {
		t.Fatalf("service default/web still in kube-proxy's rules 60 s after its deletion: %q\ntable ip kube-proxy:\n%s", left, table)
	}
	for _, f := range fixed {
		if !strings.Contains(table, f) {
			t.Errorf("deleting default/web took %q out of kube-proxy's rules too", f)
		}
	}

	if failed := listFailed.FindAllString(logs.String(), 5); len(failed) > 0 {
		t.Errorf("kube-proxy failed to list or watch:\n%s", strings.Join(failed, "\n"))
	}
	if errs := errorLines(logs.String()); len(errs) > 0 {
		t.Logf("kube-proxy logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

var errorLine = regexp.MustCompile(`(?m)^E\d{4} .*$`)

func errorLines(log string) []string { return errorLine.FindAllString(log, -1) }
