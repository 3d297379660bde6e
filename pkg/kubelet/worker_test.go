package kubelet

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/tools/reference"

	"minik8s/pkg/nodeclient"
)

// fakeRuntime runs "containers" in memory; exitCode decides how each start
// ends (nil: keeps running).
type fakeRuntime struct {
	mu       sync.Mutex
	calls    []string
	waits    map[string]chan ExitInfo
	exitCode map[string]*int // by container name
	execCode int
	pullErr  error
	started  map[string]startedContainer // by id
	startErr map[string]error            // by container name
	logDir   string                      // where LogPath puts logs ("": none)
}

// startedContainer is what a start was given.
type startedContainer struct {
	c    *v1.Container
	opts ContainerOptions
}

func (f *fakeRuntime) startedWith(id string) (startedContainer, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.started[id]
	return s, ok
}

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{waits: map[string]chan ExitInfo{}, exitCode: map[string]*int{}}
}

func (f *fakeRuntime) record(s string) {
	f.mu.Lock()
	f.calls = append(f.calls, s)
	f.mu.Unlock()
}

func (f *fakeRuntime) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeRuntime) SetupSandbox(ctx context.Context, pod *v1.Pod) (Sandbox, error) {
	f.record("sandbox")
	return Sandbox{NetNS: "/fake", IP: "10.244.1.5"}, nil
}
func (f *fakeRuntime) TeardownSandbox(ctx context.Context, uid types.UID) error {
	f.record("teardown")
	return nil
}
func (f *fakeRuntime) RemovePodFiles(ctx context.Context, uid types.UID) error { return nil }
func (f *fakeRuntime) ImagePresent(ctx context.Context, ref string) (string, bool, error) {
	return "", false, nil
}
func (f *fakeRuntime) PullImage(ctx context.Context, ref string) (string, error) {
	f.record("pull " + ref)
	if f.pullErr != nil {
		return "", f.pullErr
	}
	return ref + "@sha256:1", nil
}
func (f *fakeRuntime) StartContainer(ctx context.Context, pod *v1.Pod, sb Sandbox, c *v1.Container, init bool, attempt int, opts ContainerOptions) (ContainerInfo, error) {
	id := fmt.Sprintf("%s-%d", c.Name, attempt)
	f.record("start " + id)
	ch := make(chan ExitInfo, 1)
	f.mu.Lock()
	if f.started == nil {
		f.started = map[string]startedContainer{}
	}
	f.started[id] = startedContainer{c: c, opts: opts}
	if err := f.startErr[c.Name]; err != nil {
		f.mu.Unlock()
		return ContainerInfo{ID: id}, err // as containerd's: the container may be left
	}
	f.waits[id] = ch
	code := f.exitCode[c.Name]
	f.mu.Unlock()
	if code != nil {
		ch <- ExitInfo{Code: *code, Finished: time.Now()}
	}
	return ContainerInfo{ID: id, Name: c.Name, Attempt: attempt, Running: true, Started: time.Now()}, nil
}
func (f *fakeRuntime) Wait(ctx context.Context, id string) (<-chan ExitInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.waits[id], nil
}
func (f *fakeRuntime) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	f.record("stop " + id)
	f.mu.Lock()
	ch := f.waits[id]
	f.mu.Unlock()
	if ch != nil {
		select {
		case ch <- ExitInfo{Code: 137, Finished: time.Now()}:
		default:
		}
	}
	return nil
}
func (f *fakeRuntime) RemoveContainer(ctx context.Context, id string) error {
	f.record("remove " + id)
	return nil
}
func (f *fakeRuntime) ListContainers(ctx context.Context) ([]ContainerInfo, error) { return nil, nil }
func (f *fakeRuntime) Exec(ctx context.Context, id string, opts ExecOptions) (int, error) {
	f.record("exec " + id)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.execCode, nil
}

func (f *fakeRuntime) Attach(ctx context.Context, id string, opts ExecOptions) error {
	return errNoStdin
}

func (f *fakeRuntime) setExecCode(code int) {
	f.mu.Lock()
	f.execCode = code
	f.mu.Unlock()
}

// exit ends the running container id with code.
func (f *fakeRuntime) exit(id string, code int) {
	f.mu.Lock()
	ch := f.waits[id]
	f.mu.Unlock()
	ch <- ExitInfo{Code: code, Finished: time.Now()}
}
func (f *fakeRuntime) LogPath(uid types.UID, container string, attempt int) string {
	if f.logDir == "" {
		return ""
	}
	return filepath.Join(f.logDir, container, strconv.Itoa(attempt)+".log")
}

func testPod(policy v1.RestartPolicy) *v1.Pod {
	grace := int64(1)
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-1", ResourceVersion: "1"},
		Spec: v1.PodSpec{NodeName: "n1", RestartPolicy: policy, TerminationGracePeriodSeconds: &grace,
			Containers: []v1.Container{{Name: "c", Image: "img:1"}}},
	}
}

func startWorker(t *testing.T, pod *v1.Pod, rt Runtime) (*podWorker, *fake.Clientset, context.CancelFunc) {
	t.Helper()
	client := fake.NewSimpleClientset(pod)
	w, cancel := runWorker(t, client, pod, rt, 20*time.Millisecond)
	return w, client, cancel
}

// runWorker runs a worker for pod against client, resyncing every resync,
// until the test ends (or cancel).
func runWorker(t *testing.T, client *fake.Clientset, pod *v1.Pod, rt Runtime, resync time.Duration) (*podWorker, context.CancelFunc) {
	t.Helper()
	return runWorkerWith(t, client, pod, rt, resync, nil)
}

// runWorkerWith is runWorker with the worker's dependencies changed by
// change (nil: none).
func runWorkerWith(t *testing.T, client *fake.Clientset, pod *v1.Pod, rt Runtime, resync time.Duration, change func(*workerDeps)) (*podWorker, context.CancelFunc) {
	t.Helper()
	rec := record.NewFakeRecorder(1000)
	objects := fakeObjects(client)
	deps := &workerDeps{pods: func(ns string) podAPI { return client.CoreV1().Pods(ns) }, recorder: rec, rt: rt, nodeName: "n1", nodeIP: "10.200.0.11",
		maxBackoff: 40 * time.Millisecond, resync: resync,
		objects: objects, volumes: &volumeManager{podsDir: t.TempDir(), objects: objects, allocatable: testAllocatable}}
	if change != nil {
		change(deps)
	}
	w := newPodWorker(deps, pod, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go w.run(ctx)
	// The fake recorder blocks once its buffer is full; a worker that
	// restarts a container every few milliseconds fills it, and would then
	// never see the cancel. Nothing here reads the events.
	go func() {
		for {
			select {
			case <-rec.Events:
			case <-w.done:
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-w.done })
	return w, cancel
}

// testAllocatable is the test node's allocatable.
var testAllocatable = v1.ResourceList{v1.ResourceCPU: resource.MustParse("2"), v1.ResourceMemory: resource.MustParse("4Gi"), v1.ResourceEphemeralStorage: resource.MustParse("20Gi")}

// fakeObjects reads client's objects, uncached.
func fakeObjects(client *fake.Clientset) *apiObjects {
	return &apiObjects{
		configMaps: func(ns string) getter[*v1.ConfigMap] { return client.CoreV1().ConfigMaps(ns) },
		secrets:    func(ns string) getter[*v1.Secret] { return client.CoreV1().Secrets(ns) },
		claims:     func(ns string) getter[*v1.PersistentVolumeClaim] { return client.CoreV1().PersistentVolumeClaims(ns) },
		volumes:    func() getter[*v1.PersistentVolume] { return client.CoreV1().PersistentVolumes() },
	}
}

func lastStatus(client *fake.Clientset) *v1.PodStatus {
	var st *v1.PodStatus
	for _, a := range client.Actions() {
		if u, ok := a.(k8stesting.UpdateAction); ok && a.GetSubresource() == "status" {
			st = &u.GetObject().(*v1.Pod).Status
		}
	}
	return st
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestCrashLoopRestartCountAndLastState(t *testing.T) {
	rt := newFakeRuntime()
	one := 1
	rt.exitCode["c"] = &one
	_, client, _ := startWorker(t, testPod(v1.RestartPolicyAlways), rt)
	eventually(t, "3 restarts", func() bool {
		st := lastStatus(client)
		return st != nil && len(st.ContainerStatuses) == 1 && st.ContainerStatuses[0].RestartCount >= 3
	})
	st := lastStatus(client)
	cs := st.ContainerStatuses[0]
	if cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 1 {
		t.Errorf("lastState = %+v, want terminated with exit code 1", cs.LastTerminationState)
	}
	if st.Phase != v1.PodRunning {
		t.Errorf("phase = %s, want Running", st.Phase)
	}
	for _, a := range client.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() != "status" {
			t.Errorf("worker updated the whole pod: %v", a)
		}
	}
}

func TestNeverPodPhases(t *testing.T) {
	for _, tt := range []struct {
		name   string
		policy v1.RestartPolicy
		code   int
		want   v1.PodPhase
	}{
		{"never success", v1.RestartPolicyNever, 0, v1.PodSucceeded},
		{"never failure", v1.RestartPolicyNever, 2, v1.PodFailed},
		{"onfailure success", v1.RestartPolicyOnFailure, 0, v1.PodSucceeded},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rt := newFakeRuntime()
			code := tt.code
			rt.exitCode["c"] = &code
			_, client, _ := startWorker(t, testPod(tt.policy), rt)
			eventually(t, "phase "+string(tt.want), func() bool {
				st := lastStatus(client)
				return st != nil && st.Phase == tt.want
			})
			st := lastStatus(client)
			term := st.ContainerStatuses[0].State.Terminated
			if term == nil || term.ExitCode != int32(tt.code) {
				t.Fatalf("state = %+v, want terminated with %d", st.ContainerStatuses[0].State, tt.code)
			}
			if eventuallyCalls(rt, "teardown"); !contains(rt.Calls(), "teardown") {
				t.Errorf("sandbox of a finished pod not torn down: %v", rt.Calls())
			}
		})
	}
}

func eventuallyCalls(rt *fakeRuntime, call string) {
	for i := 0; i < 200 && !contains(rt.Calls(), call); i++ {
		time.Sleep(10 * time.Millisecond)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func index(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

func TestGracefulTerminationOrder(t *testing.T) {
	rt := newFakeRuntime()
	pod := testPod(v1.RestartPolicyAlways)
	w, client, _ := startWorker(t, pod, rt)
	eventually(t, "running", func() bool {
		st := lastStatus(client)
		return st != nil && st.Phase == v1.PodRunning
	})
	del := pod.DeepCopy()
	now := metav1.Now()
	g := int64(1)
	del.DeletionTimestamp, del.DeletionGracePeriodSeconds = &now, &g
	w.update(del)
	<-w.done
	calls := rt.Calls()
	stop, remove, teardown := index(calls, "stop c-0"), index(calls, "remove c-0"), index(calls, "teardown")
	if stop < 0 || remove < stop || teardown < remove {
		t.Fatalf("calls = %v, want stop, then remove, then teardown", calls)
	}
	var deleted bool
	for _, a := range client.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok && a.GetResource().Resource == "pods" {
			deleted = true
			if d.GetDeleteOptions().GracePeriodSeconds == nil || *d.GetDeleteOptions().GracePeriodSeconds != 0 {
				t.Errorf("final delete grace = %v, want 0", d.GetDeleteOptions().GracePeriodSeconds)
			}
			if d.GetDeleteOptions().Preconditions == nil || *d.GetDeleteOptions().Preconditions.UID != pod.UID {
				t.Errorf("final delete has no UID precondition")
			}
		}
	}
	if !deleted {
		t.Error("pod was not deleted after termination")
	}
	// Before the delete, the terminal status (a finalizer may hold the
	// object: its controller counts the pod from it).
	var wrote, deletedAt int
	for i, a := range client.Actions() {
		switch {
		case a.GetVerb() == "update" && a.GetSubresource() == "status":
			if st := a.(k8stesting.UpdateAction).GetObject().(*v1.Pod).Status; st.Phase == v1.PodFailed {
				if cs := st.ContainerStatuses; len(cs) != 1 || cs[0].State.Terminated == nil {
					t.Errorf("terminal status's containers = %+v, want one terminated", cs)
				}
				wrote = i
			}
		case a.GetVerb() == "delete":
			deletedAt = i
		}
	}
	if wrote == 0 || wrote > deletedAt {
		t.Errorf("status write Failed at action %d, delete at %d: want the terminal status first", wrote, deletedAt)
	}
}

func TestLivenessFailureRestarts(t *testing.T) {
	rt := newFakeRuntime()
	rt.execCode = 1
	pod := testPod(v1.RestartPolicyAlways)
	pod.Spec.Containers[0].LivenessProbe = &v1.Probe{
		ProbeHandler:     v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"false"}}},
		PeriodSeconds:    1,
		FailureThreshold: 1,
	}
	_, client, _ := startWorker(t, pod, rt)
	eventually(t, "a restart after the liveness failure", func() bool {
		st := lastStatus(client)
		return st != nil && len(st.ContainerStatuses) == 1 && st.ContainerStatuses[0].RestartCount >= 1
	})
	if !contains(rt.Calls(), "stop c-0") {
		t.Errorf("unhealthy container was not stopped: %v", rt.Calls())
	}
}

func TestImagePullFailure(t *testing.T) {
	rt := newFakeRuntime()
	rt.pullErr = fmt.Errorf("not found")
	_, client, _ := startWorker(t, testPod(v1.RestartPolicyAlways), rt)
	eventually(t, "ErrImagePull", func() bool {
		st := lastStatus(client)
		return st != nil && len(st.ContainerStatuses) == 1 && st.ContainerStatuses[0].State.Waiting != nil &&
			st.ContainerStatuses[0].State.Waiting.Reason == "ErrImagePull"
	})
	msg := lastStatus(client).ContainerStatuses[0].State.Waiting.Message
	if want := `Failed to pull image "img:1": not found`; msg != want {
		t.Errorf("message = %q, want %q", msg, want)
	}
}

func TestBackoff(t *testing.T) {
	for _, tt := range []struct {
		crashes int
		want    time.Duration
	}{{1, 0}, {2, 10 * time.Second}, {3, 20 * time.Second}, {4, 40 * time.Second}, {7, 5 * time.Minute}, {20, 5 * time.Minute}} {
		if got := crashBackoff(tt.crashes, 5*time.Minute); got != tt.want {
			t.Errorf("backoff(%d) = %s, want %s", tt.crashes, got, tt.want)
		}
	}
}

// statusWrites records the status writes a fake client receives and can
// hold them (gate) to see what the worker does meanwhile. The fake client
// runs reactors under its lock: while a write is held, the test reads only
// what the reactor recorded.
type statusWrites struct {
	mu      sync.Mutex
	all     []v1.PodStatus
	holding *v1.PodStatus // the write the gate holds
	gate    chan struct{}
	whole   int // updates of the whole pod
}

func (s *statusWrites) react(a k8stesting.Action) (bool, runtime.Object, error) {
	if a.GetSubresource() != "status" {
		s.mu.Lock()
		s.whole++
		s.mu.Unlock()
		return false, nil, nil
	}
	st := a.(k8stesting.UpdateAction).GetObject().(*v1.Pod).Status
	s.mu.Lock()
	gate := s.gate
	if gate != nil {
		s.holding = &st
	}
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	s.mu.Lock()
	s.all = append(s.all, st)
	s.holding = nil
	s.mu.Unlock()
	return false, nil, nil
}

func (s *statusWrites) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.all)
}

func (s *statusWrites) last() *v1.PodStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.all) == 0 {
		return nil
	}
	return &s.all[len(s.all)-1]
}

// startQuietWorker is startWorker with a resync of an hour: whatever the
// worker posts, it posts because something changed.
func startQuietWorker(t *testing.T, pod *v1.Pod, rt Runtime) (*podWorker, *statusWrites) {
	t.Helper()
	client := fake.NewSimpleClientset(pod)
	writes := &statusWrites{}
	client.PrependReactor("update", "pods", writes.react)
	w, _ := runWorker(t, client, pod, rt, time.Hour)
	// Runs before runWorker's stop (cleanups run last first): a write
	// held at the gate must go through for the worker to end.
	t.Cleanup(func() {
		writes.mu.Lock()
		if writes.gate != nil {
			close(writes.gate)
			writes.gate = nil
		}
		writes.mu.Unlock()
	})
	return w, writes
}

func TestStatusPostedOnChangeAndCoalesced(t *testing.T) {
	rt := newFakeRuntime()
	pod := testPod(v1.RestartPolicyNever)
	pod.Spec.Containers = nil
	for i := 0; i < 5; i++ {
		pod.Spec.Containers = append(pod.Spec.Containers, v1.Container{Name: fmt.Sprintf("c%d", i), Image: "img:1"})
	}
	w, writes := startQuietWorker(t, pod, rt)
	eventually(t, "all five running posted", func() bool {
		st := writes.last()
		return st != nil && st.Phase == v1.PodRunning && podStatusReady(st)
	})

	// Hold the next write, end every container at once, and see the
	// worker go on while the write waits: all the exits must land in one
	// more write, not one each.
	before := writes.count()
	gate := make(chan struct{})
	writes.mu.Lock()
	writes.gate = gate
	writes.mu.Unlock()
	for i := range pod.Spec.Containers {
		rt.exit(fmt.Sprintf("c%d-0", i), 0)
	}
	eventually(t, "the final status computed while a write is held", func() bool {
		writes.mu.Lock()
		held := writes.holding
		writes.mu.Unlock()
		w.statusMu.Lock()
		defer w.statusMu.Unlock()
		return (held != nil && held.Phase == v1.PodSucceeded) || (held != nil && w.wanted != nil && w.wanted.Phase == v1.PodSucceeded)
	})
	writes.mu.Lock()
	writes.gate = nil
	writes.mu.Unlock()
	close(gate)
	eventually(t, "Succeeded posted", func() bool {
		st := writes.last()
		return st != nil && st.Phase == v1.PodSucceeded
	})
	if n := writes.count() - before; n > 2 {
		t.Errorf("five exits cost %d status writes, want at most 2", n)
	}
	for _, cs := range writes.last().ContainerStatuses {
		if cs.State.Terminated == nil || cs.State.Terminated.Reason != "Completed" {
			t.Errorf("container %s: state %+v, want terminated Completed", cs.Name, cs.State)
		}
	}
	writes.mu.Lock()
	defer writes.mu.Unlock()
	if writes.whole > 0 {
		t.Errorf("the worker updated the whole pod %d times, want status only", writes.whole)
	}
}

func TestReadinessChangePostedPromptly(t *testing.T) {
	rt := newFakeRuntime()
	rt.setExecCode(1)
	pod := testPod(v1.RestartPolicyAlways)
	pod.Spec.Containers[0].ReadinessProbe = &v1.Probe{
		ProbeHandler:  v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"check"}}},
		PeriodSeconds: 1, FailureThreshold: 1,
	}
	_, writes := startQuietWorker(t, pod, rt)
	eventually(t, "running and not ready posted", func() bool {
		st := writes.last()
		return st != nil && st.Phase == v1.PodRunning && !podStatusReady(st)
	})
	// The kubelet's reason and message, which conformance tests match.
	want := fmt.Sprintf("containers with unready status: [%s]", pod.Spec.Containers[0].Name)
	for _, c := range writes.last().Conditions {
		if (c.Type == v1.PodReady || c.Type == v1.ContainersReady) && (c.Reason != "ContainersNotReady" || c.Message != want) {
			t.Errorf("%s condition: reason %q, message %q; want ContainersNotReady, %q", c.Type, c.Reason, c.Message, want)
		}
	}
	rt.setExecCode(0)
	eventually(t, "ready posted", func() bool {
		st := writes.last()
		return st != nil && podStatusReady(st)
	})
}

func podStatusReady(st *v1.PodStatus) bool {
	for _, c := range st.Conditions {
		if c.Type == v1.PodReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

// eventLog is an eventRecorder that keeps what each Event is about, as the
// agent's recorder resolves it.
type eventLog struct {
	mu     sync.Mutex
	events []string // "Kind name fieldPath reason: message"
}

func (l *eventLog) Event(obj runtime.Object, eventtype, reason, message string) {
	ref, err := reference.GetReference(nodeclient.Scheme, obj)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.events = append(l.events, fmt.Sprintf("no reference (%v) %s: %s", err, reason, message))
		return
	}
	l.events = append(l.events, fmt.Sprintf("%s %s %s %s: %s", ref.Kind, ref.Name, ref.FieldPath, reason, message))
}

func (l *eventLog) Eventf(obj runtime.Object, eventtype, reason, messageFmt string, args ...any) {
	l.Event(obj, eventtype, reason, fmt.Sprintf(messageFmt, args...))
}

func (l *eventLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

// Events about a container name it in involvedObject.fieldPath, as the
// kubelet's do, and keep upstream's messages.
func TestContainerEventsNameTheContainer(t *testing.T) {
	pod := testPod(v1.RestartPolicyAlways)
	pod.Spec.InitContainers = []v1.Container{{Name: "setup", Image: "img:1"}}
	rt := newFakeRuntime()
	zero := 0
	rt.exitCode["setup"] = &zero
	client := fake.NewSimpleClientset(pod)
	events := &eventLog{}
	deps := &workerDeps{pods: func(ns string) podAPI { return client.CoreV1().Pods(ns) }, recorder: events, rt: rt,
		nodeName: "n1", nodeIP: "10.200.0.11", maxBackoff: 40 * time.Millisecond, resync: 20 * time.Millisecond}
	w := newPodWorker(deps, pod, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go w.run(ctx)
	t.Cleanup(func() { cancel(); <-w.done })

	want := []string{
		`Pod p spec.initContainers{setup} Pulling: Pulling image "img:1"`,
		`Pod p spec.initContainers{setup} Started: Started container setup`,
		`Pod p spec.containers{c} Pulled: Successfully pulled image "img:1" in `,
		`Pod p spec.containers{c} Created: Created container c`,
		`Pod p spec.containers{c} Started: Started container c`,
	}
	eventually(t, "the events of both containers", func() bool {
		return contains(events.all(), want[len(want)-1])
	})
	got := events.all()
	for _, w := range want {
		found := false
		for _, e := range got {
			if strings.HasPrefix(e, w) {
				found = true
			}
		}
		if !found {
			t.Errorf("no event %q in %q", w, got)
		}
	}
}

func TestContainerRef(t *testing.T) {
	pod := testPod(v1.RestartPolicyAlways)
	for _, tt := range []struct {
		name string
		init bool
		want string
	}{
		{name: "c", want: "spec.containers{c}"},
		{name: "setup", init: true, want: "spec.initContainers{setup}"},
	} {
		ref, ok := containerRef(pod, tt.name, tt.init).(*v1.ObjectReference)
		if !ok {
			t.Fatalf("containerRef(%s): got %T, want *v1.ObjectReference", tt.name, ref)
		}
		if ref.FieldPath != tt.want || ref.Kind != "Pod" || ref.APIVersion != "v1" || ref.Name != "p" || ref.Namespace != "default" || ref.UID != pod.UID {
			t.Errorf("containerRef(%s): got %+v, want Pod v1 default/p uid-1 at %s", tt.name, ref, tt.want)
		}
	}
}
