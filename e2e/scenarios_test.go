//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/remotecommand"

	"minik8s/pkg/cgroup"
)

var nodes = []string{"node1", "node2", "node3"}

// deployExamples applies deploy/examples into ns and waits for 3 ready pods.
func deployExamples(t *testing.T, ns string) (clusterIP string) {
	t.Helper()
	ctx := context.Background()
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, exampleDeployment(t), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc, err := cs.CoreV1().Services(ns).Create(ctx, exampleService(t, "echo-service.yaml"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Services(ns).Create(ctx, exampleService(t, "echo-lb.yaml"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitDeployment(t, ns, "echo", 3, 90*time.Second)
	return svc.Spec.ClusterIP
}

func podNames(t *testing.T, ns string) map[string]bool {
	t.Helper()
	pods, err := readyPods(ns, "app=echo")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, p := range pods {
		names[p.Name] = true
	}
	return names
}

// TestExamples applies the examples and reaches the ClusterIP from every
// node and from a pod, and the LoadBalancer IP from the machine, balanced.
func TestExamples(t *testing.T) {
	ns := namespace(t)
	ip := deployExamples(t, ns)
	pods := podNames(t, ns)
	for _, node := range nodes {
		eventually(t, 20*time.Second, "ClusterIP from "+node, func() error {
			out, err := wgetFromNode(node, "http://"+ip+"/")
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			if !pods[firstLine(out)] {
				return fmt.Errorf("answer from %q, not an echo pod %v", firstLine(out), pods)
			}
			return nil
		})
	}
	// From a pod.
	ctx := context.Background()
	client := toolboxPod("client", "", "wget -T 5 -q -O - http://"+ip+"/", corev1.RestartPolicyNever)
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, client, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodPhase(t, ns, "client", corev1.PodSucceeded, 60*time.Second)
	logs, err := podLogs(ns, "client", "toolbox")
	if err != nil || !pods[firstLine(logs)] {
		t.Errorf("ClusterIP from a pod: got %q, %v; want an echo pod's name", logs, err)
	}
	// The LoadBalancer IP from the root namespace, balanced over the pods.
	lb := lbIP(t, ns, "echo-lb")
	seen := map[string]int{}
	eventually(t, 30*time.Second, "LoadBalancer IP answers", func() error {
		_, err := get("http://" + lb + "/")
		return err
	})
	for i := 0; i < 60; i++ {
		out, err := get("http://" + lb + "/")
		if err != nil {
			t.Fatalf("request %d to %s: %v", i, lb, err)
		}
		seen[firstLine(out)]++
	}
	if len(seen) != len(pods) {
		t.Errorf("60 requests to %s reached %v, want all of %v", lb, seen, pods)
	}
}

// TestScale scales the Deployment up and down through /scale.
func TestScale(t *testing.T) {
	ns := namespace(t)
	deployExamples(t, ns)
	ctx := context.Background()
	for _, n := range []int32{5, 1} {
		s, err := cs.AppsV1().Deployments(ns).GetScale(ctx, "echo", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s.Spec.Replicas = n
		if _, err := cs.AppsV1().Deployments(ns).UpdateScale(ctx, "echo", s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitDeployment(t, ns, "echo", n, 90*time.Second)
		eventually(t, 30*time.Second, fmt.Sprintf("%d pods left", n), func() error {
			list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=echo"})
			if err != nil {
				return err
			}
			if len(list.Items) != int(n) {
				return fmt.Errorf("%d pods", len(list.Items))
			}
			return nil
		})
	}
}

// load sends requests to url without keep-alive until stop, counting
// failures and the greetings seen.
type load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []string
	bodies     map[string]int
	stop       chan struct{}
	stopOnce   sync.Once
	done       sync.WaitGroup
}

func startLoad(url string, max time.Duration) *load {
	l := &load{stop: make(chan struct{}), bodies: map[string]int{}}
	deadline := time.Now().Add(max)
	l.done.Add(1)
	go func() {
		defer l.done.Done()
		for time.Now().Before(deadline) {
			select {
			case <-l.stop:
				return
			default:
			}
			out, err := get(url)
			l.mu.Lock()
			if err != nil {
				l.failed.Add(1)
				if len(l.errs) < 10 {
					l.errs = append(l.errs, err.Error())
				}
			} else {
				l.ok.Add(1)
				lines := strings.Split(strings.TrimSpace(out), "\n")
				l.bodies[lines[len(lines)-1]]++
			}
			l.mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return l
}

func (l *load) end() { l.stopOnce.Do(func() { close(l.stop) }); l.done.Wait() }

// TestRollingUpdateUnderLoad rolls echo three times (v1 → v2 → v1 → v2)
// while requests flow through the LoadBalancer IP, each rollout with at
// least 900 requests: none may fail. The pods have no preStop hook and
// stop serving as soon as they get SIGTERM: the agent holds SIGTERM
// until the Service proxy has dropped the pod.
func TestRollingUpdateUnderLoad(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	d := exampleDeployment(t)
	d.Spec.Template.Spec.Containers[0].Image = "minik8s/echo:v1"
	d.Spec.Template.Spec.TerminationGracePeriodSeconds = ptr(int64(15))
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
		MaxSurge: ptr(intstr.FromInt32(1)), MaxUnavailable: ptr(intstr.FromInt32(0)),
	}}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Services(ns).Create(ctx, exampleService(t, "echo-lb.yaml"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitDeployment(t, ns, "echo", 3, 90*time.Second)
	url := "http://" + lbIP(t, ns, "echo-lb") + "/"
	eventually(t, 30*time.Second, "LB answers", func() error { _, err := get(url); return err })

	l := startLoad(url, 6*time.Minute)
	defer l.end()
	time.Sleep(time.Second)
	for i, image := range []string{"minik8s/echo:v2", "minik8s/echo:v1", "minik8s/echo:v2"} {
		before := l.ok.Load() + l.failed.Load()
		failedBefore := l.failed.Load()
		cur, err := cs.AppsV1().Deployments(ns).Get(ctx, "echo", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cur.Spec.Template.Spec.Containers[0].Image = image
		if _, err := cs.AppsV1().Deployments(ns).Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitDeployment(t, ns, "echo", 3, 3*time.Minute)
		// The old pods finish terminating under load, and the rollout
		// sees at least 900 requests.
		eventually(t, 2*time.Minute, "old pods gone and 900 requests", func() error {
			pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=echo"})
			if err != nil {
				return err
			}
			if n := len(pods.Items); n != 3 {
				return fmt.Errorf("%d pods", n)
			}
			if n := l.ok.Load() + l.failed.Load() - before; n < 900 {
				return fmt.Errorf("%d requests", n)
			}
			return nil
		})
		t.Logf("rollout %d to %s: %d requests, %d failed", i+1, image, l.ok.Load()+l.failed.Load()-before, l.failed.Load()-failedBefore)
	}
	l.end()
	t.Logf("three rollouts under load: %d ok, %d failed, answers %v", l.ok.Load(), l.failed.Load(), l.bodies)
	if l.failed.Load() > 0 {
		t.Errorf("%d requests failed during the rollouts, e.g. %v", l.failed.Load(), l.errs)
	}
	if l.bodies["hello from minik8s/echo v2"] == 0 || l.bodies["hello from minik8s/echo v1"] == 0 {
		t.Errorf("answers %v, want both versions", l.bodies)
	}
}

// TestNodePowerOff powers node2 off: its pods are replaced on the other
// nodes and the LoadBalancer IP keeps answering; then it comes back.
func TestNodePowerOff(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	deployExamples(t, ns)
	url := "http://" + lbIP(t, ns, "echo-lb") + "/"
	eventually(t, 30*time.Second, "LB answers", func() error { _, err := get(url); return err })
	t.Cleanup(func() {
		out, err := ctl("lab", "node", "start", "node2")
		if err != nil {
			t.Logf("node start node2: %v: %s", err, out)
		}
		eventually(t, 60*time.Second, "node2 Ready again", func() error { return nodeIsReady("node2", true) })
	})
	out, err := ctl("lab", "node", "stop", "node2")
	if err != nil {
		t.Fatalf("node stop: %v: %s", err, out)
	}
	stopped := time.Now()
	t.Logf("node stop: %s", strings.TrimSpace(out))
	// Powered off: no container process of node2 runs on, in the cgroups
	// runc put them in (v1 or v2 alike).
	cg, err := cgroup.Detect(cgroup.Root)
	if err != nil {
		t.Fatal(err)
	}
	if pids := cg.Pids("minik8s/node2"); len(pids) > 0 {
		t.Errorf("got processes %v in cgroup minik8s/node2 after node stop, want none", pids)
	}
	// LB failover: the IP answers again within a few leases.
	eventually(t, 45*time.Second, "LB answers after node2 is off", func() error {
		for i := 0; i < 5; i++ {
			if _, err := get(url); err != nil {
				return err
			}
		}
		return nil
	})
	t.Logf("LB answered 5 times in a row %s after power-off", time.Since(stopped).Round(time.Second))
	eventually(t, 60*time.Second, "node2 NotReady", func() error { return nodeIsReady("node2", false) })
	// 20 s grace + 30 s toleration, then the ReplicaSet replaces the pods.
	eventually(t, 150*time.Second, "3 ready echo pods off node2", func() error {
		pods, err := readyPods(ns, "app=echo")
		if err != nil {
			return err
		}
		n := 0
		for _, p := range pods {
			if p.Spec.NodeName != "node2" {
				n++
			}
		}
		if n < 3 {
			return fmt.Errorf("%d ready pods on live nodes", n)
		}
		return nil
	})
	t.Logf("pods rescheduled %s after power-off", time.Since(stopped).Round(time.Second))
	_ = ctx
}

func nodeIsReady(name string, want bool) error {
	n, err := cs.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if (c.Status == corev1.ConditionTrue) == want {
				return nil
			}
			return fmt.Errorf("Ready=%s", c.Status)
		}
	}
	return fmt.Errorf("no Ready condition")
}

// TestControlPlaneRestart kills the scheduler and the apiserver: the
// supervisor restarts them and the cluster schedules pods again.
func TestControlPlaneRestart(t *testing.T) {
	ns := namespace(t)
	home, _ := os.UserHomeDir()
	for _, comp := range []string{"scheduler", "apiserver", "controller-manager"} {
		pidFile := filepath.Join(home, ".minik8s", "lab", "run", comp+".pid")
		old := readPid(t, pidFile)
		if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
			t.Fatalf("killing %s (pid %d): %v", comp, old, err)
		}
		eventually(t, 30*time.Second, comp+" restarted by the supervisor", func() error {
			b, err := os.ReadFile(pidFile)
			if err != nil {
				return err
			}
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			if pid == old || pid == 0 || syscall.Kill(pid, 0) != nil {
				return fmt.Errorf("pid %d", pid)
			}
			return nil
		})
	}
	eventually(t, 30*time.Second, "apiserver answers", func() error {
		return cs.Discovery().RESTClient().Get().AbsPath("/healthz").Do(context.Background()).Error()
	})
	pod := toolboxPod("after-restart", "", "echo scheduled", corev1.RestartPolicyNever)
	eventually(t, 20*time.Second, "create a pod", func() error {
		_, err := cs.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{})
		return err
	})
	waitPodPhase(t, ns, "after-restart", corev1.PodSucceeded, 60*time.Second)
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// TestTwoContainersShareLocalhost: a sidecar reaches the main container on
// 127.0.0.1.
func TestTwoContainersShareLocalhost(t *testing.T) {
	ns := namespace(t)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "pair"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr(int64(1)),
			Containers: []corev1.Container{
				{Name: "echo", Image: "minik8s/echo:latest"},
				{Name: "sidecar", Image: "minik8s/toolbox:latest", Command: []string{"sh", "-c",
					"while true; do wget -T 3 -q -O - http://127.0.0.1:8080/ | head -1; sleep 1; done"}},
			},
		},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodPhase(t, ns, "pair", corev1.PodRunning, 60*time.Second)
	eventually(t, 30*time.Second, "sidecar sees the echo server on localhost", func() error {
		logs, err := podLogs(ns, "pair", "sidecar")
		if err != nil {
			return err
		}
		if !strings.Contains(logs, "pair") {
			return fmt.Errorf("sidecar log %q", logs)
		}
		return nil
	})
}

// TestCrashLoop: a container that exits 1 is restarted with back-off and
// its restart count grows.
func TestCrashLoop(t *testing.T) {
	ns := namespace(t)
	pod := toolboxPod("crash", "", "echo crashing; exit 1", corev1.RestartPolicyAlways)
	if _, err := cs.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, "restart count ≥ 2", func() error {
		p, err := cs.CoreV1().Pods(ns).Get(context.Background(), "crash", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].RestartCount < 2 {
			return fmt.Errorf("statuses %+v", p.Status.ContainerStatuses)
		}
		return nil
	})
	p, _ := cs.CoreV1().Pods(ns).Get(context.Background(), "crash", metav1.GetOptions{})
	if w := p.Status.ContainerStatuses[0].State.Waiting; w != nil && w.Reason != "CrashLoopBackOff" {
		t.Errorf("waiting reason %q, want CrashLoopBackOff", w.Reason)
	}
}

// TestExecAndLogs runs a command in a container through the API and reads
// the container's log.
func TestExecAndLogs(t *testing.T) {
	ns := namespace(t)
	pod := toolboxPod("shell", "", "echo started; sleep 3600", corev1.RestartPolicyNever)
	if _, err := cs.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodPhase(t, ns, "shell", corev1.PodRunning, 60*time.Second)
	eventually(t, 20*time.Second, "log has 'started'", func() error {
		logs, err := podLogs(ns, "shell", "toolbox")
		if err != nil || !strings.Contains(logs, "started") {
			return fmt.Errorf("%q, %v", logs, err)
		}
		return nil
	})
	req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name("shell").SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: "toolbox", Command: []string{"sh", "-c", "echo from-exec; hostname"}, Stdout: true, Stderr: true}, parameterCodec)
	spdy, err := remotecommand.NewSPDYExecutor(cfg, "POST", req.URL())
	if err != nil {
		t.Fatal(err)
	}
	ws, err := remotecommand.NewWebSocketExecutor(cfg, "GET", req.URL().String())
	if err != nil {
		t.Fatal(err)
	}
	exec, err := remotecommand.NewFallbackExecutor(ws, spdy, func(error) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &errOut}); err != nil {
		t.Fatalf("exec: %v (stderr %q)", err, errOut.String())
	}
	if !strings.Contains(out.String(), "from-exec") || !strings.Contains(out.String(), "shell") {
		t.Errorf("exec output %q, want from-exec and the pod's hostname", out.String())
	}
}

// TestCrossNodePodToPod: a pod on node3 reaches a pod on node1 by its IP.
func TestCrossNodePodToPod(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	server := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "server"},
		Spec: corev1.PodSpec{NodeName: "node1", TerminationGracePeriodSeconds: ptr(int64(1)),
			Containers: []corev1.Container{{Name: "echo", Image: "minik8s/echo:latest"}}},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, server, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := waitPodPhase(t, ns, "server", corev1.PodRunning, 60*time.Second)
	if p.Status.PodIP == "" || !strings.HasPrefix(p.Status.PodIP, "10.244.1.") {
		t.Fatalf("server pod IP %q, want one in 10.244.1.0/24", p.Status.PodIP)
	}
	client := toolboxPod("client", "node3", "for i in 1 2 3 4 5 6 7 8 9 10; do wget -T 3 -q -O - http://"+p.Status.PodIP+":8080/ && exit 0; sleep 1; done; exit 1", corev1.RestartPolicyNever)
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, client, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodPhase(t, ns, "client", corev1.PodSucceeded, 60*time.Second)
	logs, err := podLogs(ns, "client", "toolbox")
	if err != nil || firstLine(logs) != "server" {
		t.Errorf("client on node3: got %q, %v; want the answer of pod server", logs, err)
	}
}

// TestNodePort reaches a NodePort Service from the machine via a node's
// address.
func TestNodePort(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	deployExamples(t, ns)
	svc := exampleService(t, "echo-service.yaml")
	svc.Name = "echo-np"
	svc.Spec.Type = corev1.ServiceTypeNodePort
	svc.Spec.Ports[0].TargetPort = intstr.FromInt32(8080)
	created, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	port := created.Spec.Ports[0].NodePort
	if port < 30000 || port > 32767 {
		t.Fatalf("nodePort %d outside 30000-32767", port)
	}
	for _, ip := range []string{"10.200.0.11", "10.200.0.13"} {
		eventually(t, 20*time.Second, "NodePort via "+ip, func() error {
			_, err := get(fmt.Sprintf("http://%s:%d/", ip, port))
			return err
		})
	}
}

// TestDeleteServiceStopsTraffic: once a Service is gone its ClusterIP no
// longer answers.
func TestDeleteServiceStopsTraffic(t *testing.T) {
	ns := namespace(t)
	ip := deployExamples(t, ns)
	url := "http://" + ip + "/"
	eventually(t, 20*time.Second, "ClusterIP answers", func() error { _, err := wgetFromNode("node1", url); return err })
	if err := cs.CoreV1().Services(ns).Delete(context.Background(), "echo", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "ClusterIP stops answering", func() error {
		if out, err := wgetFromNode("node1", url); err == nil {
			return fmt.Errorf("still answers: %s", firstLine(out))
		}
		return nil
	})
}
