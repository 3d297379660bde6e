package kubelet

import (
	"context"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
)

// computeStatus is the pod's status as this worker observed it; times of
// conditions that did not change are kept from the pod's current status so
// that an unchanged pod compares equal.
func (w *podWorker) computeStatus(pod *v1.Pod, now time.Time) v1.PodStatus {
	old := pod.Status
	// As the kubelet's status manager with PodObservedGenerationTracking
	// (GA, locked on since 1.35): the status, and each condition the agent
	// owns, says which generation of the spec it was computed from.
	s := v1.PodStatus{QOSClass: old.QOSClass, ObservedGeneration: pod.Generation}
	if w.deps.nodeIP != "" {
		s.HostIP = w.deps.nodeIP
		s.HostIPs = []v1.HostIP{{IP: w.deps.nodeIP}}
	}
	s.StartTime = old.StartTime
	if s.StartTime == nil {
		t := metav1.NewTime(w.firstSeen)
		s.StartTime = &t
	}
	switch {
	case w.sandbox != nil && w.sandbox.IP != "":
		s.PodIP = w.sandbox.IP
		s.PodIPs = []v1.PodIP{{IP: w.sandbox.IP}}
	case w.terminal || w.torndown:
		s.PodIP, s.PodIPs = old.PodIP, old.PodIPs
	}
	if pod.Spec.HostNetwork && s.PodIP == "" && w.deps.nodeIP != "" && !w.terminal {
		s.PodIP = w.deps.nodeIP
		s.PodIPs = []v1.PodIP{{IP: w.deps.nodeIP}}
	}

	// Sidecars count for the pod's readiness as regular containers do.
	// The conditions' messages name the containers, as the kubelet's
	// (status.GenerateContainersReadyCondition and
	// GeneratePodInitializedCondition).
	var unready, incomplete []string
	allReady := len(pod.Spec.Containers) > 0
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cs := w.containerStatus(pod, c, true)
		if isSidecar(c) {
			allReady = allReady && cs.Ready
			if !cs.Ready {
				unready = append(unready, c.Name)
			}
			if cs.Started == nil || !*cs.Started {
				incomplete = append(incomplete, c.Name)
			}
		} else if t := cs.State.Terminated; t == nil || t.ExitCode != 0 {
			incomplete = append(incomplete, c.Name)
		}
		s.InitContainerStatuses = append(s.InitContainerStatuses, cs)
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cs := w.containerStatus(pod, c, false)
		allReady = allReady && cs.Ready
		if !cs.Ready {
			unready = append(unready, c.Name)
		}
		s.ContainerStatuses = append(s.ContainerStatuses, cs)
	}
	// Ephemeral containers count for nothing but their own status.
	for i := range pod.Spec.EphemeralContainers {
		cs := w.containerStatus(pod, (*v1.Container)(&pod.Spec.EphemeralContainers[i].EphemeralContainerCommon), false)
		cs.Ready = false // as the kubelet's: no prober ever reports them
		s.EphemeralContainerStatuses = append(s.EphemeralContainerStatuses, cs)
	}
	s.Phase = podPhase(w.view(pod, false, now))
	if w.failReason != "" {
		s.Reason, s.Message = w.failReason, w.failMessage
	}

	ready := allReady && s.Phase == v1.PodRunning
	reason, message := "", ""
	if !ready {
		reason = "ContainersNotReady"
		if len(unready) > 0 {
			message = fmt.Sprintf("containers with unready status: %s", unready)
		}
		if s.Phase == v1.PodSucceeded || s.Phase == v1.PodFailed {
			reason, message = "PodCompleted", ""
		}
	}
	initReason, initMessage := "", ""
	if !w.initDone {
		initReason = "ContainersNotInitialized"
		if len(incomplete) > 0 {
			initMessage = fmt.Sprintf("containers with incomplete status: %s", incomplete)
		}
	}
	conds := []v1.PodCondition{
		{Type: v1.PodReadyToStartContainers, Status: boolStatus(w.sandbox != nil)},
		{Type: v1.PodInitialized, Status: boolStatus(w.initDone), Reason: initReason, Message: initMessage},
		{Type: v1.ContainersReady, Status: boolStatus(ready), Reason: reason, Message: message},
		{Type: v1.PodReady, Status: boolStatus(ready), Reason: reason, Message: message},
		{Type: v1.PodScheduled, Status: v1.ConditionTrue},
	}
	for i := range conds {
		c := &conds[i]
		c.LastTransitionTime = metav1.NewTime(now.Truncate(time.Second))
		for _, oc := range old.Conditions {
			if oc.Type == c.Type {
				if oc.Status == c.Status {
					c.LastTransitionTime = oc.LastTransitionTime
				}
				if c.Type == v1.PodScheduled {
					*c = oc
				}
			}
		}
		c.ObservedGeneration = pod.Generation
	}
	s.Conditions = conds
	// Keep conditions others own (readiness gates, disruption targets).
	for _, oc := range old.Conditions {
		switch oc.Type {
		case v1.PodReadyToStartContainers, v1.PodInitialized, v1.ContainersReady, v1.PodReady, v1.PodScheduled:
		default:
			s.Conditions = append(s.Conditions, oc)
		}
	}
	return s
}

func boolStatus(b bool) v1.ConditionStatus {
	if b {
		return v1.ConditionTrue
	}
	return v1.ConditionFalse
}

// defaultWaitingReason is the waiting reason of a container that has no
// state of its own yet, as the kubelet's convertToAPIContainerStatuses
// sets it: PodInitializing for every container (init ones included) of a
// pod with init containers, ContainerCreating otherwise.
func defaultWaitingReason(pod *v1.Pod) string {
	if len(pod.Spec.InitContainers) > 0 {
		return "PodInitializing"
	}
	return "ContainerCreating"
}

func (w *podWorker) containerStatus(pod *v1.Pod, c *v1.Container, init bool) v1.ContainerStatus {
	st := w.state[c.Name]
	cs := v1.ContainerStatus{Name: c.Name, Image: c.Image}
	f := false
	cs.Started = &f
	if st == nil {
		cs.State.Waiting = &v1.ContainerStateWaiting{Reason: defaultWaitingReason(pod)}
		return cs
	}
	if st.id != "" {
		cs.ContainerID = "containerd://" + st.id
	}
	cs.ImageID = st.imageID
	cs.RestartCount = int32(st.attempt)
	if st.last != nil {
		cs.LastTerminationState.Terminated = st.last.DeepCopy()
	}
	switch {
	case st.running:
		cs.State.Running = &v1.ContainerStateRunning{StartedAt: metav1.NewTime(st.startAt)}
		started := st.startup
		cs.Started = &started
		switch {
		case init && !isSidecar(c):
			// Not ready until it completed.
		case c.ReadinessProbe == nil:
			cs.Ready = started
		default:
			cs.Ready = st.ready && started
		}
	case st.term != nil && st.waiting != "" && !w.terminal:
		// Exited, waiting for its restart.
		cs.State.Waiting = &v1.ContainerStateWaiting{Reason: st.waiting, Message: st.message}
		cs.LastTerminationState.Terminated = st.term.DeepCopy()
	case st.term != nil:
		cs.State.Terminated = st.term.DeepCopy()
		// A regular init container that completed is ready, as the
		// kubelet's prober manager reports it.
		cs.Ready = init && !isSidecar(c) && st.term.ExitCode == 0
	default:
		reason := st.waiting
		if reason == "ErrImagePull" && w.now().Before(st.next) && st.message != "" && w.shownPullError(c.Name) {
			reason = "ImagePullBackOff"
		}
		if reason == "" {
			reason = defaultWaitingReason(pod)
		}
		msg := st.message
		if reason == "ImagePullBackOff" {
			msg = "Back-off pulling image \"" + c.Image + "\": " + st.message
		}
		cs.State.Waiting = &v1.ContainerStateWaiting{Reason: reason, Message: msg}
	}
	return cs
}

// shownPullError reports whether ErrImagePull was already posted for the
// container, so the next status says ImagePullBackOff as Kubernetes does.
func (w *podWorker) shownPullError(name string) bool {
	pod, _ := w.latest()
	if pod == nil {
		return false
	}
	for _, cs := range append(append(append([]v1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...), pod.Status.EphemeralContainerStatuses...) {
		if cs.Name == name && cs.State.Waiting != nil && (cs.State.Waiting.Reason == "ErrImagePull" || cs.State.Waiting.Reason == "ImagePullBackOff") {
			return true
		}
	}
	return false
}

// publish hands status to the worker's status poster when it differs from
// what the API holds; a newer status replaces one not yet written, so a
// burst of changes costs one or two writes, never one each.
func (w *podWorker) publish(pod *v1.Pod, status v1.PodStatus) {
	if w.terminal && len(w.state) == 0 && w.failReason == "" {
		// Finished before this agent saw it: the status is final.
		return
	}
	w.statusMu.Lock()
	if equality.Semantic.DeepEqual(pod.Status, status) {
		// Nothing to write, and a write not yet made is not needed.
		w.wanted = nil
		w.statusMu.Unlock()
		return
	}
	w.wanted = &status
	w.statusMu.Unlock()
	select {
	case w.statusKick <- struct{}{}:
	default:
	}
}

// postStatuses writes the wanted status through the status subresource
// whenever one is published, so that a slow write never holds up the
// worker and a change is posted as soon as the previous write is done.
func (w *podWorker) postStatuses(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.done:
			return
		case <-w.statusKick:
		}
		w.statusMu.Lock()
		want := w.wanted
		w.wanted = nil
		w.statusMu.Unlock()
		if want != nil {
			w.writeStatus(ctx, want)
		}
	}
}

// replacePod makes p the worker's copy of its pod, unless that copy is no
// longer the one at resourceVersion rv (the informer brought a newer one).
func (w *podWorker) replacePod(rv string, p *v1.Pod) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pod != nil && w.pod.ResourceVersion == rv {
		w.pod = p
	}
}

// writeStatus posts want on the newest copy of the pod (workers are per
// pod UID, so it is always the pod want was computed for). On a conflict it
// fetches the pod and wakes the worker, which computes the status again
// from it; other failures are retried at the next resync.
func (w *podWorker) writeStatus(ctx context.Context, want *v1.PodStatus) {
	base, _ := w.latest()
	if base == nil || equality.Semantic.DeepEqual(base.Status, *want) {
		return
	}
	p := base.DeepCopy()
	p.Status = *want
	// Never step back (want may come from an older copy of the pod).
	p.Status.ObservedGeneration = max(p.Status.ObservedGeneration, base.Status.ObservedGeneration)
	t0 := time.Now()
	updated, err := w.deps.pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	observeStep("status_write", t0)
	switch {
	case err == nil:
		w.replacePod(base.ResourceVersion, updated)
		if !w.postedRunning && want.Phase == v1.PodRunning {
			w.postedRunning = true
			if base.Status.Phase != v1.PodRunning { // not an adopted pod
				observeStep("pod_start", w.firstSeen)
			}
			klog.FromContext(ctx).V(1).Info("pod running", "sinceSeen", time.Since(w.firstSeen).Round(time.Millisecond),
				"sinceCreated", time.Since(base.CreationTimestamp.Time).Round(time.Millisecond))
		}
	case apierrors.IsConflict(err):
		fresh, gerr := w.deps.pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if gerr != nil || fresh.UID != p.UID {
			return
		}
		w.replacePod(base.ResourceVersion, fresh)
		w.wake()
	case !apierrors.IsNotFound(err):
		klog.FromContext(ctx).Error(err, "updating pod status", "pod", klog.KObj(p))
	}
}
