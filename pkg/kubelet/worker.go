package kubelet

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/errdefs"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/reference"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"minik8s/pkg/nodeclient"
)

const (
	backoffBase      = 10 * time.Second
	backoffResetTime = 10 * time.Minute
	defaultGrace     = 30 * time.Second
	// configRetry is how soon a container whose config could not be made
	// (a ConfigMap or Secret missing) is tried again.
	configRetry = 5 * time.Second
	// mountRetry is how soon volumes that failed are tried again, and
	// mountEventEvery how often the same failure is reported.
	mountRetry      = 2 * time.Second
	mountEventEvery = 30 * time.Second
)

// workerDeps are what every pod worker shares.
type workerDeps struct {
	pods       func(namespace string) podAPI
	recorder   eventRecorder
	rt         Runtime
	nodeName   string
	nodeIP     string
	maxBackoff time.Duration
	resync     time.Duration
	// objects are the ConfigMaps and Secrets env refers to; volumes makes
	// the pods' volumes.
	objects objectReader
	volumes *volumeManager
	// drain holds a deleted pod's SIGTERM until the Service proxy dropped
	// it (nil: no proxy in this agent).
	drain *endpointDrain
	// clock is what back-offs, retries and deadlines are timed with (nil:
	// the real one).
	clock clock.Clock
	// admit is the kubelet's admission of a pod that has not run yet on
	// this node against the pods admitted before it (host ports): "" and
	// the pod holds its ports, or why it is refused. nil admits all.
	admit func(w *podWorker, pod *v1.Pod) string
}

func (d *workerDeps) clockOrReal() clock.Clock {
	if d.clock == nil {
		return clock.RealClock{}
	}
	return d.clock
}

// now is the time by the worker's clock.
func (w *podWorker) now() time.Time { return w.deps.clockOrReal().Now() }

// ctrState is the worker's record of one container of the pod.
type ctrState struct {
	name    string
	id      string
	attempt int
	started bool // ever started
	running bool
	startAt time.Time
	term    *v1.ContainerStateTerminated // how the current attempt ended
	last    *v1.ContainerStateTerminated // how the previous attempt ended
	imageID string
	ready   bool
	startup bool // startup probe passed (or none)
	// upOnce: some attempt ran and passed its startup probe; a sidecar
	// that has no longer holds up the init containers after it.
	upOnce   bool
	crashes  int
	next     time.Time // no (re)start before this
	waiting  string
	message  string
	stopProb context.CancelFunc
}

type containerExit struct {
	name, id string
	exit     ExitInfo
}

type probeResult struct {
	name, id string
	kind     probeKind
	ok       bool
	message  string
}

// podWorker owns one pod from its first sighting to its final delete.
type podWorker struct {
	deps *workerDeps
	uid  types.UID

	mu     sync.Mutex
	pod    *v1.Pod // latest from the informer; nil once gone
	gone   bool
	wakeCh chan struct{}
	done   chan struct{}

	exits  chan containerExit
	probes chan probeResult

	// The status poster's: the newest status to write, and its wake-up.
	statusMu      sync.Mutex
	wanted        *v1.PodStatus
	statusKick    chan struct{}
	postedRunning bool

	// owned by the worker goroutine
	lastPod    *v1.Pod
	sandbox    *Sandbox
	sandboxErr string
	sandboxAt  time.Time
	initDone   bool
	initFailed bool
	terminal   bool
	torndown   bool
	state      map[string]*ctrState
	firstSeen  time.Time
	// The pod's volumes once all are set up (nil before), when they were
	// last set up or refreshed and with which labels and annotations (a
	// downwardAPI volume shows them), and the earliest next try after a
	// failure.
	vols            map[string]podVolume
	volsAt          time.Time
	volsLabels      map[string]string
	volsAnnotations map[string]string
	volsRetry       time.Time
	volsFailed      bool
	// mountEvents are the FailedMount and warning messages already
	// reported, with when, so a failing volume is reported again only
	// now and then.
	mountEvents map[string]time.Time
	// pendingAdopt are the containers found at start, sorted out by run.
	pendingAdopt []ContainerInfo
	// Why the worker failed the pod itself (DeadlineExceeded), for the
	// status.
	failReason, failMessage string
	// admitted: the pod passed the agent's admission (or ran before);
	// refused is why it did not. holdsPorts (read by the agent's
	// admission of other pods) says its host ports are taken: from its
	// admission until its teardown.
	admitted   bool
	refused    string
	holdsPorts atomic.Bool
}

func newPodWorker(deps *workerDeps, pod *v1.Pod, adopted []ContainerInfo) *podWorker {
	w := &podWorker{
		deps:       deps,
		uid:        pod.UID,
		pod:        pod,
		wakeCh:     make(chan struct{}, 1),
		statusKick: make(chan struct{}, 1),
		done:       make(chan struct{}),
		exits:      make(chan containerExit, 16),
		probes:     make(chan probeResult, 64),
		state:      map[string]*ctrState{},
		firstSeen:  deps.clockOrReal().Now(),
	}
	if deps.volumes == nil {
		w.vols = map[string]podVolume{}
	}
	w.adopt(pod, adopted)
	if len(adopted) == 0 && (pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed) {
		// Finished before this agent started: never run it again.
		w.terminal = true
	}
	if len(adopted) > 0 {
		// It ran before this agent started: admitted then.
		w.admitted = true
		w.holdsPorts.Store(true)
	}
	return w
}

// update hands the worker the newest Pod (nil when it left the cache).
func (w *podWorker) update(pod *v1.Pod) {
	w.mu.Lock()
	if pod == nil {
		w.gone = true
	} else {
		w.pod = pod
	}
	w.mu.Unlock()
	w.wake()
}

func (w *podWorker) wake() {
	select {
	case w.wakeCh <- struct{}{}:
	default:
	}
}

func (w *podWorker) latest() (*v1.Pod, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod, w.gone
}

// adopt takes over containers a previous agent started: the newest attempt
// of each container is its current one, older ones are removed.
func (w *podWorker) adopt(pod *v1.Pod, infos []ContainerInfo) {
	newest := map[string]ContainerInfo{}
	for _, ci := range infos {
		if cur, ok := newest[ci.Name]; !ok || ci.Attempt > cur.Attempt {
			newest[ci.Name] = ci
		}
	}
	regular := false
	for name, ci := range newest {
		st := &ctrState{name: name, id: ci.ID, attempt: ci.Attempt, started: true, running: ci.Running, startAt: ci.Started, imageID: ci.ImageID}
		if !ci.Running {
			st.term = terminated(ci.ExitCode, ci.Reason, ci.Started, ci.Finished, ci.ID)
		}
		if !ci.Init && !ci.Ephemeral {
			regular = true
		}
		w.state[name] = st
	}
	if regular {
		// Regular containers only ever start after every init container
		// succeeded.
		w.initDone = true
		for _, c := range pod.Spec.InitContainers {
			if _, ok := w.state[c.Name]; !ok {
				w.state[c.Name] = &ctrState{name: c.Name, started: true, term: &v1.ContainerStateTerminated{Reason: "Completed"}}
			}
		}
	}
	w.pendingAdopt = infos
}

func terminated(code int, reason string, started, finished time.Time, id string) *v1.ContainerStateTerminated {
	if reason == "" {
		reason = "Error"
		if code == 0 {
			reason = "Completed"
		}
	}
	return &v1.ContainerStateTerminated{
		ExitCode: int32(code), Reason: reason,
		StartedAt: metav1.NewTime(started), FinishedAt: metav1.NewTime(finished),
		ContainerID: "containerd://" + id,
	}
}

func (w *podWorker) run(ctx context.Context) {
	defer close(w.done)
	logger := klog.FromContext(ctx).WithValues("pod", w.uid)
	ctx = klog.NewContext(ctx, logger)
	go w.postStatuses(ctx)
	w.startAdopted(ctx)
	for {
		if w.sync(ctx) {
			return
		}
		wait := w.deps.resync
		now := w.now()
		if next := w.view(w.lastPod, false, now).wakeAt(); !next.IsZero() {
			if d := next.Sub(now); d < wait {
				wait = d
			}
		}
		if wait < 10*time.Millisecond {
			wait = 10 * time.Millisecond
		}
		t := w.deps.clockOrReal().NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			w.stopAllProbes()
			return
		case <-w.wakeCh:
		case e := <-w.exits:
			w.handleExit(ctx, e)
		case r := <-w.probes:
			w.handleProbe(ctx, r)
		case <-t.C():
		}
		t.Stop()
		w.drainEvents(ctx)
	}
}

// drainEvents handles every event already queued, so that a burst of exits
// and probe results costs one sync and one status, not one each.
func (w *podWorker) drainEvents(ctx context.Context) {
	for {
		select {
		case e := <-w.exits:
			w.handleExit(ctx, e)
		case r := <-w.probes:
			w.handleProbe(ctx, r)
		case <-w.wakeCh:
		default:
			return
		}
	}
}

// startAdopted watches adopted running containers and removes stale attempts.
func (w *podWorker) startAdopted(ctx context.Context) {
	for _, ci := range w.pendingAdopt {
		st := w.state[ci.Name]
		if st != nil && st.id == ci.ID {
			if ci.Running {
				w.watch(ctx, st)
				st.startup, st.upOnce = true, true
			}
			continue
		}
		if err := w.deps.rt.RemoveContainer(ctx, ci.ID); err != nil {
			klog.FromContext(ctx).Error(err, "removing stale container", "id", ci.ID)
		}
	}
	w.pendingAdopt = nil
}

// view is what the worker knows of pod at now, for planPod.
func (w *podWorker) view(pod *v1.Pod, gone bool, now time.Time) *podView {
	v := &podView{
		pod: pod, gone: gone, now: now, startTime: w.firstSeen,
		vols: volumeView{
			managed: w.deps.volumes != nil, set: w.vols != nil, failed: w.volsFailed,
			at: w.volsAt, retry: w.volsRetry, labels: w.volsLabels, annotations: w.volsAnnotations,
			resync: w.deps.resync,
		},
		sandbox: w.sandbox != nil, sandboxAt: w.sandboxAt,
		initDone: w.initDone, initFailed: w.initFailed, terminal: w.terminal, torndown: w.torndown,
		failReason: w.failReason, refused: w.refused,
		containers: w.state,
	}
	if pod != nil && pod.Status.StartTime != nil {
		v.startTime = pod.Status.StartTime.Time
	}
	return v
}

// sync makes one level-triggered pass: it plans from what it observed,
// executes the plan, and plans again until nothing is left to do, then
// publishes the status. It reports true when the worker is finished (the
// pod is gone and everything of it cleaned up).
func (w *podWorker) sync(ctx context.Context) bool {
	pod, gone := w.latest()
	if pod == nil {
		pod = w.lastPod
	}
	if !gone {
		w.lastPod = pod
	}
	// Each pass but the last changes what the next one sees; the bound is
	// a guard, a plan never needs more passes than the pod has containers.
	if !w.admitted && w.refused == "" && !w.terminal && !gone && pod.DeletionTimestamp == nil && w.deps.admit != nil {
		// As the kubelet's admission: once, before anything of the pod
		// runs.
		if w.refused = w.deps.admit(w, pod); w.refused == "" {
			w.admitted = true
		}
	}
	passes := 3 + len(pod.Spec.InitContainers) + len(pod.Spec.Containers) + len(pod.Spec.EphemeralContainers)
	for range passes {
		plan := planPod(w.view(pod, gone, w.now()))
		if len(plan.actions) == 0 {
			break
		}
		w.execute(ctx, pod, plan)
		if plan.done {
			return true
		}
	}
	w.publish(pod, w.computeStatus(pod, w.now()))
	return false
}

// execute does what plan says, in order. A setup of volumes or sandbox
// that failed ends it: what follows needs them.
func (w *podWorker) execute(ctx context.Context, pod *v1.Pod, plan podPlan) {
	for i, a := range plan.actions {
		switch a.kind {
		case actStartProbes:
			w.startProbes(ctx, pod, a.name)
		case actSetupVolumes:
			if !w.setupVolumes(ctx, pod, w.now()) {
				return
			}
		case actCreateSandbox:
			if !w.createSandbox(ctx, pod) {
				return
			}
		case actStart:
			c := findContainer(pod, a.name)
			if c == nil {
				continue
			}
			w.start(ctx, pod, c, a.init)
			if !a.init && ephemeralContainer(pod, a.name) == nil && startsRegular(plan.actions[i+1:], pod) {
				// The next start may pull for a while: show this one now.
				w.publish(pod, w.computeStatus(pod, w.now()))
			}
		case actInitDone:
			w.initDone = true
		case actInitFailed:
			w.initFailed = true
		case actFail:
			w.fail(ctx, pod, a)
		case actReject:
			w.reject(ctx, pod, a)
		case actFinish:
			w.terminal = true
			if !w.torndown {
				// Only sidecars can still run: they get their grace.
				w.teardown(ctx, pod, a.grace)
			}
		case actTerminate:
			w.terminate(ctx, pod, a.grace, a.deleteObject)
		}
	}
}

// startsRegular reports whether actions start a regular container.
func startsRegular(actions []podAction, pod *v1.Pod) bool {
	for _, a := range actions {
		if a.kind == actStart && !a.init && ephemeralContainer(pod, a.name) == nil {
			return true
		}
	}
	return false
}

// createSandbox sets up the pod's sandbox, reporting whether it is there;
// a failure is reported once per message and tried again in 2 s.
func (w *podWorker) createSandbox(ctx context.Context, pod *v1.Pod) bool {
	t0 := time.Now()
	sb, err := w.deps.rt.SetupSandbox(ctx, pod)
	klog.FromContext(ctx).V(1).Info("sandbox", "took", time.Since(t0).Round(time.Millisecond))
	if err != nil {
		msg := fmt.Sprintf("Failed to create pod sandbox: %v", err)
		if msg != w.sandboxErr {
			w.deps.recorder.Event(pod, v1.EventTypeWarning, "FailedCreatePodSandBox", msg)
			klog.FromContext(ctx).Error(err, "creating pod sandbox")
		}
		w.sandboxErr = msg
		w.sandboxAt = w.now().Add(2 * time.Second)
		return false
	}
	w.sandbox = &sb
	w.sandboxErr = ""
	return true
}

// fail ends the pod as Failed for a.reason, as the kubelet does when a
// pod sync handler evicts it (the active deadline): the status says so at
// once, then the containers are killed within the grace period, and the
// next status shows how they ended.
func (w *podWorker) fail(ctx context.Context, pod *v1.Pod, a podAction) {
	w.deps.recorder.Event(pod, v1.EventTypeNormal, a.reason, a.message)
	w.terminal = true
	w.failReason, w.failMessage = a.reason, a.message
	w.stopAllProbes()
	w.publish(pod, w.computeStatus(pod, w.now()))
	if !w.torndown {
		w.teardown(ctx, pod, a.grace)
	}
}

// reject fails the pod as the kubelet's rejectPod does when an admission
// handler refuses it: a Warning Event, and the status Failed with the
// reason and "Pod was rejected: " and the message. Nothing of it started.
func (w *podWorker) reject(ctx context.Context, pod *v1.Pod, a podAction) {
	w.deps.recorder.Event(pod, v1.EventTypeWarning, a.reason, a.message)
	klog.FromContext(ctx).Info("pod rejected", "reason", a.reason, "message", a.message)
	w.terminal = true
	w.failReason, w.failMessage = a.reason, "Pod was rejected: "+a.message
	w.publish(pod, w.computeStatus(pod, w.now()))
}

func willRestart(policy v1.RestartPolicy, code int) bool {
	switch policy {
	case v1.RestartPolicyNever:
		return false
	case v1.RestartPolicyOnFailure:
		return code != 0
	}
	return true
}

func pullPolicy(c *v1.Container) v1.PullPolicy {
	if c.ImagePullPolicy != "" {
		return c.ImagePullPolicy
	}
	ref := c.Image
	if i := lastIndexByte(ref, '/'); i >= 0 {
		ref = ref[i+1:]
	}
	if j := lastIndexByte(ref, ':'); j < 0 || ref[j+1:] == "latest" {
		return v1.PullAlways
	}
	return v1.PullIfNotPresent
}

func lastIndexByte(s string, b byte) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == b {
			return i
		}
	}
	return -1
}

// backoff is the delay before restart number crashes (1 = first crash).
func (w *podWorker) backoff(crashes int) time.Duration {
	return crashBackoff(crashes, w.deps.maxBackoff)
}

func (w *podWorker) start(ctx context.Context, pod *v1.Pod, c *v1.Container, init bool) {
	rec := w.deps.recorder
	st := w.state[c.Name]
	if st == nil {
		st = &ctrState{name: c.Name}
		w.state[c.Name] = st
	}
	ref := containerRef(pod, c.Name, init)
	policy := pullPolicy(c)
	tImage := time.Now()
	var imageID string
	var present bool
	if policy != v1.PullAlways {
		// Always goes to the registry anyway, and PullImage skips the
		// fetch when the digest is already here.
		var err error
		if imageID, present, err = w.deps.rt.ImagePresent(ctx, c.Image); err != nil {
			present = false
		}
	}
	var err error
	switch {
	case policy == v1.PullNever && !present:
		st.waiting, st.message = "ErrImageNeverPull", fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image)
		rec.Event(ref, v1.EventTypeWarning, "ErrImageNeverPull", st.message)
		st.next = w.now().Add(pullBackoff(1, w.deps.maxBackoff))
		return
	case policy == v1.PullAlways || !present:
		rec.Eventf(ref, v1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
		t0 := time.Now()
		imageID, err = w.deps.rt.PullImage(ctx, c.Image)
		if err != nil {
			klog.FromContext(ctx).Error(err, "pulling image", "image", c.Image)
			st.crashes++ // counts failed pulls until the first start
			msg := fmt.Sprintf("Failed to pull image %q: %v", c.Image, err)
			rec.Event(ref, v1.EventTypeWarning, "Failed", msg)
			rec.Event(ref, v1.EventTypeWarning, "Failed", "Error: ErrImagePull")
			st.waiting, st.message = "ErrImagePull", msg
			st.next = w.now().Add(pullBackoff(st.crashes, w.deps.maxBackoff))
			return
		}
		rec.Eventf(ref, v1.EventTypeNormal, "Pulled", "Successfully pulled image %q in %s", c.Image, time.Since(t0).Round(time.Millisecond))
	default:
		rec.Eventf(ref, v1.EventTypeNormal, "Pulled", "Container image %q already present on machine", c.Image)
	}
	observeStep("image", tImage)
	cc, copts, err := w.containerConfig(ctx, pod, c)
	if err != nil {
		// Upstream's CreateContainerConfigError: tried again until the
		// ConfigMap, Secret or key appears.
		msg := err.Error()
		rec.Event(ref, v1.EventTypeWarning, "Failed", "Error: "+msg)
		st.waiting, st.message = "CreateContainerConfigError", msg
		st.next = w.now().Add(min(configRetry, w.deps.maxBackoff))
		return
	}
	attempt := 0
	if st.started {
		attempt = st.attempt + 1
	}
	if ec := ephemeralContainer(pod, c.Name); ec != nil {
		copts.Ephemeral = true
		if ec.TargetContainerName != "" {
			target := w.state[ec.TargetContainerName]
			if target == nil || !target.running {
				// Tried again until the target runs.
				msg := fmt.Sprintf("target container %s is not running", ec.TargetContainerName)
				rec.Event(ref, v1.EventTypeWarning, "Failed", "Error: "+msg)
				st.waiting, st.message = "CreateContainerError", msg
				st.next = w.now().Add(time.Second)
				return
			}
			copts.TargetID = target.id
		}
	}
	if st.id != "" {
		if err := w.deps.rt.RemoveContainer(ctx, st.id); err != nil {
			klog.FromContext(ctx).Error(err, "removing previous container", "container", c.Name)
		}
	}
	if !st.started {
		st.crashes = 0
	}
	t0 := time.Now()
	info, err := w.deps.rt.StartContainer(ctx, pod, *w.sandbox, cc, init, attempt, copts)
	klog.FromContext(ctx).V(1).Info("container started", "container", c.Name, "took", time.Since(t0).Round(time.Millisecond))
	if err != nil {
		klog.FromContext(ctx).Error(err, "starting container", "container", c.Name)
		msg := err.Error()
		rec.Event(ref, v1.EventTypeWarning, "Failed", "Error: "+msg)
		var se *StartError
		if errors.As(err, &se) {
			w.startFailed(pod, st, attempt, msg, info.ID)
			return
		}
		st.waiting, st.message = "CreateContainerError", msg
		st.crashes++
		st.next = w.now().Add(max(w.backoff(st.crashes), time.Second))
		return
	}
	rec.Eventf(ref, v1.EventTypeNormal, "Created", "Created container %s", c.Name)
	rec.Eventf(ref, v1.EventTypeNormal, "Started", "Started container %s", c.Name)
	if st.term != nil {
		st.last = st.term
	}
	st.term = nil
	st.id = info.ID
	st.attempt = attempt
	st.started = true
	st.running = true
	st.startAt = info.Started
	if st.startAt.IsZero() {
		st.startAt = time.Now()
	}
	st.imageID = imageID
	st.ready = false
	st.startup = c.StartupProbe == nil
	st.upOnce = st.upOnce || st.startup
	st.waiting, st.message = "", ""
	w.watch(ctx, st)
	w.postStart(ctx, pod, c, st)
}

// watch waits for the container's exit and runs its probes.
// A Wait that fails (containerd is down: killed, restarting) is tried
// again each second until the container is found gone.
func (w *podWorker) watch(ctx context.Context, st *ctrState) {
	name, id := st.name, st.id
	ch, err := w.deps.rt.Wait(ctx, id)
	go func() {
		for err != nil {
			if errdefs.IsNotFound(err) {
				return // removed
			}
			klog.FromContext(ctx).Error(err, "waiting for container; again in 1s", "container", name)
			if !sleepCtx(ctx, time.Second) {
				return
			}
			ch, err = w.deps.rt.Wait(ctx, id)
		}
		select {
		case e := <-ch:
			select {
			case w.exits <- containerExit{name: name, id: id, exit: e}:
			case <-ctx.Done():
			}
		case <-ctx.Done():
		}
	}()
}

// startProbes starts the probes of running container name.
func (w *podWorker) startProbes(ctx context.Context, pod *v1.Pod, name string) {
	st, c := w.state[name], findContainer(pod, name)
	if w.sandbox == nil || st == nil || !st.running || st.stopProb != nil || c == nil {
		return
	}
	pctx, cancel := context.WithCancel(ctx)
	st.stopProb = cancel
	started := &atomic.Bool{}
	started.Store(c.StartupProbe == nil || st.startup)
	for _, k := range []probeKind{probeStartup, probeLiveness, probeReadiness} {
		if p := k.of(c); p != nil {
			pr := &prober{rt: w.deps.rt, kind: k, probe: p, container: c, id: st.id, podIP: w.sandbox.IP, started: started, out: w.probes}
			go pr.run(pctx)
		}
	}
}

func findContainer(pod *v1.Pod, name string) *v1.Container {
	if pod == nil {
		return nil
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	if ec := ephemeralContainer(pod, name); ec != nil {
		return (*v1.Container)(&ec.EphemeralContainerCommon)
	}
	return nil
}

// ephemeralContainer is the pod's ephemeral container name, or nil.
func ephemeralContainer(pod *v1.Pod, name string) *v1.EphemeralContainer {
	if pod == nil {
		return nil
	}
	for i := range pod.Spec.EphemeralContainers {
		if pod.Spec.EphemeralContainers[i].Name == name {
			return &pod.Spec.EphemeralContainers[i]
		}
	}
	return nil
}

// isSidecar reports whether c is a sidecar: an init container with
// restartPolicy Always, which keeps running beside the regular containers.
func isSidecar(c *v1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways
}

// restartPolicy is the policy container name restarts by: Always for a
// sidecar, the pod's otherwise.
func restartPolicy(pod *v1.Pod, name string) v1.RestartPolicy {
	for i := range pod.Spec.InitContainers {
		if c := &pod.Spec.InitContainers[i]; c.Name == name && isSidecar(c) {
			return v1.RestartPolicyAlways
		}
	}
	return pod.Spec.RestartPolicy
}

func isInit(pod *v1.Pod, name string) bool {
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// containerRef is what an Event about one of pod's containers is about:
// the pod, with the container in involvedObject.fieldPath
// (spec.containers{name}, spec.initContainers{name}), as the kubelet's
// GenerateContainerRef makes it; `describe pod` shows it under From/Sub-
// object, and the message stays as upstream's, without the container.
// Should the reference fail, the Event is about the pod.
func containerRef(pod *v1.Pod, name string, init bool) runtime.Object {
	path := fmt.Sprintf("spec.containers{%s}", name)
	switch {
	case init:
		path = fmt.Sprintf("spec.initContainers{%s}", name)
	case ephemeralContainer(pod, name) != nil:
		path = fmt.Sprintf("spec.ephemeralContainers{%s}", name)
	}
	ref, err := reference.GetPartialReference(nodeclient.Scheme, pod, path)
	if err != nil {
		return pod
	}
	return ref
}

func (w *podWorker) handleExit(ctx context.Context, e containerExit) {
	st := w.state[e.name]
	if st == nil || st.id != e.id || !st.running {
		return
	}
	st.running = false
	st.ready = false
	if st.stopProb != nil {
		st.stopProb()
		st.stopProb = nil
	}
	st.term = terminated(e.exit.Code, e.exit.Reason, st.startAt, e.exit.Finished, st.id)
	if c := findContainer(w.lastPod, e.name); c != nil {
		st.term.Message = w.terminationMessage(c, st.attempt, e.exit.Code)
	}
	if pod, _ := w.latest(); ephemeralContainer(pod, e.name) != nil {
		return // never restarted
	}
	st.crashes, st.next = restartAfterExit(st.crashes, st.startAt, e.exit.Finished, w.deps.maxBackoff)
	if delay := st.next.Sub(e.exit.Finished); delay > 0 {
		pod, _ := w.latest()
		sidecar := pod != nil && restartPolicy(pod, e.name) == v1.RestartPolicyAlways && isInit(pod, e.name)
		if pod != nil && !w.terminal && willRestart(restartPolicy(pod, e.name), e.exit.Code) && (sidecar || !(isInit(pod, e.name) && e.exit.Code == 0)) {
			st.waiting = "CrashLoopBackOff"
			st.message = fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", delay, e.name, pod.Name, pod.Namespace, pod.UID)
			w.deps.recorder.Eventf(containerRef(pod, e.name, isInit(pod, e.name)), v1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)", e.name, pod.Name, pod.Namespace, pod.UID)
		}
	} else {
		st.waiting, st.message = "", ""
	}
}

func (w *podWorker) handleProbe(ctx context.Context, r probeResult) {
	st := w.state[r.name]
	if st == nil || st.id != r.id || !st.running {
		return
	}
	pod, _ := w.latest()
	switch r.kind {
	case probeStartup:
		st.startup = r.ok
		st.upOnce = st.upOnce || r.ok
		if !r.ok {
			w.unhealthy(ctx, pod, st, r)
		}
	case probeReadiness:
		st.ready = r.ok
		if !r.ok && r.message != "" && pod != nil {
			w.deps.recorder.Eventf(containerRef(pod, r.name, isInit(pod, r.name)), v1.EventTypeWarning, "Unhealthy", "Readiness probe failed: %s", r.message)
		}
	case probeLiveness:
		if !r.ok {
			w.unhealthy(ctx, pod, st, r)
		}
	}
}

// unhealthy kills a container whose liveness or startup probe failed; its
// exit then follows the restart policy like any other.
func (w *podWorker) unhealthy(ctx context.Context, pod *v1.Pod, st *ctrState, r probeResult) {
	if pod == nil {
		return
	}
	rec, ref := w.deps.recorder, containerRef(pod, st.name, isInit(pod, st.name))
	rec.Eventf(ref, v1.EventTypeWarning, "Unhealthy", "%s probe failed: %s", r.kind, r.message)
	rec.Eventf(ref, v1.EventTypeNormal, "Killing", "Container %s failed %s probe, will be restarted", st.name, r.kind)
	if st.stopProb != nil {
		st.stopProb()
		st.stopProb = nil
	}
	grace := podGrace(pod)
	if c := findContainer(pod, st.name); c != nil {
		w.preStop(ctx, pod, c, st, grace)
	}
	id := st.id
	go func() {
		if err := w.deps.rt.StopContainer(ctx, id, grace); err != nil {
			klog.FromContext(ctx).Error(err, "stopping unhealthy container", "container", st.name)
		}
	}()
}

func podGrace(pod *v1.Pod) time.Duration {
	if pod.DeletionGracePeriodSeconds != nil {
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return defaultGrace
}

func (w *podWorker) stopAllProbes() {
	for _, st := range w.state {
		if st.stopProb != nil {
			st.stopProb()
			st.stopProb = nil
		}
	}
}

// preStop runs the container's preStop hook, bounded by grace; a failure
// is reported (FailedPreStopHook) and the stop goes on.
func (w *podWorker) preStop(ctx context.Context, pod *v1.Pod, c *v1.Container, st *ctrState, grace time.Duration) {
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
		return
	}
	hctx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	msg, err := w.runHook(hctx, pod, c, st.id, c.Lifecycle.PreStop)
	if err == nil || c.Lifecycle.PreStop.Sleep != nil && hctx.Err() != nil {
		return // a sleep the grace period cut short did not fail
	}
	klog.FromContext(ctx).Error(err, "preStop hook failed", "container", c.Name, "message", msg)
	w.deps.recorder.Event(containerRef(pod, c.Name, isInit(pod, c.Name)), v1.EventTypeWarning, "FailedPreStopHook", "PreStopHook failed")
}

// terminate stops every container within the grace period, then removes
// them and the sandbox, then (when the API object still exists) deletes the
// Pod for good.
func (w *podWorker) terminate(ctx context.Context, pod *v1.Pod, grace time.Duration, deleteObject bool) {
	w.stopAllProbes()
	if pod != nil {
		w.teardown(ctx, pod, grace)
	} else {
		for _, st := range w.state {
			if st.id != "" {
				_ = w.deps.rt.StopContainer(ctx, st.id, 0)
				_ = w.deps.rt.RemoveContainer(ctx, st.id)
			}
		}
		_ = w.deps.rt.TeardownSandbox(ctx, w.uid)
	}
	if err := w.deps.rt.RemovePodFiles(ctx, w.uid); err != nil {
		klog.FromContext(ctx).Error(err, "removing pod files")
	}
	if w.deps.volumes != nil && w.deps.volumes.tokens != nil {
		w.deps.volumes.tokens.deletePod(w.uid)
	}
	if !deleteObject || pod == nil {
		return
	}
	w.postTerminalStatus(ctx, pod)
	zero := int64(0)
	uid := pod.UID
	err := w.deps.pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero,
		Preconditions:      &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		klog.FromContext(ctx).Error(err, "final delete of pod", "pod", klog.KObj(pod))
	}
}

// postTerminalStatus writes a deleted pod's last status before the final
// delete, as the kubelet's status manager deletes a pod only once its
// status is terminal: its containers terminated, its phase Succeeded when
// all of them exited 0, else Failed (a pod stopped before it ran too). A
// controller that holds its pods with a finalizer (the Job controller's
// tracking finalizer) counts them from this status; without it, an
// evicted Job pod stayed Terminating for ever.
func (w *podWorker) postTerminalStatus(ctx context.Context, pod *v1.Pod) {
	w.terminal = true
	st := w.computeStatus(pod, w.now())
	if st.Phase != v1.PodSucceeded {
		st.Phase = v1.PodFailed
	}
	// A status published earlier and not yet written would undo this one.
	w.statusMu.Lock()
	w.wanted = nil
	w.statusMu.Unlock()
	w.writeStatus(ctx, &st)
}

// teardown stops the pod's containers within grace and removes them and
// its sandbox. Regular containers stop first, together, then the sidecars
// one by one, the last started first, as the kubelet stops them.
func (w *podWorker) teardown(ctx context.Context, pod *v1.Pod, grace time.Duration) {
	start := time.Now()
	w.drainBeforeStop(ctx, pod.DeletionTimestamp != nil, grace)
	stop := func(st *ctrState) {
		w.deps.recorder.Eventf(pod, v1.EventTypeNormal, "Killing", "Stopping container %s", st.name)
		if c := findContainer(pod, st.name); c != nil {
			w.preStop(ctx, pod, c, st, max(grace-time.Since(start), 0))
		}
		if err := w.deps.rt.StopContainer(ctx, st.id, max(grace-time.Since(start), 0)); err != nil {
			klog.FromContext(ctx).Error(err, "stopping container", "container", st.name)
		}
	}
	running := func(st *ctrState) bool { return st != nil && st.id != "" && st.running }
	sidecars := map[string]bool{}
	for i := range pod.Spec.InitContainers {
		if isSidecar(&pod.Spec.InitContainers[i]) {
			sidecars[pod.Spec.InitContainers[i].Name] = true
		}
	}
	var wg sync.WaitGroup
	for _, st := range w.state {
		if running(st) && !sidecars[st.name] {
			wg.Add(1)
			go func(st *ctrState) {
				defer wg.Done()
				stop(st)
			}(st)
		}
	}
	wg.Wait()
	for i := len(pod.Spec.InitContainers) - 1; i >= 0; i-- {
		if st := w.state[pod.Spec.InitContainers[i].Name]; sidecars[pod.Spec.InitContainers[i].Name] && running(st) {
			stop(st)
		}
	}
	w.collectExits(ctx)
	for _, st := range w.state {
		if st.id == "" {
			continue
		}
		if err := w.deps.rt.RemoveContainer(ctx, st.id); err != nil {
			klog.FromContext(ctx).Error(err, "removing container", "container", st.name)
		}
		st.running = false
	}
	if err := w.deps.rt.TeardownSandbox(ctx, pod.UID); err != nil {
		klog.FromContext(ctx).Error(err, "tearing down sandbox")
	}
	w.sandbox = nil
	w.torndown = true
	w.holdsPorts.Store(false)
}

// setupVolumes sets up or refreshes the pod's volumes (when is
// podView.volumeStep's to say). It reports whether the containers may
// start: every volume was set up once. A volume that fails later keeps its
// last content.
func (w *podWorker) setupVolumes(ctx context.Context, pod *v1.Pod, now time.Time) bool {
	res := w.deps.volumes.setup(ctx, pod)
	if w.mountEvents == nil {
		w.mountEvents = map[string]time.Time{}
	}
	report := func(reason, msg string) {
		if at, ok := w.mountEvents[msg]; ok && now.Sub(at) < mountEventEvery {
			return
		}
		w.mountEvents[msg] = now
		w.deps.recorder.Event(pod, v1.EventTypeWarning, reason, msg)
	}
	for _, msg := range res.failed {
		klog.FromContext(ctx).V(1).Info("volume setup failed", "message", msg)
		report("FailedMount", msg)
	}
	for _, msg := range res.warnings {
		if _, ok := w.mountEvents[msg]; !ok {
			report("VolumeSourceLeftOut", msg)
		}
	}
	w.volsFailed = len(res.failed) > 0
	if w.volsFailed {
		w.volsRetry = now.Add(min(mountRetry, w.deps.maxBackoff))
		if w.vols == nil && !w.anyStarted() {
			return false
		}
		// Containers run already (adopted by a restarted agent): they
		// keep running on what could be set up, and a restart of one
		// needing a missing volume waits as a config error.
		if w.vols == nil {
			w.vols = map[string]podVolume{}
		}
		for name, v := range res.volumes {
			w.vols[name] = v
		}
	} else {
		w.vols = res.volumes
	}
	w.volsAt, w.volsLabels, w.volsAnnotations = now, pod.Labels, pod.Annotations
	return true
}

// anyStarted reports whether a container of the pod ever started.
func (w *podWorker) anyStarted() bool {
	for _, st := range w.state {
		if st.started {
			return true
		}
	}
	return false
}

// refreshed reports whether pod has volumes whose content follows the API
// (ConfigMaps, Secrets, its own metadata); the others are set up once.
func refreshed(pod *v1.Pod) bool {
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if v.ConfigMap != nil || v.Secret != nil || v.DownwardAPI != nil || v.Projected != nil {
			return true
		}
	}
	return false
}

// containerConfig resolves what a start of c needs from the API and the
// node: its environment and its mounts (newContainerSpec expands $(VAR)
// in command and args with the environment).
func (w *podWorker) containerConfig(ctx context.Context, pod *v1.Pod, c *v1.Container) (*v1.Container, ContainerOptions, error) {
	facts := podFacts{hostIP: w.deps.nodeIP}
	if w.sandbox != nil {
		facts.podIP = w.sandbox.IP
	}
	if facts.podIP == "" && pod.Spec.HostNetwork {
		facts.podIP = w.deps.nodeIP
	}
	if w.deps.volumes != nil {
		facts.allocatable = w.deps.volumes.allocatable
	}
	if o, ok := w.deps.objects.(*apiObjects); ok {
		var err error
		if facts.serviceEnv, err = o.serviceEnv(pod); err != nil {
			return nil, ContainerOptions{}, err
		}
	}
	env, err := makeEnv(ctx, w.deps.objects, pod, c, facts)
	if err != nil {
		return nil, ContainerOptions{}, err
	}
	mounts, err := containerMounts(pod, c, w.vols, env)
	if err != nil {
		return nil, ContainerOptions{}, err
	}
	opts := ContainerOptions{Mounts: mounts, Env: make([]string, 0, len(env))}
	for _, e := range env {
		opts.Env = append(opts.Env, e.Name+"="+e.Value)
	}
	return c, opts, nil
}

// startFailed records a start that failed in runc as upstream reports it:
// the attempt terminated with exit code 128 and reason StartError, to be
// restarted (with back-off) or not as the restart policy says. id is the
// container the runtime created, if it did: kept, so that the next start
// removes it should the runtime's own clean-up have failed (containerd
// killed during the start may leave its task created and never started).
func (w *podWorker) startFailed(pod *v1.Pod, st *ctrState, attempt int, msg, id string) {
	if st.term != nil {
		st.last = st.term
	}
	now := w.now()
	st.id, st.attempt, st.started, st.running, st.ready = id, attempt, true, false, false
	st.term = &v1.ContainerStateTerminated{ExitCode: 128, Reason: "StartError", Message: msg,
		StartedAt: metav1.NewTime(time.Unix(0, 0).UTC()), FinishedAt: metav1.NewTime(now)}
	if id != "" {
		st.term.ContainerID = "containerd://" + id
	}
	st.crashes++
	delay := w.backoff(st.crashes)
	st.next = now.Add(delay)
	st.waiting, st.message = "", ""
	if delay > 0 && willRestart(restartPolicy(pod, st.name), 128) {
		st.waiting = "CrashLoopBackOff"
		st.message = fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", delay, st.name, pod.Name, pod.Namespace, pod.UID)
	}
}

// collectExits takes in the exits of the containers teardown stopped, so
// their statuses say how they ended (a sidecar stopped when its pod
// completed shows terminated, not waiting). Each exit arrives as soon as
// its task is gone; the wait is bounded should one never come.
func (w *podWorker) collectExits(ctx context.Context) {
	pending := 0
	for _, st := range w.state {
		if st.running && st.id != "" {
			pending++
		}
	}
	if pending == 0 {
		return
	}
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	for pending > 0 {
		select {
		case e := <-w.exits:
			if st := w.state[e.name]; st != nil && st.running && st.id == e.id {
				pending--
			}
			w.handleExit(ctx, e)
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}
