//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"minik8s/pkg/netns"
	"minik8s/pkg/restconfig"
)

var (
	binDir string
	cs     kubernetes.Interface
	cfg    *rest.Config
)

func ctl(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(binDir, "ctl"), args...)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	return b.String(), err
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Println("e2e: needs root (network namespaces, nftables, containerd)")
		return 1
	}
	var err error
	binDir, err = filepath.Abs("../bin")
	if d := os.Getenv("MINIK8S_BIN"); d != "" {
		binDir = d // binaries built elsewhere
	}
	if err == nil {
		_, err = os.Stat(filepath.Join(binDir, "ctl"))
	}
	if err != nil {
		fmt.Printf("e2e: no ../bin/ctl (%v): build with `CGO_ENABLED=0 go build -o bin/ ./cmd/...`\n", err)
		return 1
	}
	out, _ := ctl("lab", "down")
	fmt.Print(out)
	// Always down at the end, whatever failed.
	defer func() {
		out, err := ctl("lab", "down")
		fmt.Print(out)
		if err != nil {
			fmt.Printf("e2e: lab down: %v\n", err)
		}
	}()
	start := time.Now()
	out, err = ctl("lab", "up", "--nodes", "3")
	fmt.Print(out)
	if err != nil {
		fmt.Printf("e2e: lab up: %v\n", err)
		for _, c := range []string{"apiserver", "kubelet-node1"} {
			l, _ := ctl("lab", "logs", c)
			fmt.Printf("--- %s log (tail)\n%s\n", c, tailLines(l, 30))
		}
		return 1
	}
	fmt.Printf("e2e: lab up in %s\n", time.Since(start).Round(time.Millisecond))
	// The lab's admin kubeconfig: TLS and a client certificate.
	if cfg, err = clientcmd.BuildConfigFromFlags("", restconfig.LabKubeconfig()); err != nil {
		fmt.Println(err)
		return 1
	}
	cfg.QPS, cfg.Burst = 100, 200
	cs, err = kubernetes.NewForConfig(cfg)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	code := m.Run()
	if code != 0 {
		st, _ := ctl("lab", "status")
		fmt.Print(st)
	}
	return code
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// namespace makes a namespace for one test, deleted when it ends.
func namespace(t *testing.T) string {
	t.Helper()
	name := "e2e-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	if len(name) > 60 {
		name = name[:60]
	}
	ctx := context.Background()
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		cs.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	// Pods need the namespace's "default" ServiceAccount, which the
	// controller-manager makes: wait for it, as Kubernetes' e2e
	// framework does.
	eventually(t, 30*time.Second, "the default ServiceAccount of "+name, func() error {
		_, err := cs.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err
	})
	return name
}

// eventually polls fn every interval until it returns nil or timeout.
func eventually(t *testing.T, timeout time.Duration, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = fn(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not done after %s: %v", what, timeout, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// readExample decodes one of deploy/examples into obj.
func readExample(t *testing.T, file string, obj any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "deploy", "examples", file))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, obj); err != nil {
		t.Fatalf("decoding %s: %v", file, err)
	}
}

func exampleDeployment(t *testing.T) *appsv1.Deployment {
	var d appsv1.Deployment
	readExample(t, "echo-deployment.yaml", &d)
	return &d
}

func exampleService(t *testing.T, file string) *corev1.Service {
	var s corev1.Service
	readExample(t, file, &s)
	return &s
}

// waitDeployment waits until the Deployment has `want` updated, ready
// replicas and no others.
func waitDeployment(t *testing.T, ns, name string, want int32, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("deployment %s/%s with %d ready replicas", ns, name, want), func() error {
		d, err := cs.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		s := d.Status
		if s.ObservedGeneration < d.Generation || s.ReadyReplicas != want || s.UpdatedReplicas != want || s.Replicas != want || s.AvailableReplicas != want {
			return fmt.Errorf("status %+v", s)
		}
		return nil
	})
}

// runningPods lists the ready pods matching a selector.
func readyPods(ns, selector string) ([]corev1.Pod, error) {
	list, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// inNode runs a command inside a node's network namespace.
func inNode(node string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := netns.Start("/run/netns/mk8s-"+node, cmd)
	if err == nil {
		err = cmd.Wait()
	}
	return out.String(), err
}

// wgetFromNode fetches a URL from inside a node with the host's busybox
// (busybox-static: its wget crashes on -T, hence timeout).
func wgetFromNode(node, url string) (string, error) {
	return inNode(node, "timeout", "5", "busybox", "wget", "-q", "-O", "-", url)
}

// httpClient makes a new connection per request, so each one goes through
// the Service's load balancing.
var httpClient = &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func get(url string) (string, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("%s: %s", url, resp.Status)
	}
	return string(b), nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(l)
}

// lbIP waits for a LoadBalancer Service's ingress IP.
func lbIP(t *testing.T, ns, name string) string {
	t.Helper()
	var ip string
	eventually(t, 30*time.Second, "LoadBalancer IP of "+name, func() error {
		s, err := cs.CoreV1().Services(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(s.Status.LoadBalancer.Ingress) == 0 || s.Status.LoadBalancer.Ingress[0].IP == "" {
			return fmt.Errorf("no ingress yet")
		}
		ip = s.Status.LoadBalancer.Ingress[0].IP
		return nil
	})
	return ip
}

// toolboxPod is a pod running sh -c script with the toolbox image.
func toolboxPod(name, node, script string, restart corev1.RestartPolicy) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			RestartPolicy:                 restart,
			TerminationGracePeriodSeconds: ptr(int64(1)),
			Containers: []corev1.Container{{
				Name: "toolbox", Image: "minik8s/toolbox:latest",
				Command: []string{"sh", "-c", script},
			}},
		},
	}
}

func ptr[T any](v T) *T { return &v }

// podLogs reads a container's log through the API.
func podLogs(ns, pod, container string) (string, error) {
	b, err := cs.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: container}).DoRaw(context.Background())
	return string(b), err
}

// waitPodPhase waits for a pod to reach a phase.
func waitPodPhase(t *testing.T, ns, name string, phase corev1.PodPhase, timeout time.Duration) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	eventually(t, timeout, fmt.Sprintf("pod %s/%s %s", ns, name, phase), func() error {
		p, err := cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase != phase {
			if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				// A terminal phase does not change: say why at once.
				t.Fatalf("pod %s/%s: phase %s, want %s; %s", ns, name, p.Status.Phase, phase, containerStates(p))
			}
			return fmt.Errorf("phase %s; %s", p.Status.Phase, containerStates(p))
		}
		pod = p
		return nil
	})
	return pod
}

// containerStates tells each container's state in one line, for failures.
func containerStates(p *corev1.Pod) string {
	var b strings.Builder
	for _, st := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		fmt.Fprintf(&b, "container %s (restarts %d):", st.Name, st.RestartCount)
		switch s := st.State; {
		case s.Waiting != nil:
			fmt.Fprintf(&b, " waiting %s %q", s.Waiting.Reason, s.Waiting.Message)
		case s.Running != nil:
			fmt.Fprintf(&b, " running, ready %t", st.Ready)
		case s.Terminated != nil:
			fmt.Fprintf(&b, " terminated %s exit %d %q", s.Terminated.Reason, s.Terminated.ExitCode, s.Terminated.Message)
		}
		b.WriteString("; ")
	}
	if p.Status.Message != "" {
		fmt.Fprintf(&b, "pod message %q", p.Status.Message)
	}
	return strings.TrimSuffix(b.String(), "; ")
}
