package upstream

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"minik8s/pkg/apiserver/apiservertest"
	"minik8s/pkg/netns"
	"minik8s/pkg/pki"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// build compiles an upstream command of this module's k8s.io/kubernetes
// into dir.
func build(t *testing.T, dir, pkg string) string {
	t.Helper()
	out := filepath.Join(dir, filepath.Base(pkg))
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	t.Logf("built %s in %s", filepath.Base(pkg), time.Since(start).Round(time.Second))
	return out
}

// logBuffer is a component's output, safe to read while it runs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	// exited is closed when the component's process has ended.
	exited chan struct{}
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// run starts bin with args until the test ends; its log is returned.
func run(t *testing.T, bin string, args ...string) *logBuffer {
	t.Helper()
	return runIn(t, "", bin, args...)
}

// runIn is run in the network namespace bound at nsPath ("" for the
// test's own).
func runIn(t *testing.T, nsPath, bin string, args ...string) *logBuffer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &logBuffer{exited: make(chan struct{})}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = logs, logs
	start := cmd.Start
	if nsPath != "" {
		start = func() error { return netns.Start(nsPath, cmd) }
	}
	if err := start(); err != nil {
		cancel()
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() {
		_ = cmd.Wait()
		close(logs.exited)
	}()
	t.Cleanup(func() {
		cancel()
		<-logs.exited
		if t.Failed() {
			t.Logf("%s log:\n%s", filepath.Base(bin), tail(logs.String(), 60))
		}
	})
	return logs
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var (
	// Every informer set kube-controller-manager waits for logs the pair.
	waiting = regexp.MustCompile(`"Waiting for caches to sync"`)
	synced  = regexp.MustCompile(`"Caches are synced"`)
	// kube-scheduler campaigns for its lease only once its informers and
	// event handlers have synced.
	schedulerLeads  = regexp.MustCompile(`"Successfully acquired lease" lock="kube-system/kube-scheduler"`)
	handlersUnsync  = regexp.MustCompile(`handlers are not fully synchronized`)
	controllersLead = regexp.MustCompile(`"Successfully acquired lease" lock="kube-system/kube-controller-manager"`)
	// A list the server cannot answer: that informer never syncs.
	notServed = regexp.MustCompile(`failed to list [^:]+: the server could not find the requested resource \(([^)]+)\)`)
)

// schedulerSynced tells whether kube-scheduler's informers synced, and
// what is missing.
func schedulerSynced(log string) (bool, []string) {
	missing := notServedIn(log)
	if handlersUnsync.MatchString(log) {
		missing = append(missing, "event handlers not synced")
	}
	return len(missing) == 0 && schedulerLeads.MatchString(log), missing
}

// controllersSynced tells whether every informer set kube-controller-manager
// waited for synced, and what is missing.
func controllersSynced(log string) (bool, []string) {
	missing := notServedIn(log)
	w, s := len(waiting.FindAllString(log, -1)), len(synced.FindAllString(log, -1))
	if w != s {
		missing = append(missing, fmt.Sprintf("%d of %d informer sets synced", s, w))
	}
	return len(missing) == 0 && w > 0 && controllersLead.MatchString(log), missing
}

func notServedIn(log string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range notServed.FindAllStringSubmatch(log, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, "not served: "+m[1])
		}
	}
	return out
}

func waitSynced(t *testing.T, name string, logs *logBuffer, check func(string) (bool, []string)) {
	t.Helper()
	var missing []string
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 90*time.Second, true, func(context.Context) (bool, error) {
		var ok bool
		ok, missing = check(logs.String())
		select {
		case <-logs.exited:
			return ok, fmt.Errorf("%s exited", name)
		default:
		}
		return ok, nil
	})
	if err != nil {
		select {
		case <-logs.exited:
			t.Fatalf("%s exited before its informers synced: %v", name, missing)
		default:
		}
		t.Fatalf("%s: informers not synced after 90 s: %v", name, missing)
	}
	t.Logf("%s: informers synced", name)
}

// writeKubeconfig writes a kubeconfig for id with a client certificate
// of the test cluster's CA, as kubeadm writes scheduler.conf and
// controller-manager.conf.
func writeKubeconfig(t *testing.T, s *apiservertest.Server, dir string, id pki.Identity) string {
	t.Helper()
	return writeKubeconfigFor(t, s, dir, id, s.URL)
}

// writeKubeconfigFor is writeKubeconfig reaching the server at url.
func writeKubeconfigFor(t *testing.T, s *apiservertest.Server, dir string, id pki.Identity, url string) string {
	t.Helper()
	ca, err := pki.LoadCA(s.Cfg.CertDir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, strings.ReplaceAll(id.User, ":", "-")+".kubeconfig")
	if err := ca.WriteKubeconfig(path, "minik8s", url, id); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestUpstreamComponents runs Kubernetes' kube-scheduler (default
// configuration, leader election on) and kube-controller-manager (all
// default controllers) against a minik8s apiserver: every informer they
// start syncs, the scheduler binds a pod, and the node lifecycle
// controller taints a node whose Lease stops.
func TestUpstreamComponents(t *testing.T) {
	if testing.Short() {
		t.Skip("builds kube-scheduler and kube-controller-manager: skipped with -short")
	}
	dir := t.TempDir()
	scheduler := build(t, dir, "k8s.io/kubernetes/cmd/kube-scheduler")
	kcm := build(t, dir, "k8s.io/kubernetes/cmd/kube-controller-manager")

	s := apiservertest.Start(t)
	cs, err := kubernetes.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	schedLog := run(t, scheduler, "--kubeconfig", writeKubeconfig(t, s, dir, pki.Scheduler), "--secure-port=0", "--leader-elect=true", "-v=2")
	// As kubeadm runs it: each controller as its ServiceAccount, whose
	// system:controller:* role RBAC grants.
	kcmLog := run(t, kcm, "--kubeconfig", writeKubeconfig(t, s, dir, pki.ControllerManager), "--secure-port=0", "--leader-elect=true", "-v=2",
		"--use-service-account-credentials",
		"--node-monitor-period=1s", "--node-monitor-grace-period=8s")
	waitSynced(t, "kube-scheduler", schedLog, schedulerSynced)
	waitSynced(t, "kube-controller-manager", kcmLog, controllersSynced)

	// A Ready node that heartbeats through its Lease.
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{corev1.LabelHostname: "n1"}},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
			Capacity:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")},
		},
	}
	node.Status.Allocatable = node.Status.Capacity
	if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating node: %v", err)
	}
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", Namespace: corev1.NamespaceNodeLease},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To("n1"), LeaseDurationSeconds: ptr.To(int32(8)), RenewTime: &metav1.MicroTime{Time: time.Now()}},
	}
	if _, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, lease, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating lease: %v", err)
	}

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "minik8s/echo"}}},
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating pod: %v", err)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{})
		return err == nil && p.Spec.NodeName == "n1", nil
	})
	if err != nil {
		t.Fatalf("kube-scheduler did not bind the pod to n1 in 30 s")
	}

	// The Lease is never renewed: past the grace period the node lifecycle
	// controller marks the node Unknown and taints it unreachable
	// (NoSchedule; with its only node down the zone is fully disrupted, so
	// the controller holds back the NoExecute taint, as upstream does).
	var got []corev1.Taint
	var ready corev1.ConditionStatus
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		got = n.Spec.Taints
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				ready = c.Status
			}
		}
		for _, taint := range n.Spec.Taints {
			if taint.Key == corev1.TaintNodeUnreachable && taint.Effect == corev1.TaintEffectNoSchedule {
				return ready == corev1.ConditionUnknown, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("node n1 not Ready=Unknown and tainted %s:NoSchedule within 60 s of its Lease stopping; Ready=%s, taints %v", corev1.TaintNodeUnreachable, ready, got)
	}
}
