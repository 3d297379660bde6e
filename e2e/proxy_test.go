//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/remotecommand"

	"minik8s/pkg/netns"
)

// udpInNode opens a UDP socket inside a node's network namespace. A
// socket stays in the namespace it was made in, whichever thread uses it.
func udpInNode(node string) (c *net.UDPConn, err error) {
	err = netns.Do("/run/netns/mk8s-"+node, func() error {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{})
		return err
	})
	return c, err
}

// udpFlow sends numbered datagrams from one socket (one source port: one
// conntrack flow) every interval and records who answered each.
type udpFlow struct {
	conn *net.UDPConn
	dst  *net.UDPAddr
	stop chan struct{}
	done sync.WaitGroup

	mu       sync.Mutex
	sentAt   []time.Time
	answered map[int]string // seq -> answering pod
}

func startUDPFlow(conn *net.UDPConn, dst *net.UDPAddr, interval time.Duration) *udpFlow {
	f := &udpFlow{conn: conn, dst: dst, stop: make(chan struct{}), answered: map[int]string{}}
	f.done.Add(2)
	go func() {
		defer f.done.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for seq := 0; ; seq++ {
			f.mu.Lock()
			f.sentAt = append(f.sentAt, time.Now())
			f.mu.Unlock()
			// A send error (e.g. an ICMP error reported on the socket) is
			// a lost datagram like any other.
			_, _ = conn.WriteToUDP([]byte(strconv.Itoa(seq)), dst)
			select {
			case <-f.stop:
				return
			case <-tick.C:
			}
		}
	}()
	go func() {
		defer f.done.Done()
		buf := make([]byte, 512)
		for {
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					return
				}
				select {
				case <-f.stop:
					return
				default:
					continue
				}
			}
			// The echo server answers "hostname: payload".
			host, payload, ok := strings.Cut(string(buf[:n]), ": ")
			seq, err := strconv.Atoi(payload)
			if !ok || err != nil {
				continue
			}
			f.mu.Lock()
			f.answered[seq] = host
			f.mu.Unlock()
		}
	}()
	return f
}

// end stops sending and gives the last datagrams a second to come back.
func (f *udpFlow) end() {
	close(f.stop)
	_ = f.conn.SetReadDeadline(time.Now().Add(time.Second))
	f.done.Wait()
	f.conn.Close()
}

// firstAnswer is the lowest answered seq and its pod ("" if none).
func (f *udpFlow) firstAnswer() (int, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	first := -1
	for seq := range f.answered {
		if first < 0 || seq < first {
			first = seq
		}
	}
	if first < 0 {
		return -1, ""
	}
	return first, f.answered[first]
}

// TestUDPFlowAcrossRollout keeps one UDP flow (one source port) going to a
// ClusterIP from node1 while the Deployment behind it is rolled so that
// every pod is replaced. The proxy must move the flow off each removed
// endpoint (deleting its conntrack entry), or the flow stays pinned to a
// pod that is gone and every later datagram is lost.
//
// Loss bound: a pod keeps answering for 3 s after SIGTERM (shutdown
// delay) while the endpoint controller and the proxy drop it, so a flow
// that moves in time loses nothing; UDP has no retransmission, so a
// datagram in flight while a pod stops, or a proxy that takes more than
// those 3 s on this shared machine, still loses a few. We allow 2% of the
// datagrams and no silence longer than 1 s (50 datagrams at 20 ms). A
// flow left on a removed endpoint goes silent from the moment its pod
// exits until the test ends, which breaks both.
func TestUDPFlowAcrossRollout(t *testing.T) {
	const interval = 20 * time.Millisecond
	ns := namespace(t)
	ctx := context.Background()
	d := exampleDeployment(t)
	c := &d.Spec.Template.Spec.Containers[0]
	c.Args = []string{"--listen", ":8080", "--shutdown-delay", "3s"}
	d.Spec.Template.Spec.TerminationGracePeriodSeconds = ptr(int64(15))
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "echo-udp"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "echo"},
			Ports:    []corev1.ServicePort{{Name: "echo", Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	created, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitDeployment(t, ns, "echo", 3, 90*time.Second)
	oldPods := podNames(t, ns)

	conn, err := udpInNode("node1")
	if err != nil {
		t.Fatalf("udp socket in node1: %v", err)
	}
	flow := startUDPFlow(conn, &net.UDPAddr{IP: net.ParseIP(created.Spec.ClusterIP), Port: 53}, interval)
	ended := false
	defer func() {
		if !ended {
			flow.end()
		}
	}()
	eventually(t, 30*time.Second, "first UDP answer through the ClusterIP", func() error {
		if _, host := flow.firstAnswer(); host == "" {
			return fmt.Errorf("no answer yet")
		}
		return nil
	})
	first, firstHost := flow.firstAnswer()
	if !oldPods[firstHost] {
		t.Fatalf("first answer from %q, not one of the pods %v", firstHost, oldPods)
	}

	// Roll: a template change replaces every pod.
	eventually(t, 10*time.Second, "update the Deployment", func() error {
		cur, err := cs.AppsV1().Deployments(ns).Get(ctx, "echo", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.Spec.Template.Annotations == nil {
			cur.Spec.Template.Annotations = map[string]string{}
		}
		cur.Spec.Template.Annotations["e2e/rollout"] = "1"
		_, err = cs.AppsV1().Deployments(ns).Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	eventually(t, 3*time.Minute, "every old pod replaced and gone", func() error {
		list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=echo"})
		if err != nil {
			return err
		}
		var left []string
		for _, p := range list.Items {
			if oldPods[p.Name] {
				left = append(left, p.Name)
			}
		}
		if len(left) > 0 {
			return fmt.Errorf("old pods still there: %v", left)
		}
		return nil
	})
	waitDeployment(t, ns, "echo", 3, 90*time.Second)
	newPods := podNames(t, ns)
	// Keep the flow going a while on the new pods only.
	time.Sleep(3 * time.Second)
	flow.end()
	ended = true

	flow.mu.Lock()
	defer flow.mu.Unlock()
	last := len(flow.sentAt) - 1
	lost, gap, maxGap := 0, 0, 0
	byHost := map[string]int{}
	lastHost := ""
	for seq := first; seq <= last; seq++ {
		host, ok := flow.answered[seq]
		if !ok {
			lost++
			gap++
			maxGap = max(maxGap, gap)
			continue
		}
		gap = 0
		byHost[host]++
		lastHost = host
	}
	total := last - first + 1
	hosts := make([]string, 0, len(byHost))
	for h, n := range byHost {
		hosts = append(hosts, fmt.Sprintf("%s=%d", h, n))
	}
	sort.Strings(hosts)
	t.Logf("one UDP flow across the rollout: %d datagrams, %d lost, longest silence %d datagrams (%s); answers by pod: %s",
		total, lost, maxGap, time.Duration(maxGap)*interval, strings.Join(hosts, " "))
	if !newPods[lastHost] {
		t.Errorf("last answer from %q, want one of the new pods %v", lastHost, newPods)
	}
	if lost*100 > 2*total {
		t.Errorf("%d of %d datagrams lost, want at most 2%%", lost, total)
	}
	if time.Duration(maxGap)*interval > time.Second {
		t.Errorf("the flow went silent for %d datagrams (%s), want at most 1 s", maxGap, time.Duration(maxGap)*interval)
	}
}

// podExec runs a command in a container through the API and returns its
// standard output.
func podExec(ns, pod, container string, command ...string) (string, error) {
	req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: command, Stdout: true, Stderr: true}, parameterCodec)
	spdy, err := remotecommand.NewSPDYExecutor(cfg, "POST", req.URL())
	if err != nil {
		return "", err
	}
	ws, err := remotecommand.NewWebSocketExecutor(cfg, "GET", req.URL().String())
	if err != nil {
		return "", err
	}
	exec, err := remotecommand.NewFallbackExecutor(ws, spdy, func(error) bool { return true })
	if err != nil {
		return "", err
	}
	var out, errOut strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &errOut}); err != nil {
		return out.String(), fmt.Errorf("%w (stderr %q)", err, errOut.String())
	}
	return out.String(), nil
}

// clusterIPService makes a ClusterIP Service on port 80 for pods labelled
// app=name, listening on 8080.
func clusterIPService(t *testing.T, ns, name string) string {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	created, err := cs.CoreV1().Services(ns).Create(context.Background(), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return created.Spec.ClusterIP
}

// askFrom fetches http://ip/ from a pod's container five times, once the
// first answer came, and checks that every answer is from want.
func askFrom(t *testing.T, ns, pod, container, ip, want string) {
	t.Helper()
	ask := func() error {
		out, err := podExec(ns, pod, container, "wget", "-T", "5", "-q", "-O", "-", "http://"+ip+"/")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if got := firstLine(out); got != want {
			return fmt.Errorf("answer from %q, want %q", got, want)
		}
		return nil
	}
	eventually(t, 30*time.Second, fmt.Sprintf("%s reaches %s through %s", pod, want, ip), ask)
	for i := 0; i < 5; i++ {
		if err := ask(); err != nil {
			t.Errorf("request %d from %s to %s: %v", i, pod, ip, err)
		}
	}
}

// TestHairpin: a pod reaches a Service whose only endpoint is itself, and
// a pod reaches a Service whose endpoint is another pod on its node. The
// proxy masquerades both (hairpin); without it the reply skips the node's
// conntrack and the client drops an answer that is not from the ClusterIP.
func TestHairpin(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	pod := func(name string, containers ...corev1.Container) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
			Spec:       corev1.PodSpec{NodeName: "node1", TerminationGracePeriodSeconds: ptr(int64(1)), Containers: containers},
		}
	}
	echo := corev1.Container{Name: "echo", Image: "minik8s/echo:latest", Args: []string{"--listen", ":8080"}}
	toolbox := corev1.Container{Name: "toolbox", Image: "minik8s/toolbox:latest", Command: []string{"sleep", "3600"}}
	for _, p := range []*corev1.Pod{pod("self", echo, toolbox), pod("server", echo), pod("client", toolbox)} {
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	selfIP, serverIP := clusterIPService(t, ns, "self"), clusterIPService(t, ns, "server")
	for _, name := range []string{"self", "server", "client"} {
		waitPodPhase(t, ns, name, corev1.PodRunning, 60*time.Second)
	}

	t.Run("pod to itself through its Service", func(t *testing.T) {
		askFrom(t, ns, "self", "toolbox", selfIP, "self")
	})
	t.Run("pod to another pod on its node through a Service", func(t *testing.T) {
		askFrom(t, ns, "client", "toolbox", serverIP, "server")
	})
	// With bridge netfilter on (the lab's default here), the node's
	// conntrack also sees frames between two pods of its bridge and undoes
	// the DNAT without the masquerade; hosts without br_netfilter do not.
	t.Run("pod to another pod on its node, bridge netfilter off", func(t *testing.T) {
		const key = "net.bridge.bridge-nf-call-iptables"
		out, err := inNode("node1", "sysctl", "-n", key)
		if err != nil {
			t.Skipf("no %s in node1: %v: %s", key, err, out)
		}
		before := strings.TrimSpace(out)
		t.Cleanup(func() {
			if out, err := inNode("node1", "sysctl", "-qw", key+"="+before); err != nil {
				t.Errorf("restoring %s=%s: %v: %s", key, before, err, out)
			}
		})
		if out, err := inNode("node1", "sysctl", "-qw", key+"=0"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		askFrom(t, ns, "client", "toolbox", serverIP, "server")
	})
}
