package kubelet

import (
	"context"
	"slices"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

// t0 is the planning tests' now.
var t0 = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

func ctr(name string) v1.Container { return v1.Container{Name: name, Image: "img:1"} }

func sidecarCtr(name string) v1.Container {
	always := v1.ContainerRestartPolicyAlways
	c := ctr(name)
	c.RestartPolicy = &always
	return c
}

// planTestPod is a pod with init containers inits and regular containers
// names, restarting by policy, with a 7 s grace period.
func planTestPod(policy v1.RestartPolicy, inits []v1.Container, names ...string) *v1.Pod {
	grace := int64(7)
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-1"},
		Spec:       v1.PodSpec{RestartPolicy: policy, TerminationGracePeriodSeconds: &grace, InitContainers: inits},
	}
	for _, n := range names {
		pod.Spec.Containers = append(pod.Spec.Containers, ctr(n))
	}
	return pod
}

func noProbes() {}

// runningCtr is a container running since 1 min before t0, up (startup
// probe passed) and probed.
func runningCtr(name string) *ctrState {
	return &ctrState{name: name, id: name + "-0", started: true, running: true, startAt: t0.Add(-time.Minute),
		startup: true, upOnce: true, crashes: 1, stopProb: noProbes}
}

// exitedCtr is a container that exited with code, to be started again not
// before next.
func exitedCtr(name string, code int32, next time.Time) *ctrState {
	reason := "Error"
	if code == 0 {
		reason = "Completed"
	}
	return &ctrState{name: name, id: name + "-0", started: true, upOnce: true, crashes: 1, next: next,
		term: &v1.ContainerStateTerminated{ExitCode: code, Reason: reason}}
}

// readyView is the view of pod with its volumes and sandbox up, its init
// containers done when it has none, and containers cs.
func readyView(pod *v1.Pod, cs ...*ctrState) *podView {
	v := &podView{pod: pod, now: t0, startTime: t0.Add(-time.Hour), vols: volumeView{set: true}, sandbox: true,
		initDone: len(pod.Spec.InitContainers) == 0, containers: map[string]*ctrState{}}
	for _, c := range cs {
		v.containers[c.name] = c
	}
	return v
}

func planStrings(p podPlan) []string {
	out := []string{}
	for _, a := range p.actions {
		out = append(out, a.String())
	}
	return out
}

func TestPlanPod(t *testing.T) {
	past, future := t0.Add(-time.Second), t0.Add(10*time.Second)
	deleted := func(grace *int64) *v1.Pod {
		pod := planTestPod(v1.RestartPolicyAlways, nil, "c")
		now := metav1.NewTime(t0)
		pod.DeletionTimestamp, pod.DeletionGracePeriodSeconds = &now, grace
		return pod
	}
	withDeadline := func(seconds int64) *v1.Pod {
		pod := planTestPod(v1.RestartPolicyAlways, nil, "c")
		pod.Spec.ActiveDeadlineSeconds = &seconds
		return pod
	}
	withSysctls := func(hostNetwork bool, names ...string) *v1.Pod {
		pod := planTestPod(v1.RestartPolicyAlways, nil, "c")
		pod.Spec.HostNetwork = hostNetwork
		pod.Spec.SecurityContext = &v1.PodSecurityContext{}
		for _, n := range names {
			pod.Spec.SecurityContext.Sysctls = append(pod.Spec.SecurityContext.Sysctls, v1.Sysctl{Name: n, Value: "1"})
		}
		return pod
	}
	withVolume := func() *v1.Pod {
		pod := planTestPod(v1.RestartPolicyAlways, nil, "c")
		pod.Labels = map[string]string{"app": "a"}
		pod.Spec.Volumes = []v1.Volume{{Name: "cm", VolumeSource: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{}}}}
		return pod
	}
	initPod := planTestPod(v1.RestartPolicyAlways, []v1.Container{ctr("i1"), ctr("i2")}, "c1", "c2")
	initNever := planTestPod(v1.RestartPolicyNever, []v1.Container{ctr("i1"), ctr("i2")}, "c1")
	initOnFailure := planTestPod(v1.RestartPolicyOnFailure, []v1.Container{ctr("i1")}, "c1")
	sidecarPod := planTestPod(v1.RestartPolicyOnFailure, []v1.Container{sidecarCtr("s"), ctr("i")}, "c")

	for _, tt := range []struct {
		name     string
		view     *podView
		want     []string
		wantDone bool
	}{
		// Sandbox and volumes come first; a failure of either waits.
		{name: "new pod", view: func() *podView {
			v := readyView(planTestPod(v1.RestartPolicyAlways, nil, "a", "b"))
			v.sandbox = false
			return v
		}(), want: []string{"CreateSandbox", "Start a", "Start b"}},
		{name: "sandbox failed, retry later", view: func() *podView {
			v := readyView(planTestPod(v1.RestartPolicyAlways, nil, "c"))
			v.sandbox, v.sandboxAt = false, future
			return v
		}(), want: []string{}},
		{name: "volumes first", view: func() *podView {
			v := readyView(planTestPod(v1.RestartPolicyAlways, nil, "c"))
			v.vols, v.sandbox = volumeView{managed: true}, false
			return v
		}(), want: []string{"SetupVolumes", "CreateSandbox", "Start c"}},
		{name: "volumes failed, retry later", view: func() *podView {
			v := readyView(planTestPod(v1.RestartPolicyAlways, nil, "c"))
			v.vols, v.sandbox = volumeView{managed: true, failed: true, retry: future}, false
			return v
		}(), want: []string{}},
		{name: "volumes refreshed on a label change", view: func() *podView {
			v := readyView(withVolume(), runningCtr("c"))
			v.vols = volumeView{managed: true, set: true, at: t0, resync: time.Minute, labels: map[string]string{"app": "b"}}
			return v
		}(), want: []string{"SetupVolumes"}},
		{name: "volumes fresh", view: func() *podView {
			v := readyView(withVolume(), runningCtr("c"))
			v.vols = volumeView{managed: true, set: true, at: t0, resync: time.Minute, labels: map[string]string{"app": "a"}}
			return v
		}(), want: []string{}},

		// Restart policies.
		{name: "Always restarts a success", view: readyView(planTestPod(v1.RestartPolicyAlways, nil, "c"), exitedCtr("c", 0, past)),
			want: []string{"Start c"}},
		{name: "Always waits out the back-off", view: readyView(planTestPod(v1.RestartPolicyAlways, nil, "c"), exitedCtr("c", 1, future)),
			want: []string{}},
		{name: "OnFailure restarts a failure", view: readyView(planTestPod(v1.RestartPolicyOnFailure, nil, "c"), exitedCtr("c", 1, past)),
			want: []string{"Start c"}},
		{name: "OnFailure: a success ends the pod", view: readyView(planTestPod(v1.RestartPolicyOnFailure, nil, "c"), exitedCtr("c", 0, past)),
			want: []string{"Finish grace=7s"}},
		{name: "OnFailure: one done, one running", view: readyView(planTestPod(v1.RestartPolicyOnFailure, nil, "a", "b"), exitedCtr("a", 0, past), runningCtr("b")),
			want: []string{}},
		{name: "Never: a failure ends the pod", view: readyView(planTestPod(v1.RestartPolicyNever, nil, "c"), exitedCtr("c", 1, past)),
			want: []string{"Finish grace=7s"}},
		{name: "finished and torn down", view: func() *podView {
			v := readyView(planTestPod(v1.RestartPolicyNever, nil, "c"), exitedCtr("c", 1, past))
			v.terminal, v.torndown, v.sandbox = true, true, false
			return v
		}(), want: []string{}},
		{name: "probes of a running container", view: func() *podView {
			st := runningCtr("c")
			st.stopProb = nil
			return readyView(planTestPod(v1.RestartPolicyAlways, nil, "c"), st)
		}(), want: []string{"StartProbes c"}},

		// Init containers run one by one, before the regular ones.
		{name: "first init container", view: func() *podView {
			v := readyView(initPod)
			v.sandbox = false
			return v
		}(), want: []string{"CreateSandbox", "Start i1 (init)"}},
		{name: "init container running", view: readyView(initPod, runningCtr("i1")), want: []string{}},
		{name: "next init container", view: readyView(initPod, exitedCtr("i1", 0, past)), want: []string{"Start i2 (init)"}},
		{name: "init done", view: readyView(initPod, exitedCtr("i1", 0, past), exitedCtr("i2", 0, past)),
			want: []string{"InitDone", "Start c1", "Start c2"}},
		{name: "init container failed, Always restarts it", view: readyView(initPod, exitedCtr("i1", 1, past)), want: []string{"Start i1 (init)"}},
		{name: "init container failed, back-off", view: readyView(initOnFailure, exitedCtr("i1", 1, future)), want: []string{}},
		{name: "init container failed under Never", view: readyView(initNever, exitedCtr("i1", 0, past), exitedCtr("i2", 1, past)),
			want: []string{"InitFailed"}},
		{name: "init failed ends the pod", view: func() *podView {
			v := readyView(initNever, exitedCtr("i1", 0, past), exitedCtr("i2", 1, past))
			v.initFailed = true
			return v
		}(), want: []string{"Finish grace=7s"}},

		// Sidecars: init containers with restartPolicy Always.
		{name: "sidecar starts alone", view: readyView(sidecarPod), want: []string{"Start s (init)"}},
		{name: "sidecar not up holds the next init container", view: func() *podView {
			st := runningCtr("s")
			st.startup, st.upOnce = false, false
			return readyView(sidecarPod, st)
		}(), want: []string{}},
		{name: "sidecar up, next init container", view: readyView(sidecarPod, runningCtr("s")), want: []string{"Start i (init)"}},
		{name: "sidecar up, init done", view: readyView(sidecarPod, runningCtr("s"), exitedCtr("i", 0, past)),
			want: []string{"InitDone", "Start c"}},
		{name: "sidecar restarted after init", view: func() *podView {
			v := readyView(sidecarPod, exitedCtr("s", 0, past), exitedCtr("i", 0, past), runningCtr("c"))
			v.initDone = true
			return v
		}(), want: []string{"Start s (init)"}},
		{name: "sidecar restart waits out its back-off", view: func() *podView {
			v := readyView(sidecarPod, exitedCtr("s", 1, future), exitedCtr("i", 0, past), runningCtr("c"))
			v.initDone = true
			return v
		}(), want: []string{}},
		{name: "pod done with its sidecar running", view: func() *podView {
			v := readyView(sidecarPod, runningCtr("s"), exitedCtr("i", 0, past), exitedCtr("c", 0, past))
			v.initDone = true
			return v
		}(), want: []string{"Finish grace=7s"}},

		// Ephemeral containers start once, never again.
		{name: "ephemeral container", view: func() *podView {
			pod := planTestPod(v1.RestartPolicyAlways, nil, "c")
			pod.Spec.EphemeralContainers = []v1.EphemeralContainer{{EphemeralContainerCommon: v1.EphemeralContainerCommon{Name: "e", Image: "img:1"}}}
			return readyView(pod, runningCtr("c"))
		}(), want: []string{"Start e"}},
		{name: "ephemeral container exited", view: func() *podView {
			pod := planTestPod(v1.RestartPolicyAlways, nil, "c")
			pod.Spec.EphemeralContainers = []v1.EphemeralContainer{{EphemeralContainerCommon: v1.EphemeralContainerCommon{Name: "e", Image: "img:1"}}}
			return readyView(pod, runningCtr("c"), exitedCtr("e", 0, past))
		}(), want: []string{}},

		// Deletion.
		{name: "deleted with a grace period", view: readyView(deleted(ptr.To(int64(5))), runningCtr("c")),
			want: []string{"Terminate grace=5s delete"}, wantDone: true},
		{name: "deleted, the spec's grace", view: readyView(deleted(nil), runningCtr("c")),
			want: []string{"Terminate grace=7s delete"}, wantDone: true},
		{name: "gone from the cache", view: func() *podView {
			v := readyView(planTestPod(v1.RestartPolicyAlways, nil, "c"), runningCtr("c"))
			v.gone = true
			return v
		}(), want: []string{"Terminate grace=7s"}, wantDone: true},

		// The kubelet's sysctl admission: a pod asking for a sysctl not
		// on the safe list is rejected before anything of it starts.
		{name: "unsafe sysctl rejected", view: func() *podView {
			v := readyView(withSysctls(false, "kernel.shm_rmid_forced", "kernel.msgmax"))
			v.sandbox = false
			return v
		}(), want: []string{"Reject SysctlForbidden"}},
		{name: "safe sysctls admitted", view: func() *podView {
			v := readyView(withSysctls(false, "kernel/shm_rmid_forced", "net.ipv4.ip_local_port_range"))
			v.sandbox = false
			return v
		}(), want: []string{"CreateSandbox", "Start c"}},
		{name: "a network sysctl with host network rejected", view: func() *podView {
			v := readyView(withSysctls(true, "net.ipv4.ip_local_port_range"))
			v.sandbox = false
			return v
		}(), want: []string{"Reject SysctlForbidden"}},
		{name: "an adopted running pod is not judged again", view: readyView(withSysctls(false, "kernel.msgmax"), runningCtr("c")),
			want: []string{}},

		// spec.activeDeadlineSeconds counts from status.startTime.
		{name: "deadline passed", view: readyView(withDeadline(3600), runningCtr("c")),
			want: []string{"Fail DeadlineExceeded grace=7s"}},
		{name: "deadline not yet", view: readyView(withDeadline(3601), runningCtr("c")), want: []string{}},
		{name: "deadline while pending", view: readyView(withDeadline(5)), want: []string{"Fail DeadlineExceeded grace=7s"}},
		{name: "deadline of a finished pod", view: func() *podView {
			v := readyView(withDeadline(5), exitedCtr("c", 0, past))
			v.terminal, v.torndown = true, true
			return v
		}(), want: []string{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := planPod(tt.view)
			if got := planStrings(p); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if p.done != tt.wantDone {
				t.Errorf("got done %v, want %v", p.done, tt.wantDone)
			}
		})
	}
}

func TestPlanDeadlineLowered(t *testing.T) {
	// A pod runs for 10 s under a deadline of 60 s; the field is lowered
	// to 5 s: the next plan fails the pod.
	pod := planTestPod(v1.RestartPolicyAlways, nil, "c")
	pod.Spec.ActiveDeadlineSeconds = ptr.To(int64(60))
	v := readyView(pod, runningCtr("c"))
	v.startTime = t0.Add(-10 * time.Second)
	if got := planStrings(planPod(v)); len(got) != 0 {
		t.Fatalf("got %q under 60 s, want nothing", got)
	}
	if got, want := v.wakeAt(), t0.Add(50*time.Second); !got.Equal(want) {
		t.Errorf("got wake-up %s, want %s (the deadline)", got, want)
	}
	lowered := pod.DeepCopy()
	lowered.Spec.ActiveDeadlineSeconds = ptr.To(int64(5))
	v.pod = lowered
	if got, want := planStrings(planPod(v)), []string{"Fail DeadlineExceeded grace=7s"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestPodPhase(t *testing.T) {
	past := t0.Add(-time.Second)
	for _, tt := range []struct {
		name  string
		view  *podView
		setup func(*podView)
		want  v1.PodPhase
	}{
		{name: "nothing started", view: readyView(planTestPod(v1.RestartPolicyAlways, nil, "c")), want: v1.PodPending},
		{name: "running", view: readyView(planTestPod(v1.RestartPolicyAlways, nil, "a", "b"), runningCtr("a"), runningCtr("b")), want: v1.PodRunning},
		{name: "one of two started", view: readyView(planTestPod(v1.RestartPolicyAlways, nil, "a", "b"), runningCtr("a")), want: v1.PodPending},
		{name: "Always, exited 0: restarting", view: readyView(planTestPod(v1.RestartPolicyAlways, nil, "c"), exitedCtr("c", 0, past)), want: v1.PodRunning},
		{name: "OnFailure, exited 1: restarting", view: readyView(planTestPod(v1.RestartPolicyOnFailure, nil, "c"), exitedCtr("c", 1, past)), want: v1.PodRunning},
		{name: "OnFailure, exited 0", view: readyView(planTestPod(v1.RestartPolicyOnFailure, nil, "c"), exitedCtr("c", 0, past)), want: v1.PodSucceeded},
		{name: "Never, exited 1", view: readyView(planTestPod(v1.RestartPolicyNever, nil, "c"), exitedCtr("c", 1, past)), want: v1.PodFailed},
		{name: "Never, one failed, one succeeded", view: readyView(planTestPod(v1.RestartPolicyNever, nil, "a", "b"), exitedCtr("a", 0, past), exitedCtr("b", 2, past)), want: v1.PodFailed},
		{name: "Never, one running, one failed", view: readyView(planTestPod(v1.RestartPolicyNever, nil, "a", "b"), runningCtr("a"), exitedCtr("b", 2, past)), want: v1.PodRunning},
		{name: "init not done", view: readyView(planTestPod(v1.RestartPolicyAlways, []v1.Container{ctr("i")}, "c"), runningCtr("i")), want: v1.PodPending},
		{name: "init failed", view: readyView(planTestPod(v1.RestartPolicyNever, []v1.Container{ctr("i")}, "c"), exitedCtr("i", 1, past)),
			setup: func(v *podView) { v.initFailed = true }, want: v1.PodFailed},
		{name: "Always, killed after the pod finished", view: readyView(planTestPod(v1.RestartPolicyAlways, nil, "c"), exitedCtr("c", 137, past)),
			setup: func(v *podView) { v.terminal = true }, want: v1.PodFailed},
		{name: "deadline exceeded", view: readyView(planTestPod(v1.RestartPolicyAlways, nil, "c"), exitedCtr("c", 0, past)),
			setup: func(v *podView) { v.terminal, v.failReason = true, deadlineReason }, want: v1.PodFailed},
		{name: "finished before the agent started", view: func() *podView {
			pod := planTestPod(v1.RestartPolicyNever, nil, "c")
			pod.Status.Phase = v1.PodSucceeded
			return readyView(pod)
		}(), setup: func(v *podView) { v.terminal = true }, want: v1.PodSucceeded},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup(tt.view)
			}
			if got := podPhase(tt.view); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRestartAfterExit(t *testing.T) {
	const maxBackoff = 5 * time.Minute
	for _, tt := range []struct {
		name        string
		crashes     int
		ran         time.Duration
		wantCrashes int
		wantDelay   time.Duration
	}{
		{name: "first crash restarts at once", crashes: 0, ran: time.Second, wantCrashes: 1, wantDelay: 0},
		{name: "second crash", crashes: 1, ran: time.Second, wantCrashes: 2, wantDelay: 10 * time.Second},
		{name: "third crash", crashes: 2, ran: time.Second, wantCrashes: 3, wantDelay: 20 * time.Second},
		{name: "sixth crash", crashes: 5, ran: time.Second, wantCrashes: 6, wantDelay: 160 * time.Second},
		{name: "capped at 5 min", crashes: 6, ran: time.Second, wantCrashes: 7, wantDelay: 5 * time.Minute},
		{name: "stays capped", crashes: 30, ran: time.Second, wantCrashes: 31, wantDelay: 5 * time.Minute},
		{name: "ran just under 10 min", crashes: 6, ran: 10*time.Minute - time.Second, wantCrashes: 7, wantDelay: 5 * time.Minute},
		{name: "ran 10 min: count forgotten", crashes: 6, ran: 10 * time.Minute, wantCrashes: 1, wantDelay: 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			finished := t0
			crashes, next := restartAfterExit(tt.crashes, finished.Add(-tt.ran), finished, maxBackoff)
			if crashes != tt.wantCrashes {
				t.Errorf("got crashes %d, want %d", crashes, tt.wantCrashes)
			}
			if got := next.Sub(finished); got != tt.wantDelay {
				t.Errorf("got back-off %s, want %s", got, tt.wantDelay)
			}
		})
	}
}

func TestWakeAt(t *testing.T) {
	soon, later := t0.Add(3*time.Second), t0.Add(9*time.Second)
	for _, tt := range []struct {
		name string
		view *podView
		want time.Time
	}{
		{name: "nothing pending", view: readyView(planTestPod(v1.RestartPolicyAlways, nil, "c"), runningCtr("c"))},
		{name: "back-offs: the earliest", view: readyView(planTestPod(v1.RestartPolicyAlways, nil, "a", "b"), exitedCtr("a", 1, later), exitedCtr("b", 1, soon)), want: soon},
		{name: "a back-off over is no wake-up", view: readyView(planTestPod(v1.RestartPolicyAlways, nil, "c"), exitedCtr("c", 1, t0.Add(-time.Second)))},
		{name: "sandbox retry", view: func() *podView {
			v := readyView(planTestPod(v1.RestartPolicyAlways, nil, "c"))
			v.sandbox, v.sandboxAt = false, later
			return v
		}(), want: later},
		{name: "volume retry", view: func() *podView {
			v := readyView(planTestPod(v1.RestartPolicyAlways, nil, "c"))
			v.vols = volumeView{managed: true, retry: soon}
			return v
		}(), want: soon},
		{name: "deadline", view: func() *podView {
			pod := planTestPod(v1.RestartPolicyAlways, nil, "c")
			pod.Spec.ActiveDeadlineSeconds = ptr.To(int64(3603))
			return readyView(pod, runningCtr("c"))
		}(), want: soon},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.view.wakeAt(); !got.Equal(tt.want) {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// TestActiveDeadlineOnTheWorker runs a worker on a fake clock: a pod
// running for an hour is failed once its activeDeadlineSeconds is lowered
// below that, its container killed, and its status says why.
func TestActiveDeadlineOnTheWorker(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	rt := newFakeRuntime()
	pod := testPod(v1.RestartPolicyAlways)
	pod.Spec.ActiveDeadlineSeconds = ptr.To(int64(7200))
	client := fake.NewSimpleClientset(pod)
	w, _ := runWorkerWith(t, client, pod, rt, time.Minute, func(d *workerDeps) { d.clock = clk })
	eventually(t, "running", func() bool {
		st := lastStatus(client)
		return st != nil && st.Phase == v1.PodRunning
	})
	clk.Step(time.Hour)
	p, err := client.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Spec.ActiveDeadlineSeconds = ptr.To(int64(5))
	w.update(p)
	eventually(t, "failed with its container terminated", func() bool {
		st := lastStatus(client)
		return st != nil && st.Phase == v1.PodFailed && len(st.ContainerStatuses) == 1 && st.ContainerStatuses[0].State.Terminated != nil
	})
	st := lastStatus(client)
	if st.Reason != deadlineReason || st.Message != deadlineMessage {
		t.Errorf("got reason %q message %q, want %q %q", st.Reason, st.Message, deadlineReason, deadlineMessage)
	}
	if got := st.ContainerStatuses[0].State.Terminated.ExitCode; got != 137 {
		t.Errorf("got exit code %d, want 137 (killed)", got)
	}
	if calls := rt.Calls(); !contains(calls, "stop c-0") || !contains(calls, "teardown") {
		t.Errorf("calls = %v, want the container stopped and the sandbox torn down", calls)
	}
}
