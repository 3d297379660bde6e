package kubelet

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The tests below are the runtime's behaviour on a real containerd when
// containerd, the shims or the agent go away at the wrong moment (what
// the lab's chaos test found).

// containerdEnv is a real containerd of the test's own, with the busybox
// image unpacked.
type containerdEnv struct {
	dir   string
	cd    *containerd.Client
	ctx   context.Context
	image containerd.Image
	proc  *os.Process
}

func newContainerdEnv(t *testing.T) *containerdEnv {
	skipUnlessReal(t)
	dir, err := os.MkdirTemp("", "klt-cd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = exec.Command("pkill", "-KILL", "-f", "containerd-shim-runc-v2 .*-address "+dir+"/").Run()
		unmountUnder(dir)
		_ = os.RemoveAll(dir)
	})
	e := &containerdEnv{dir: dir, ctx: namespaces.WithNamespace(context.Background(), "klt")}
	var sock string
	sock, e.proc = startContainerdProcess(t, dir)
	if e.cd, err = containerd.New(sock, containerd.WithDefaultNamespace("klt")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.cd.Close() })
	if _, err := e.cd.Import(e.ctx, bytes.NewReader(busyboxImage(t))); err != nil {
		t.Fatal(err)
	}
	if e.image, err = e.cd.GetImage(e.ctx, testImage); err != nil {
		t.Fatal(err)
	}
	if err := e.image.Unpack(e.ctx, snapshotter); err != nil {
		t.Fatal(err)
	}
	return e
}

// container creates a container running args, with a pod's labels.
func (e *containerdEnv) container(t *testing.T, id string, annotations map[string]string, args ...string) containerd.Container {
	c, err := e.cd.NewContainer(e.ctx, id, containerd.WithImage(e.image), containerd.WithSnapshotter(snapshotter),
		containerd.WithNewSnapshot(id, e.image), containerd.WithRuntime("io.containerd.runc.v2", nil),
		containerd.WithContainerLabels(map[string]string{labelPodUID: "uid-1", labelPodNS: "ns", labelPodName: "p", labelContainer: id, labelAttempt: "0"}),
		containerd.WithNewSpec(oci.WithImageConfig(e.image), oci.WithProcessArgs(args...), oci.WithAnnotations(annotations)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if task, err := c.Task(e.ctx, nil); err == nil {
			_, _ = task.Delete(e.ctx, containerd.WithProcessKill)
		}
		_ = c.Delete(e.ctx, containerd.WithSnapshotCleanup)
	})
	return c
}

// runtime is the agent's runtime on this containerd.
func (e *containerdEnv) runtime() *containerdRuntime {
	return &containerdRuntime{client: e.cd, ns: "klt", podsDir: e.dir + "/pods", fifoDir: e.dir + "/fifo"}
}

// restartContainerd kills containerd and starts it again after down.
func (e *containerdEnv) restartContainerd(t *testing.T, down time.Duration) {
	if err := e.proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(down)
	_, e.proc = startContainerdProcess(t, e.dir)
}

// TestNewTaskWhileGroupShimExits: a task created in a shim group while
// the group's last task is deleted (so its shim exits) is created all the
// same (newTask starts a new shim), where containerd alone fails now and
// then with "failed to start shim: … connect: no such file or directory"
// or "ttrpc: closed" (a pod of the lab failed so, StartError, when its
// first container ended as its second started).
func TestNewTaskWhileGroupShimExits(t *testing.T) {
	e := newContainerdEnv(t)
	group := map[string]string{shimGroupAnnotation: "klt-shim-test"}
	const rounds = 20
	for i := range rounds {
		// The group's only task, ended.
		first := e.container(t, fmt.Sprintf("first-%d", i), group, "true")
		task, err := first.NewTask(e.ctx, cio.NullIO)
		if err != nil {
			t.Fatalf("round %d: first task: %v", i, err)
		}
		exited, err := task.Wait(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := task.Start(e.ctx); err != nil {
			t.Fatal(err)
		}
		<-exited
		second := e.container(t, fmt.Sprintf("second-%d", i), group, "true")
		var wg sync.WaitGroup
		wg.Go(func() {
			_, _ = task.Delete(e.ctx) // the shim exits with its last task
		})
		next, err := newTask(e.ctx, second, cio.NullIO)
		wg.Wait()
		if err != nil {
			t.Fatalf("round %d: the second task, created as the group's shim exited: %v", i, err)
		}
		if _, err := next.Delete(e.ctx, containerd.WithProcessKill); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWaitSurvivesContainerdRestart: a container that exits while
// containerd is down (killed, then started again) has its exit reported
// by the Wait started before: the agent's worker learns of it as the
// kubelet's relist would, instead of showing the container running
// forever.
func TestWaitSurvivesContainerdRestart(t *testing.T) {
	e := newContainerdEnv(t)
	rt := e.runtime()
	c := e.container(t, "exits-while-down", nil, "sh", "-c", "sleep 1; exit 3")
	task, err := c.NewTask(e.ctx, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	ch, err := rt.Wait(context.Background(), c.ID())
	if err != nil {
		t.Fatal(err)
	}
	e.restartContainerd(t, 2*time.Second) // it exits meanwhile
	select {
	case exit := <-ch:
		if exit.Code != 3 {
			t.Errorf("exit code %d, want 3", exit.Code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no exit 20 s after containerd came back")
	}
}

// TestListContainersRemovesCutOffStarts: a container whose task was
// created and never started (the agent killed between the two) is
// removed when the agent lists what to adopt, so that its worker starts
// it again; the lab's chaos test found such a pod Running and never
// Ready, its task left CREATED and adopted as running.
func TestListContainersRemovesCutOffStarts(t *testing.T) {
	e := newContainerdEnv(t)
	rt := e.runtime()
	cut := e.container(t, "cut-off", nil, "sleep", "60")
	if _, err := cut.NewTask(e.ctx, cio.NullIO); err != nil {
		t.Fatal(err)
	}
	running := e.container(t, "running", nil, "sleep", "60")
	task, err := running.NewTask(e.ctx, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	list, err := rt.ListContainers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != "running" || !list[0].Running {
		t.Errorf("listed %+v, want only the running container", list)
	}
	if _, err := e.cd.LoadContainer(e.ctx, "cut-off"); err == nil {
		t.Error("the container whose start was cut off is still there")
	}
}

// TestSandboxSetUpAgainAfterCutOff: a pod's network set up by an agent
// killed before it wrote the sandbox's record is set up again at the
// first try (the cut-off set-up's address given back with CNI DEL),
// where host-local refused the second ADD as a duplicate allocation and
// the pod waited for the next try. The test binary runs again as a
// whole process in a network namespace of the test's own, as the lab's
// agents run in their node's: CNI runs its plugins from goroutines of
// its own, which a namespace entered by one thread would not hold.
func TestSandboxSetUpAgainAfterCutOff(t *testing.T) {
	skipUnlessReal(t)
	dir := os.Getenv("KLT_NETNS_CHILD")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "klt-net-"); err != nil {
			t.Fatal(err)
		}
		node := fmt.Sprintf("klt-net-%d", os.Getpid()%100000)
		if out, err := exec.Command("ip", "netns", "add", node).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add: %v %s", err, out)
		}
		t.Cleanup(func() {
			_ = exec.Command("ip", "netns", "del", node).Run()
			unmountUnder(dir)
			_ = os.RemoveAll(dir)
		})
		cmd := exec.Command("ip", "netns", "exec", node, os.Args[0], "-test.run", "^TestSandboxSetUpAgainAfterCutOff$", "-test.v")
		cmd.Env = append(os.Environ(), "KLT_NETNS_CHILD="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestSandboxSetUpAgainAfterCutOff") {
			t.Fatalf("in namespace %s: %v\n%s", node, err, out)
		}
		t.Logf("in namespace %s:\n%s", node, out)
		return
	}
	if root, err := inRootNetns(); err != nil || root {
		t.Fatalf("not in a network namespace of the test's own (%v): refusing to set up CNI here", err)
	}
	ctx := context.Background()
	cfg := &Config{NodeName: "n1", NetnsDir: dir + "/netns", StateDir: dir + "/state", CNIBinDir: "/usr/lib/cni"}
	n := newNetwork(cfg, dir+"/pods")
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "uid-cut"}}
	if err := n.init(ctx, "10.244.9.0/24", false); err != nil {
		t.Fatal(err)
	}
	first, err := n.setup(ctx, pod)
	if err != nil {
		t.Fatalf("first set-up: %v", err)
	}
	// The agent killed before the record was written.
	if err := os.Remove(n.recordPath(pod.UID)); err != nil {
		t.Fatal(err)
	}
	again, err := n.setup(ctx, pod)
	if err != nil {
		t.Fatalf("set-up after the cut-off one: %v", err)
	}
	t.Logf("first %s, again %s", first.IP, again.IP)
	if err := n.teardown(ctx, pod.UID); err != nil {
		t.Fatal(err)
	}
}

// TestExecHookOutput: an exec hook's command may print (the conformance
// postStart hook runs curl, which writes what it fetched): its output is
// kept for the failure message, and printing does not fail it, where a
// hook run with no writers had /dev/null opened for reading as its stdout.
func TestExecHookOutput(t *testing.T) {
	e := newContainerdEnv(t)
	c := e.container(t, "hooked", nil, "sleep", "60")
	task, err := c.NewTask(e.ctx, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	w := &podWorker{deps: &workerDeps{rt: e.runtime()}}
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}}
	ctr := &v1.Container{Name: "hooked"}
	hook := func(script string) (string, error) {
		return w.runHook(context.Background(), pod, ctr, c.ID(), &v1.LifecycleHandler{Exec: &v1.ExecAction{Command: []string{"sh", "-c", script}}})
	}
	if msg, err := hook("echo fetched; echo progress >&2"); err != nil {
		t.Errorf("a hook that prints failed: %v (%s)", err, msg)
	}
	msg, err := hook("echo out; echo err >&2; exit 7")
	if err == nil {
		t.Fatal("a hook exiting 7 succeeded")
	}
	for _, want := range []string{"exited with 7", `message: "`, "out\\n", "err\\n"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	// More than the kept 10 KiB: kept up to the limit, and the command
	// is not held up writing the rest.
	msg, err = hook("head -c 200000 /dev/zero | tr '\\0' x; exit 1")
	kept := strings.Count(msg[strings.Index(msg, `message: "`):], "x")
	if err == nil || kept != maxExecOutput {
		t.Errorf("a hook printing 200,000 bytes: err %v, %d bytes kept, want %d", err, kept, maxExecOutput)
	}
}
