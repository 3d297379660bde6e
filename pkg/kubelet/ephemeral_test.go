package kubelet

import (
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestEphemeralContainer: an ephemeral container added to a running pod
// is started once, in the pod's sandbox and the target's process
// namespace, shows in ephemeralContainerStatuses (never ready), and is
// not restarted when it exits, even under restartPolicy Always; the pod
// runs on.
func TestEphemeralContainer(t *testing.T) {
	rt := newFakeRuntime()
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-p"},
		Spec: v1.PodSpec{NodeName: "n1", RestartPolicy: v1.RestartPolicyAlways,
			Containers: []v1.Container{{Name: "c", Image: "minik8s/toolbox"}}},
	}
	w, client, _ := startWorker(t, pod, rt)
	eventually(t, "running", func() bool {
		st := lastStatus(client)
		return st != nil && st.Phase == v1.PodRunning
	})
	debug := pod.DeepCopy()
	debug.Spec.EphemeralContainers = []v1.EphemeralContainer{{
		EphemeralContainerCommon: v1.EphemeralContainerCommon{Name: "debug", Image: "minik8s/toolbox", Stdin: true, TTY: true},
		TargetContainerName:      "c",
	}}
	w.update(debug)
	eventually(t, "the ephemeral container running in the status", func() bool {
		st := lastStatus(client)
		return st != nil && len(st.EphemeralContainerStatuses) == 1 && st.EphemeralContainerStatuses[0].State.Running != nil
	})
	started, ok := rt.startedWith("debug-0")
	if !ok {
		t.Fatalf("calls = %v, want debug-0 started", rt.Calls())
	}
	if !started.opts.Ephemeral || started.opts.TargetID != "c-0" {
		t.Errorf("started with Ephemeral %v, TargetID %q, want true and the target's c-0", started.opts.Ephemeral, started.opts.TargetID)
	}
	if !started.c.Stdin || !started.c.TTY {
		t.Errorf("started with stdin %v, tty %v, want both as asked", started.c.Stdin, started.c.TTY)
	}
	if st := lastStatus(client); st.EphemeralContainerStatuses[0].Ready {
		t.Errorf("ephemeral container ready, want never ready")
	}

	rt.exit("debug-0", 1)
	eventually(t, "the ephemeral container terminated in the status", func() bool {
		st := lastStatus(client)
		return st != nil && len(st.EphemeralContainerStatuses) == 1 && st.EphemeralContainerStatuses[0].State.Terminated != nil
	})
	// A second one, started by a later pass: that pass would have
	// restarted the first.
	second := debug.DeepCopy()
	second.Spec.EphemeralContainers = append(second.Spec.EphemeralContainers, v1.EphemeralContainer{
		EphemeralContainerCommon: v1.EphemeralContainerCommon{Name: "debug2", Image: "minik8s/toolbox"}})
	w.update(second)
	eventually(t, "the second ephemeral container started", func() bool { return slices.Contains(rt.Calls(), "start debug2-0") })
	if calls := rt.Calls(); slices.Contains(calls, "start debug-1") {
		t.Errorf("calls = %v, want the ephemeral container never restarted", calls)
	}
	st := lastStatus(client)
	if st.Phase != v1.PodRunning {
		t.Errorf("phase %s, want Running: the pod runs on", st.Phase)
	}
	if cs := st.EphemeralContainerStatuses[0]; cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 1 {
		t.Errorf("got exit code %d, want 1", cs.State.Terminated.ExitCode)
	}
}
