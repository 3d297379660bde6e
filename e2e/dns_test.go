//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The cluster DNS (CoreDNS from `lab up`'s dns add-on) seen from pods:
// names of Services in the pod's namespace and others, headless Services,
// SRV, PTR, a pod by hostname and subdomain, deletion, and one CoreDNS
// pod lost.

// dnsEchoDeployment runs replicas of minik8s/echo labelled app=name.
func dnsEchoDeployment(t *testing.T, ns, name string, replicas int32) {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr(int64(1)),
					Containers: []corev1.Container{{Name: "echo", Image: "minik8s/echo:latest",
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}},
				},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// dnsClient starts a toolbox pod that sleeps, for nslookup and wget, and
// waits until it runs.
func dnsClient(t *testing.T, ns, name string) {
	t.Helper()
	p := toolboxPod(name, "", "sleep 3600", corev1.RestartPolicyNever)
	if _, err := cs.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodPhase(t, ns, name, corev1.PodRunning, 60*time.Second)
}

// nslookup runs busybox nslookup in a client pod; its output holds the
// answers, or "NXDOMAIN".
func nslookup(ns, pod string, args ...string) (string, error) {
	return podExec(ns, pod, "toolbox", append([]string{"nslookup"}, args...)...)
}

// nslookupAnswers are the addresses of nslookup's answers, sorted, without
// repeats. Busybox's nslookup asks for A and AAAA under every search
// domain and prints each answer ("Name:" then "Address:" lines) and each
// failure ("** server can't find …"); it exits 1 when any failed, so the
// answers, not the exit code, say what resolved.
func nslookupAnswers(out string) []string {
	var ips []string
	inName := false
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "Name:"):
			inName = true
		case inName && strings.HasPrefix(line, "Address:"):
			ips = append(ips, strings.TrimSpace(strings.TrimPrefix(line, "Address:")))
		case line == "" || strings.HasPrefix(line, "Server:"):
			inName = false
		}
	}
	slices.Sort(ips)
	return slices.Compact(ips)
}

// resolveLibc resolves name in a client pod through a resolver that
// applies the search domains under ndots:5 as the C library's does, as
// applications do: busybox's nslookup applies them only to names without a
// dot; the toolbox's wget (Go's resolver) prints "Connecting to NAME
// (IP:80)".
func resolveLibc(ns, pod, name string) (string, error) {
	out, err := podExec(ns, pod, "toolbox", "sh", "-c", "wget -T 5 -O /dev/null http://"+name+"/ 2>&1")
	_, after, ok := strings.Cut(out, "Connecting to "+name+" (")
	if !ok {
		return "", fmt.Errorf("no address for %s (%v): %s", name, err, out)
	}
	ip, _, _ := strings.Cut(after, ":")
	return ip, nil
}

func waitDNSReady(t *testing.T) {
	t.Helper()
	waitDeployment(t, "kube-system", "coredns", 2, 90*time.Second)
}

func TestDNSServiceNames(t *testing.T) {
	waitDNSReady(t)
	ns := namespace(t)
	other := ns[:min(len(ns), 54)] + "-other"
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: other}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.CoreV1().Namespaces().Delete(context.Background(), other, metav1.DeleteOptions{}) })

	dnsEchoDeployment(t, ns, "frontend", 1)
	ip := clusterIPService(t, ns, "frontend")
	dnsClient(t, ns, "client")
	dnsClient(t, other, "client")

	resolv, err := podExec(ns, "client", "toolbox", "cat", "/etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"nameserver 10.96.0.10\n", fmt.Sprintf("search %s.svc.cluster.local svc.cluster.local cluster.local", ns), "options ndots:5\n"} {
		if !strings.Contains(resolv, want) {
			t.Errorf("got resolv.conf\n%s\nwant %q", resolv, want)
		}
	}

	for _, name := range []string{"frontend", "frontend." + ns + ".svc.cluster.local"} {
		eventually(t, 10*time.Second, "nslookup "+name, func() error {
			out, err := nslookup(ns, "client", name)
			if got := nslookupAnswers(out); !slices.Equal(got, []string{ip}) {
				return fmt.Errorf("got %v (%v), want [%s]; output:\n%s", got, err, ip, out)
			}
			return nil
		})
	}
	// Each CoreDNS replica watches the API on its own: the name may reach
	// one a moment after the other (the Service's name-ready time is
	// bench/dns's figure), but not seconds later.
	for _, from := range []string{ns, other} {
		eventually(t, 5*time.Second, fmt.Sprintf("from %s: frontend.%s", from, ns), func() error {
			if got, err := resolveLibc(from, "client", "frontend."+ns); got != ip {
				return fmt.Errorf("resolves to %q (%v), want %s", got, err, ip)
			}
			return nil
		})
	}
	eventually(t, 5*time.Second, fmt.Sprintf("from %s: nslookup frontend.%s.svc.cluster.local", other, ns), func() error {
		out, err := nslookup(other, "client", "frontend."+ns+".svc.cluster.local")
		if got := nslookupAnswers(out); !slices.Equal(got, []string{ip}) {
			return fmt.Errorf("got %v (%v), want [%s]; output:\n%s", got, err, ip, out)
		}
		return nil
	})
	if out, err := nslookup(other, "client", "frontend"); err == nil || nslookupAnswers(out) != nil {
		t.Errorf("from %s: nslookup frontend: got %v\n%s\nwant no answer (the Service is in %s)", other, err, out, ns)
	}

	// SRV of the named port, PTR of the ClusterIP.
	out, err := nslookup(ns, "client", "-type=srv", "_http._tcp.frontend."+ns+".svc.cluster.local")
	if want := fmt.Sprintf("80 frontend.%s.svc.cluster.local", ns); err != nil || !strings.Contains(out, want) {
		t.Errorf("SRV: got %v\n%s\nwant %q", err, out, want)
	}
	out, err = nslookup(ns, "client", ip)
	if want := fmt.Sprintf("frontend.%s.svc.cluster.local", ns); err != nil || !strings.Contains(out, want) {
		t.Errorf("PTR of %s: got %v\n%s\nwant %q", ip, err, out, want)
	}

	// By name from the other namespace, over HTTP.
	eventually(t, 30*time.Second, "wget http://frontend."+ns+"/ from "+other, func() error {
		out, err := podExec(other, "client", "toolbox", "wget", "-T", "5", "-q", "-O", "-", "http://frontend."+ns+"/")
		if err != nil || !strings.HasPrefix(firstLine(out), "frontend-") {
			return fmt.Errorf("got %v: %q, want the answer of a frontend pod", err, firstLine(out))
		}
		return nil
	})

	// A name that is not the cluster's fails at once: the lab forwards
	// nothing outside.
	start := time.Now()
	out, err = nslookup(ns, "client", "example.com.")
	if took := time.Since(start); err == nil || nslookupAnswers(out) != nil || took > 3*time.Second {
		t.Errorf("nslookup example.com.: got %v\n%s\nafter %s, want a failure without answers at once", err, out, took)
	}

	// Deleted: NXDOMAIN within seconds.
	if err := cs.CoreV1().Services(ns).Delete(context.Background(), "frontend", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The trailing dot keeps nslookup from trying the search domains.
	eventually(t, 5*time.Second, "frontend NXDOMAIN after its Service is deleted", func() error {
		out, _ := nslookup(ns, "client", "frontend."+ns+".svc.cluster.local.")
		if nslookupAnswers(out) != nil || !strings.Contains(out, "NXDOMAIN") {
			return fmt.Errorf("got\n%s", out)
		}
		return nil
	})
}

func TestDNSHeadlessAndHostnames(t *testing.T) {
	waitDNSReady(t)
	ns := namespace(t)
	dnsEchoDeployment(t, ns, "web", 2)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Selector:  map[string]string{"app": "web"},
			Ports:     []corev1.ServicePort{{Name: "http", Port: 8080, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	if _, err := cs.CoreV1().Services(ns).Create(context.Background(), svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A StatefulSet-like member: hostname and subdomain naming its
	// headless Service.
	members := svc.DeepCopy()
	members.Name, members.Spec.Selector = "members", map[string]string{"app": "member"}
	if _, err := cs.CoreV1().Services(ns).Create(context.Background(), members, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	member := toolboxPod("member", "", "sleep 3600", corev1.RestartPolicyNever)
	member.Labels = map[string]string{"app": "member"}
	member.Spec.Hostname, member.Spec.Subdomain = "web-0", "members"
	if _, err := cs.CoreV1().Pods(ns).Create(context.Background(), member, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	memberPod := waitPodPhase(t, ns, "member", corev1.PodRunning, 60*time.Second)
	dnsClient(t, ns, "client")
	waitDeployment(t, ns, "web", 2, 60*time.Second)

	podIPs := func() []string {
		pods, err := readyPods(ns, "app=web")
		if err != nil {
			t.Fatal(err)
		}
		var ips []string
		for _, p := range pods {
			ips = append(ips, p.Status.PodIP)
		}
		slices.Sort(ips)
		return ips
	}
	follows := func(what string) {
		eventually(t, 10*time.Second, what, func() error {
			want := podIPs()
			out, err := nslookup(ns, "client", "web")
			if got := nslookupAnswers(out); !slices.Equal(got, want) {
				return fmt.Errorf("got %v (%v), want the ready pods' %v", got, err, want)
			}
			return nil
		})
	}
	follows("headless web gives its 2 pods' IPs")

	d, err := cs.AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Replicas = ptr(int32(4))
	if _, err := cs.AppsV1().Deployments(ns).Update(context.Background(), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitDeployment(t, ns, "web", 4, 60*time.Second)
	follows("headless web follows the scale-up to 4 pods")

	fqdn := "web-0.members." + ns + ".svc.cluster.local"
	eventually(t, 10*time.Second, "nslookup "+fqdn, func() error {
		out, err := nslookup(ns, "client", fqdn)
		if got := nslookupAnswers(out); !slices.Equal(got, []string{memberPod.Status.PodIP}) {
			return fmt.Errorf("got %v (%v), want [%s]", got, err, memberPod.Status.PodIP)
		}
		return nil
	})
	out, err := podExec(ns, "member", "toolbox", "sh", "-c", "hostname; cat /etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	if want := "web-0\n"; !strings.HasPrefix(out, want) {
		t.Errorf("got hostname %q, want %q", firstLine(out), want)
	}
	if want := fmt.Sprintf("%s\t%s\tweb-0\n", memberPod.Status.PodIP, fqdn); !strings.Contains(out, want) {
		t.Errorf("got /etc/hosts\n%s\nwant the line %q", out, want)
	}
}

func TestDNSSurvivesCoreDNSPodLoss(t *testing.T) {
	waitDNSReady(t)
	ns := namespace(t)
	dnsClient(t, ns, "client")
	// 40 lookups 0.2 s apart (about 10 s with the lookups), each given
	// 2 s; one CoreDNS pod is deleted after the first few.
	script := `ok=0; fail=0; for i in $(seq 40); do if timeout 2 nslookup kubernetes.default.svc.cluster.local >/dev/null 2>&1; then ok=$((ok+1)); else fail=$((fail+1)); echo "fail at $i"; fi; sleep 0.2; done; echo "ok=$ok fail=$fail"`
	done := make(chan string, 1)
	go func() {
		out, err := podExec(ns, "client", "toolbox", "sh", "-c", script)
		if err != nil {
			out += "\n" + err.Error()
		}
		done <- out
	}()
	time.Sleep(2 * time.Second)
	pods, err := readyPods("kube-system", "k8s-app=kube-dns")
	if err != nil || len(pods) == 0 {
		t.Fatalf("CoreDNS pods: %v, %d ready", err, len(pods))
	}
	if err := cs.CoreV1().Pods("kube-system").Delete(context.Background(), pods[0].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var out string
	select {
	case out = <-done:
	case <-time.After(50 * time.Second):
		t.Fatal("the lookup loop did not end")
	}
	if !strings.Contains(out, "ok=40 fail=0") {
		t.Errorf("lookups while CoreDNS pod %s was deleted:\n%s\nwant all 40 answered", pods[0].Name, out)
	}
	waitDNSReady(t)
}

// TestDNSAddonReapply: `ctl addons apply dns` on the lab `lab up` made
// changes nothing (the Corefile's ConfigMap is only ever created).
func TestDNSAddonReapply(t *testing.T) {
	waitDNSReady(t)
	out, err := ctl("addons", "apply", "dns")
	if err != nil {
		t.Fatalf("ctl addons apply dns: %v\n%s", err, out)
	}
	if n := strings.Count(out, " unchanged\n"); n != 6 {
		t.Errorf("got\n%s\nwant the 6 objects unchanged", out)
	}
	cm, err := cs.CoreV1().ConfigMaps("kube-system").Get(context.Background(), "coredns", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(cm.Data["Corefile"], "forward") {
		t.Errorf("got Corefile\n%s\nwant the lab's, without forward", cm.Data["Corefile"])
	}
}

// TestDNSCorefileReload: a change of the Corefile in its ConfigMap reaches
// CoreDNS without a restart: the agents refresh the mounted file, CoreDNS's
// reload plugin (every 30 s, with jitter) picks it up. A hosts entry added
// to the server block resolves; the Corefile is put back afterwards.
func TestDNSCorefileReload(t *testing.T) {
	waitDNSReady(t)
	ns := namespace(t)
	dnsClient(t, ns, "client")
	ctx := context.Background()
	cms := cs.CoreV1().ConfigMaps("kube-system")
	cm, err := cms.Get(ctx, "coredns", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	restarts := func() map[string]int32 {
		pods, err := cs.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-dns"})
		if err != nil {
			t.Fatal(err)
		}
		n := map[string]int32{}
		for _, p := range pods.Items {
			for _, c := range p.Status.ContainerStatuses {
				n[p.Name] += c.RestartCount
			}
		}
		return n
	}
	before := restarts()
	orig := cm.Data["Corefile"]
	edited := strings.Replace(orig, "    loop\n", "    hosts {\n        10.1.2.3 reloaded.example\n        fallthrough\n    }\n    loop\n", 1)
	if edited == orig {
		t.Fatalf("no place for the hosts block in\n%s", orig)
	}
	cm.Data["Corefile"] = edited
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cm, err := cms.Get(ctx, "coredns", metav1.GetOptions{}); err == nil {
			cm.Data["Corefile"] = orig
			cms.Update(ctx, cm, metav1.UpdateOptions{})
		}
	})
	// Both replicas: ten answers in a row, through the Service's random
	// choice of replica.
	eventually(t, 90*time.Second, "reloaded.example from the edited Corefile on both replicas", func() error {
		for i := range 10 {
			out, err := nslookup(ns, "client", "reloaded.example")
			if got := nslookupAnswers(out); !slices.Equal(got, []string{"10.1.2.3"}) {
				return fmt.Errorf("lookup %d: got %v (%v)", i+1, got, err)
			}
		}
		return nil
	})
	if after := restarts(); !maps.Equal(after, before) {
		t.Errorf("CoreDNS restarts went from %v to %v; the reload should need none", before, after)
	}
}

// TestDNSExternalNameAndPodRecords: an ExternalName Service is a CNAME to
// its target (here another Service, which CoreDNS resolves in turn), and
// a pod has its A record in the pods zone (`pods insecure`, as kubeadm's
// Corefile): 10-244-1-5.NS.pod.cluster.local.
func TestDNSExternalNameAndPodRecords(t *testing.T) {
	waitDNSReady(t)
	ns := namespace(t)
	ctx := context.Background()
	dnsEchoDeployment(t, ns, "backend", 1)
	ip := clusterIPService(t, ns, "backend")
	alias := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "alias"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "backend." + ns + ".svc.cluster.local"},
	}
	if _, err := cs.CoreV1().Services(ns).Create(ctx, alias, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dnsClient(t, ns, "client")
	eventually(t, 10*time.Second, "alias."+ns+" as a CNAME to backend", func() error {
		out, err := nslookup(ns, "client", "alias."+ns+".svc.cluster.local")
		if !strings.Contains(out, "canonical name = backend."+ns+".svc.cluster.local") || !slices.Contains(nslookupAnswers(out), ip) {
			return fmt.Errorf("got (%v)\n%s\nwant a CNAME to backend.%s.svc.cluster.local and %s", err, out, ns, ip)
		}
		return nil
	})
	client, err := cs.CoreV1().Pods(ns).Get(ctx, "client", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	name := strings.ReplaceAll(client.Status.PodIP, ".", "-") + "." + ns + ".pod.cluster.local"
	out, err := nslookup(ns, "client", name)
	if got := nslookupAnswers(out); !slices.Equal(got, []string{client.Status.PodIP}) {
		t.Errorf("pod record %s: got %v (%v), want [%s]\n%s", name, got, err, client.Status.PodIP, out)
	}
}
