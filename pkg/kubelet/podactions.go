package kubelet

import (
	"maps"
	"time"

	v1 "k8s.io/api/core/v1"
)

// The pod worker decides before it acts: planPod computes, from a podView
// and nothing else, the actions one pass takes, and the worker's executor
// (podWorker.execute) does them. Everything about restart policies, init
// containers, sidecars, back-off, deadlines and deletion is decided here,
// with the time given, so it is tested without a runtime or a clock.

// deadlineReason and deadlineMessage are the status and Event of a pod
// killed for running past spec.activeDeadlineSeconds, as the kubelet's
// activeDeadlineHandler words them.
const (
	deadlineReason  = "DeadlineExceeded"
	deadlineMessage = "Pod was active on the node longer than the specified deadline"
)

// podView is what the worker knows of its pod at one instant: the pod as
// the API has it, and what it observed of the pod's volumes, sandbox and
// containers. planPod only reads it.
type podView struct {
	pod  *v1.Pod // the newest from the informer (the last seen when gone)
	gone bool    // left the informer's cache: deleted for good
	now  time.Time
	// startTime is status.startTime, or when the worker first saw the pod
	// before it posted one: what activeDeadlineSeconds counts from.
	startTime time.Time

	vols volumeView

	sandbox   bool      // the sandbox is up
	sandboxAt time.Time // no new sandbox before (after a failure)

	initDone   bool // every init container completed once
	initFailed bool // an init container failed under restartPolicy Never
	terminal   bool // the phase is final: nothing starts again
	torndown   bool // containers and sandbox were removed
	// failReason is why the worker failed the pod itself (DeadlineExceeded).
	failReason string
	// refused is why the agent's admission refused the pod (host ports
	// taken), "" when it admitted it.
	refused string

	containers map[string]*ctrState // by name; read only here
}

// volumeView is the worker's record of the pod's volumes.
type volumeView struct {
	managed bool // the agent sets up volumes (some tests run without)
	set     bool // every volume was set up once
	failed  bool // the last setup left some out
	at      time.Time
	retry   time.Time // no new setup before (after a failure)
	// The labels and annotations the last setup wrote (downwardAPI).
	labels, annotations map[string]string
	resync              time.Duration
}

type actionKind int

const (
	// actStartProbes starts the probes of a running container that has none.
	actStartProbes actionKind = iota
	// actSetupVolumes sets up or refreshes the pod's volumes; when they
	// are not usable, the rest of the plan waits.
	actSetupVolumes
	// actCreateSandbox creates the pod's sandbox; when that fails, the
	// rest of the plan waits.
	actCreateSandbox
	// actStart pulls and starts container name (an init container if init).
	actStart
	// actInitDone records that every init container completed.
	actInitDone
	// actInitFailed records that an init container failed for good.
	actInitFailed
	// actFail fails the pod (reason, message) and kills its containers
	// within grace.
	actFail
	// actReject fails a pod the kubelet's admission refuses (reason,
	// message) before anything of it started.
	actReject
	// actFinish records the final phase and stops what still runs (the
	// sidecars) within grace, then removes the containers and sandbox.
	actFinish
	// actTerminate kills everything within grace and cleans up; with
	// deleteObject, it then deletes the Pod for good.
	actTerminate
)

func (k actionKind) String() string {
	return [...]string{"StartProbes", "SetupVolumes", "CreateSandbox", "Start", "InitDone", "InitFailed", "Fail", "Reject", "Finish", "Terminate"}[k]
}

// podAction is one step of a plan.
type podAction struct {
	kind         actionKind
	name         string // container
	init         bool
	grace        time.Duration
	reason       string
	message      string
	deleteObject bool
}

// String is how logs and tests show a: "Start c", "Start i (init)",
// "Fail DeadlineExceeded grace=30s", "Terminate grace=5s delete".
func (a podAction) String() string {
	s := a.kind.String()
	if a.name != "" {
		s += " " + a.name
	}
	if a.init {
		s += " (init)"
	}
	if a.reason != "" {
		s += " " + a.reason
	}
	switch a.kind {
	case actFail, actFinish, actTerminate:
		s += " grace=" + a.grace.String()
	}
	if a.deleteObject {
		s += " delete"
	}
	return s
}

// podPlan is what one pass does.
type podPlan struct {
	actions []podAction
	// done: the worker ends after the plan (the pod is gone).
	done bool
}

func (p *podPlan) add(a podAction) { p.actions = append(p.actions, a) }

// planPod is the worker's decision for one pass over v. A plan that
// starts something changes what the next decision sees (a sidecar that
// came up lets the next init container start; a start that failed for
// good may end the pod), so the worker plans again after executing one
// until a plan is empty.
func planPod(v *podView) podPlan {
	var p podPlan
	pod := v.pod
	switch {
	case v.gone:
		a := podAction{kind: actTerminate}
		if pod != nil {
			a.grace = podGrace(pod)
		}
		p.add(a)
		p.done = true
		return p
	case pod.DeletionTimestamp != nil:
		p.add(podAction{kind: actTerminate, grace: podGrace(pod), deleteObject: true})
		p.done = true
		return p
	}
	if !v.terminal {
		if !v.sandbox && len(v.containers) == 0 {
			// As the kubelet's admission, before the pod runs: the
			// sysctl allowlist's handler, then the host ports.
			if msg := forbiddenSysctl(pod); msg != "" {
				p.add(podAction{kind: actReject, reason: sysctlForbiddenReason, message: msg})
				return p
			}
			if v.refused != "" {
				p.add(podAction{kind: actReject, reason: nodePortsReason, message: v.refused})
				return p
			}
		}
		if pastActiveDeadline(v) {
			p.add(podAction{kind: actFail, grace: podGrace(pod), reason: deadlineReason, message: deadlineMessage})
			return p
		}
		planProbes(v, &p)
		planContainers(v, &p)
		if len(p.actions) > 0 {
			// The phase is judged once they ran.
			return p
		}
	}
	if ph := podPhase(v); (ph == v1.PodSucceeded || ph == v1.PodFailed) && (!v.terminal || !v.torndown) {
		p.add(podAction{kind: actFinish, grace: podGrace(pod)})
	}
	return p
}

// pastActiveDeadline reports whether the pod ran longer than its
// spec.activeDeadlineSeconds, counted from status.startTime, as the
// kubelet's activeDeadlineHandler does; the field may be lowered while
// the pod runs.
func pastActiveDeadline(v *podView) bool {
	ads := v.pod.Spec.ActiveDeadlineSeconds
	if ads == nil || v.startTime.IsZero() {
		return false
	}
	return v.now.Sub(v.startTime) >= time.Duration(*ads)*time.Second
}

// planProbes starts the probes of running containers that have none
// running (new containers, and adopted ones once the sandbox is known).
func planProbes(v *podView, p *podPlan) {
	if !v.sandbox {
		return
	}
	for _, name := range containerNames(v.pod) {
		if st := v.containers[name]; st != nil && st.running && st.stopProb == nil {
			p.add(podAction{kind: actStartProbes, name: name})
		}
	}
}

// containerNames are the names of pod's containers in spec order: init,
// regular, ephemeral (a plan is the same for the same view).
func containerNames(pod *v1.Pod) []string {
	var names []string
	for i := range pod.Spec.InitContainers {
		names = append(names, pod.Spec.InitContainers[i].Name)
	}
	for i := range pod.Spec.Containers {
		names = append(names, pod.Spec.Containers[i].Name)
	}
	for i := range pod.Spec.EphemeralContainers {
		names = append(names, pod.Spec.EphemeralContainers[i].Name)
	}
	return names
}

// planContainers is the kubelet's computePodActions, for a pod that may
// still run: volumes, then the sandbox, then which containers start.
func planContainers(v *podView, p *podPlan) {
	pod, now := v.pod, v.now
	switch v.volumeStep() {
	case volumesWait:
		return
	case volumesSetup:
		p.add(podAction{kind: actSetupVolumes})
	}
	if !v.sandbox {
		if now.Before(v.sandboxAt) {
			return
		}
		p.add(podAction{kind: actCreateSandbox})
	}
	// Ephemeral containers start whatever the init containers are doing,
	// once: they are never restarted.
	for i := range pod.Spec.EphemeralContainers {
		name := pod.Spec.EphemeralContainers[i].Name
		if st := v.containers[name]; st == nil || (!st.started && !now.Before(st.next)) {
			p.add(podAction{kind: actStart, name: name})
		}
	}
	// Sidecars (init containers with restartPolicy Always) that were
	// started once are restarted whenever they exit, during the init
	// phase and after it.
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		st := v.containers[c.Name]
		if isSidecar(c) && st != nil && st.started && !st.running && !now.Before(st.next) {
			p.add(podAction{kind: actStart, name: c.Name, init: true})
		}
	}
	if v.initFailed {
		return
	}
	if !v.initDone {
		if !planInit(v, p) {
			return
		}
		p.add(podAction{kind: actInitDone})
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		if st := v.containers[c.Name]; st != nil {
			if st.running || now.Before(st.next) {
				continue
			}
			if st.term != nil && !willRestart(pod.Spec.RestartPolicy, int(st.term.ExitCode)) {
				continue
			}
		}
		p.add(podAction{kind: actStart, name: c.Name})
	}
}

// planInit walks the init containers in order: it starts the first one
// that has not completed, and reports whether all have. A sidecar holds up
// the ones after it until it started (its startup probe passed once); it
// keeps running.
func planInit(v *podView, p *podPlan) bool {
	pod, now := v.pod, v.now
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		st := v.containers[c.Name]
		if isSidecar(c) {
			if st == nil || (!st.started && !now.Before(st.next)) {
				// Planned again once it ran: whether it is up by then
				// decides about the next one.
				p.add(podAction{kind: actStart, name: c.Name, init: true})
				return false
			}
			if st.upOnce {
				continue // an exit is the restart pass' to handle
			}
			return false
		}
		switch {
		case st != nil && st.running:
			return false
		case st != nil && st.term != nil && st.term.ExitCode == 0:
			continue
		case st != nil && st.term != nil && pod.Spec.RestartPolicy == v1.RestartPolicyNever:
			p.add(podAction{kind: actInitFailed})
			return false
		case st != nil && now.Before(st.next):
			return false
		}
		p.add(podAction{kind: actStart, name: c.Name, init: true})
		return false
	}
	return true
}

type volumeStep int

const (
	volumesReady volumeStep = iota // usable as they are
	volumesSetup                   // set up or refresh them now
	volumesWait                    // none usable yet, and not time to try again
)

// volumeStep says what the pod's volumes need before containers start:
// they are set up before the sandbox, and refreshed every resync and
// whenever the pod's labels or annotations change, which is how ConfigMap
// and Secret updates and label changes reach mounted files. A failed setup
// is tried again after its retry time.
func (v *podView) volumeStep() volumeStep {
	vv := &v.vols
	switch {
	case !vv.managed:
		return volumesReady
	case vv.set && vv.failed && v.now.Before(vv.retry):
		return volumesReady
	case vv.set && !vv.failed && (!refreshed(v.pod) || v.now.Sub(vv.at) < vv.resync && maps.Equal(v.pod.Labels, vv.labels) && maps.Equal(v.pod.Annotations, vv.annotations)):
		return volumesReady
	case !vv.set && v.now.Before(vv.retry):
		return volumesWait
	}
	return volumesSetup
}

// wakeAt is when the worker must plan again though nothing happened: a
// back-off or retry ends, or the active deadline passes. Zero: at the
// next resync.
func (v *podView) wakeAt() time.Time {
	var next time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, st := range v.containers {
		if !st.running && st.next.After(v.now) {
			earliest(st.next)
		}
	}
	if !v.vols.set {
		earliest(v.vols.retry)
	}
	if !v.sandbox {
		earliest(v.sandboxAt)
	}
	if ads := v.pod.Spec.ActiveDeadlineSeconds; ads != nil && !v.terminal && !v.startTime.IsZero() {
		earliest(v.startTime.Add(time.Duration(*ads) * time.Second))
	}
	return next
}

// podPhase follows Kubernetes' getPhase.
func podPhase(v *podView) v1.PodPhase {
	pod := v.pod
	if v.initFailed || v.failReason != "" {
		return v1.PodFailed
	}
	if v.terminal && pod.Status.Phase != "" && len(v.containers) == 0 {
		return pod.Status.Phase
	}
	if !v.initDone {
		return v1.PodPending
	}
	var waiting, running, succeeded, failed, restarting int
	for _, c := range pod.Spec.Containers {
		st := v.containers[c.Name]
		switch {
		case st == nil || !st.started:
			waiting++
		case st.running:
			running++
		case st.term != nil && willRestart(pod.Spec.RestartPolicy, int(st.term.ExitCode)) && !v.terminal:
			restarting++
		case st.term != nil && st.term.ExitCode == 0:
			succeeded++
		case st.term != nil:
			failed++
		default:
			waiting++
		}
	}
	switch {
	case waiting > 0:
		return v1.PodPending
	case running > 0 || restarting > 0:
		return v1.PodRunning
	case failed > 0:
		return v1.PodFailed
	case succeeded > 0:
		return v1.PodSucceeded
	}
	return v1.PodPending
}

// crashBackoff is the delay before restart number crashes (1 = first
// crash): none, then 10 s doubling up to maxBackoff (the kubelet's 5 min).
func crashBackoff(crashes int, maxBackoff time.Duration) time.Duration {
	if crashes <= 1 {
		return 0
	}
	d := backoffBase
	for i := 2; i < crashes && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// pullBackoff is the delay after failed pull number n.
func pullBackoff(n int, maxBackoff time.Duration) time.Duration {
	d := backoffBase
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// restartAfterExit is the back-off of a container that ran from started to
// finished after crashes earlier crashes: its new crash count, and when it
// may start again. A container that ran for backoffResetTime (10 min) has
// its count forgotten, as the kubelet's back-off entries expire.
func restartAfterExit(crashes int, started, finished time.Time, maxBackoff time.Duration) (int, time.Time) {
	if finished.Sub(started) >= backoffResetTime {
		crashes = 0
	}
	crashes++
	return crashes, finished.Add(crashBackoff(crashes, maxBackoff))
}
