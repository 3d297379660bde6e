package kubelet

import (
	"errors"
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func sidecarPod(policy v1.RestartPolicy) *v1.Pod {
	pod := testPod(policy)
	always := v1.ContainerRestartPolicyAlways
	pod.Spec.InitContainers = []v1.Container{
		{Name: "proxy", Image: "img:1", RestartPolicy: &always},
		{Name: "setup", Image: "img:1"},
	}
	return pod
}

func initStatus(st *v1.PodStatus, name string) *v1.ContainerStatus {
	for i := range st.InitContainerStatuses {
		if st.InitContainerStatuses[i].Name == name {
			return &st.InitContainerStatuses[i]
		}
	}
	return nil
}

// A sidecar starts before the next init container without blocking it,
// keeps running beside the regular containers, counts as started and
// ready, and is restarted when it exits whatever the pod's policy.
func TestSidecarStartsAndRestarts(t *testing.T) {
	rt := newFakeRuntime()
	zero := 0
	rt.exitCode["setup"] = &zero
	_, client, _ := startWorker(t, sidecarPod(v1.RestartPolicyNever), rt)
	eventually(t, "running and ready", func() bool {
		st := lastStatus(client)
		return st != nil && st.Phase == v1.PodRunning && len(st.Conditions) > 3 && st.Conditions[3].Status == v1.ConditionTrue
	})
	calls := rt.Calls()
	if p, s, c := index(calls, "start proxy-0"), index(calls, "start setup-0"), index(calls, "start c-0"); p < 0 || s < p || c < s {
		t.Fatalf("calls = %v, want proxy, then setup, then c started", calls)
	}
	st := lastStatus(client)
	proxy, setup := initStatus(st, "proxy"), initStatus(st, "setup")
	if proxy.State.Running == nil || proxy.Started == nil || !*proxy.Started || !proxy.Ready {
		t.Errorf("sidecar status = %+v, want running, started and ready", proxy)
	}
	if setup.State.Terminated == nil || setup.State.Terminated.Reason != "Completed" || !setup.Ready {
		t.Errorf("init container status = %+v, want terminated Completed and ready", setup)
	}

	rt.exit("proxy-0", 1)
	eventually(t, "the sidecar restarted", func() bool { return slices.Contains(rt.Calls(), "start proxy-1") })
	if slices.Contains(rt.Calls(), "start setup-1") || slices.Contains(rt.Calls(), "start c-1") {
		t.Errorf("a sidecar restart re-ran other containers: %v", rt.Calls())
	}
}

// When the regular containers of a Never pod are done, the pod's phase
// follows them and the sidecar is stopped.
func TestSidecarStoppedWhenPodCompletes(t *testing.T) {
	rt := newFakeRuntime()
	zero := 0
	rt.exitCode["setup"] = &zero
	rt.exitCode["c"] = &zero
	_, client, _ := startWorker(t, sidecarPod(v1.RestartPolicyNever), rt)
	eventually(t, "Succeeded", func() bool {
		st := lastStatus(client)
		return st != nil && st.Phase == v1.PodSucceeded
	})
	eventually(t, "the sidecar stopped", func() bool { return slices.Contains(rt.Calls(), "stop proxy-0") })
	eventually(t, "the sidecar terminated in the status", func() bool {
		st := lastStatus(client)
		cs := initStatus(st, "proxy")
		return cs != nil && cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 137
	})
	if slices.Contains(rt.Calls(), "start proxy-1") {
		t.Errorf("sidecar restarted after the pod completed: %v", rt.Calls())
	}
}

// A startup probe holds the container's started and ready until it
// passes, and its failure threshold kills the container, which restarts.
func TestStartupProbe(t *testing.T) {
	for _, tt := range []struct {
		name     string
		execCode int
	}{
		{"passes", 0},
		{"fails", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rt := newFakeRuntime()
			rt.execCode = tt.execCode
			pod := testPod(v1.RestartPolicyAlways)
			exec := v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"check"}}}
			pod.Spec.Containers[0].StartupProbe = &v1.Probe{ProbeHandler: exec, PeriodSeconds: 1, FailureThreshold: 1}
			pod.Spec.Containers[0].LivenessProbe = &v1.Probe{ProbeHandler: exec, PeriodSeconds: 1, FailureThreshold: 1}
			_, client, _ := startWorker(t, pod, rt)
			if tt.execCode == 0 {
				eventually(t, "started and ready", func() bool {
					st := lastStatus(client)
					return st != nil && len(st.ContainerStatuses) == 1 && st.ContainerStatuses[0].Started != nil &&
						*st.ContainerStatuses[0].Started && st.ContainerStatuses[0].Ready
				})
				return
			}
			eventually(t, "a restart after the startup probe failed", func() bool {
				st := lastStatus(client)
				return st != nil && len(st.ContainerStatuses) == 1 && st.ContainerStatuses[0].RestartCount >= 1
			})
			for _, s := range lastStatusesOf(client) {
				if len(s.ContainerStatuses) == 1 && s.ContainerStatuses[0].State.Running != nil && s.ContainerStatuses[0].Ready {
					t.Fatalf("container reported ready before its startup probe passed: %+v", s.ContainerStatuses[0])
				}
			}
		})
	}
}

// lastStatusesOf is every status the worker wrote, in order.
func lastStatusesOf(client *fake.Clientset) []v1.PodStatus {
	var out []v1.PodStatus
	for _, a := range client.Actions() {
		if u, ok := a.(k8stesting.UpdateAction); ok && a.GetSubresource() == "status" {
			out = append(out, u.GetObject().(*v1.Pod).Status)
		}
	}
	return out
}

// A sidecar that could not start holds up the init containers after it
// until an attempt of it runs.
func TestSidecarThatCannotStartBlocksInit(t *testing.T) {
	rt := newFakeRuntime()
	zero := 0
	rt.exitCode["setup"] = &zero
	rt.startErr = map[string]error{"proxy": &StartError{errors.New("exec failed")}}
	_, client, _ := startWorker(t, sidecarPod(v1.RestartPolicyAlways), rt)
	eventually(t, "two failed starts of the sidecar", func() bool { return slices.Contains(rt.Calls(), "start proxy-1") })
	if slices.Contains(rt.Calls(), "start setup-0") {
		t.Fatalf("init container started after a sidecar that never ran: %v", rt.Calls())
	}
	rt.mu.Lock()
	rt.startErr = nil
	rt.mu.Unlock()
	eventually(t, "running", func() bool {
		st := lastStatus(client)
		return st != nil && st.Phase == v1.PodRunning
	})
	if !slices.Contains(rt.Calls(), "start setup-0") {
		t.Errorf("init container not run once the sidecar ran: %v", rt.Calls())
	}
}
