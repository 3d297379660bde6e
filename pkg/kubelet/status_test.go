package kubelet

import (
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// TestStatusObservedGeneration: as the kubelet's with
// PodObservedGenerationTracking, the status the agent posts, and each
// condition it owns (PodScheduled, which the binding wrote, included),
// carry the generation of the spec they were computed from; a spec update
// (a new generation) is posted even when nothing else changed, and a copy
// of the pod with the same generation costs no write.
func TestStatusObservedGeneration(t *testing.T) {
	rt := newFakeRuntime()
	pod := testPod(v1.RestartPolicyAlways)
	pod.Generation = 1
	pod.Spec.InitContainers = []v1.Container{{Name: "init", Image: "img:1"}}
	zero := 0
	rt.exitCode["init"] = &zero
	pod.Status.Conditions = []v1.PodCondition{{Type: v1.PodScheduled, Status: v1.ConditionTrue}}
	w, writes := startQuietWorker(t, pod, rt)
	eventually(t, "running and ready posted", func() bool {
		st := writes.last()
		return st != nil && st.Phase == v1.PodRunning && podStatusReady(st)
	})
	checkObservedGeneration(t, writes.last(), 1)

	// An update of the spec (tolerations, as the conformance test does):
	// the API server moved generation to 2.
	cur, _ := w.latest()
	updated := cur.DeepCopy()
	updated.Generation = 2
	updated.ResourceVersion = "100"
	updated.Spec.Tolerations = []v1.Toleration{{Key: "k", Operator: v1.TolerationOpExists}}
	before := writes.count()
	w.update(updated)
	eventually(t, "generation 2 observed", func() bool {
		st := writes.last()
		return st != nil && st.ObservedGeneration == 2
	})
	checkObservedGeneration(t, writes.last(), 2)
	if n := writes.count() - before; n != 1 {
		t.Errorf("a new generation cost %d status writes, want 1", n)
	}

	// A metadata-only update keeps generation: nothing to write.
	cur, _ = w.latest()
	relabeled := cur.DeepCopy()
	relabeled.ResourceVersion = "200"
	relabeled.Labels = map[string]string{"a": "b"}
	before = writes.count()
	w.update(relabeled)
	time.Sleep(100 * time.Millisecond)
	if n := writes.count() - before; n != 0 {
		t.Errorf("a metadata update cost %d status writes, want 0", n)
	}
}

func checkObservedGeneration(t *testing.T, st *v1.PodStatus, want int64) {
	t.Helper()
	if st.ObservedGeneration != want {
		t.Errorf("status.observedGeneration %d, want %d", st.ObservedGeneration, want)
	}
	seen := map[v1.PodConditionType]bool{}
	for _, c := range st.Conditions {
		seen[c.Type] = true
		if c.ObservedGeneration != want {
			t.Errorf("condition %s: observedGeneration %d, want %d", c.Type, c.ObservedGeneration, want)
		}
	}
	for _, ct := range []v1.PodConditionType{v1.PodReadyToStartContainers, v1.PodInitialized, v1.PodReady, v1.ContainersReady, v1.PodScheduled} {
		if !seen[ct] {
			t.Errorf("condition %s missing", ct)
		}
	}
}

// TestForbiddenSysctlRejected: as the kubelet's sysctl admission handler
// and rejectPod, a pod asking for a sysctl off the safe list fails at
// once with reason SysctlForbidden, nothing of it started.
func TestForbiddenSysctlRejected(t *testing.T) {
	rt := newFakeRuntime()
	pod := testPod(v1.RestartPolicyNever)
	pod.Spec.SecurityContext = &v1.PodSecurityContext{Sysctls: []v1.Sysctl{{Name: "kernel.msgmax", Value: "10000000000"}}}
	_, client, _ := startWorker(t, pod, rt)
	eventually(t, "failed posted", func() bool {
		st := lastStatus(client)
		return st != nil && st.Phase == v1.PodFailed
	})
	st := lastStatus(client)
	if want := `Pod was rejected: forbidden sysctl: "kernel.msgmax" not allowlisted`; st.Reason != sysctlForbiddenReason || st.Message != want {
		t.Errorf("got reason %q message %q, want %q %q", st.Reason, st.Message, sysctlForbiddenReason, want)
	}
	for _, c := range rt.Calls() {
		if c == "sandbox" || strings.HasPrefix(c, "start ") {
			t.Errorf("calls = %v, want nothing of the pod started", rt.Calls())
			break
		}
	}
}

// TestDefaultWaitingReason: a container with no state of its own yet
// waits with the kubelet's default reason: PodInitializing for every
// container of a pod with init containers (the conformance test of a
// failing init container checks the second one and the app container),
// ContainerCreating otherwise.
func TestDefaultWaitingReason(t *testing.T) {
	w := &podWorker{state: map[string]*ctrState{"init1": {name: "init1"}}}
	pod := testPod(v1.RestartPolicyAlways)
	pod.Spec.InitContainers = []v1.Container{{Name: "init1", Image: "img"}, {Name: "init2", Image: "img"}}
	for _, tt := range []struct {
		c    *v1.Container
		init bool
	}{{&pod.Spec.InitContainers[0], true}, {&pod.Spec.InitContainers[1], true}, {&pod.Spec.Containers[0], false}} {
		cs := w.containerStatus(pod, tt.c, tt.init)
		if cs.State.Waiting == nil || cs.State.Waiting.Reason != "PodInitializing" {
			t.Errorf("%s: state %+v, want waiting PodInitializing", tt.c.Name, cs.State)
		}
	}
	plain := testPod(v1.RestartPolicyAlways)
	if cs := w.containerStatus(plain, &plain.Spec.Containers[0], false); cs.State.Waiting == nil || cs.State.Waiting.Reason != "ContainerCreating" {
		t.Errorf("pod without init containers: state %+v, want waiting ContainerCreating", cs.State)
	}
}
