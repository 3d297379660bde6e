package kubelet

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// runLoggedWorker runs a worker for pod whose events go to the returned
// log, with volumes under a temporary directory.
func runLoggedWorker(t *testing.T, client *fake.Clientset, pod *v1.Pod, rt Runtime) (*podWorker, *eventLog) {
	t.Helper()
	events := &eventLog{}
	objects := fakeObjects(client)
	deps := &workerDeps{pods: func(ns string) podAPI { return client.CoreV1().Pods(ns) }, recorder: events, rt: rt,
		nodeName: "n1", nodeIP: "10.200.0.11", maxBackoff: 40 * time.Millisecond, resync: 20 * time.Millisecond,
		objects: objects, volumes: &volumeManager{podsDir: t.TempDir(), objects: objects, allocatable: testAllocatable}}
	w := newPodWorker(deps, pod, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go w.run(ctx)
	t.Cleanup(func() { cancel(); <-w.done })
	return w, events
}

func hasEvent(events []string, substr string) bool {
	return slices.ContainsFunc(events, func(e string) bool { return strings.Contains(e, substr) })
}

// A missing key keeps the container Waiting with CreateContainerConfigError
// and upstream's message; once the key is there the container starts with
// it in its env, and $(VAR) in its args expanded by its spec.
func TestCreateContainerConfigErrorUntilKeyAppears(t *testing.T) {
	pod := testPod(v1.RestartPolicyAlways)
	pod.Spec.Containers[0].Env = []v1.EnvVar{{Name: "FOO", ValueFrom: cmKey("cfg", "FOO", false)}}
	pod.Spec.Containers[0].Args = []string{"echo", "$(FOO)"}
	cm := &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"}, Data: map[string]string{"OTHER": "x"}}
	client := fake.NewSimpleClientset(pod, cm)
	rt := newFakeRuntime()
	_, events := runLoggedWorker(t, client, pod, rt)

	const msg = "couldn't find key FOO in ConfigMap default/cfg"
	eventually(t, "CreateContainerConfigError", func() bool {
		st := lastStatus(client)
		if st == nil || len(st.ContainerStatuses) != 1 {
			return false
		}
		w := st.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == "CreateContainerConfigError" && w.Message == msg
	})
	if st := lastStatus(client); st.Phase != v1.PodPending {
		t.Errorf("phase = %s, want Pending", st.Phase)
	}
	if !hasEvent(events.all(), "spec.containers{c} Failed: Error: "+msg) {
		t.Errorf("no Failed event with %q in %q", msg, events.all())
	}
	if slices.ContainsFunc(rt.Calls(), func(c string) bool { return strings.HasPrefix(c, "start ") }) {
		t.Fatalf("container started without its config: %v", rt.Calls())
	}

	cm = cm.DeepCopy()
	cm.Data["FOO"] = "bar"
	if _, err := client.CoreV1().ConfigMaps("default").Update(context.Background(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "running", func() bool {
		st := lastStatus(client)
		return st != nil && st.Phase == v1.PodRunning
	})
	started, ok := rt.startedWith("c-0")
	if !ok {
		t.Fatalf("no start of c-0: %v", rt.Calls())
	}
	if !slices.Contains(started.opts.Env, "FOO=bar") {
		t.Errorf("env = %q, want FOO=bar", started.opts.Env)
	}
	spec, err := newContainerSpec(specInput{pod: pod, container: started.c, opts: started.opts})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(spec.args, " "); got != "echo bar" {
		t.Errorf("args = %q, want expanded to %q", got, "echo bar")
	}
	if got := pod.Spec.Containers[0].Args[1]; got != "$(FOO)" {
		t.Errorf("the pod's own spec was changed: args[1] = %q", got)
	}
}

// A volume that cannot be set up keeps the pod from getting a sandbox, with
// FailedMount; the pod starts once the Secret is there, with the volume
// mounted read-only and its files in place.
func TestFailedMountUntilSecretAppears(t *testing.T) {
	pod := testPod(v1.RestartPolicyAlways)
	pod.Spec.Volumes = []v1.Volume{{Name: "creds", VolumeSource: v1.VolumeSource{Secret: &v1.SecretVolumeSource{SecretName: "sec", DefaultMode: ptrInt32(0o400)}}}}
	pod.Spec.Containers[0].VolumeMounts = []v1.VolumeMount{{Name: "creds", MountPath: "/creds"}}
	client := fake.NewSimpleClientset(pod)
	rt := newFakeRuntime()
	_, events := runLoggedWorker(t, client, pod, rt)

	const msg = `FailedMount: MountVolume.SetUp failed for volume "creds" : secret "sec" not found`
	eventually(t, "FailedMount", func() bool { return hasEvent(events.all(), msg) })
	st := lastStatus(client)
	if st == nil || st.Phase != v1.PodPending || st.ContainerStatuses[0].State.Waiting == nil || st.ContainerStatuses[0].State.Waiting.Reason != "ContainerCreating" {
		t.Errorf("status = %+v, want Pending with the container ContainerCreating", st)
	}
	if slices.Contains(rt.Calls(), "sandbox") {
		t.Fatalf("sandbox made before the volumes: %v", rt.Calls())
	}

	sec := &v1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sec", Namespace: "default"}, Data: map[string][]byte{"pass": []byte("p")}}
	if _, err := client.CoreV1().Secrets("default").Create(context.Background(), sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "running", func() bool {
		st := lastStatus(client)
		return st != nil && st.Phase == v1.PodRunning
	})
	started, _ := rt.startedWith("c-0")
	if len(started.opts.Mounts) != 1 || started.opts.Mounts[0].Destination != "/creds" || !started.opts.Mounts[0].ReadOnly {
		t.Fatalf("mounts = %+v, want /creds read-only", started.opts.Mounts)
	}
	src := started.opts.Mounts[0].Source
	fi, err := os.Stat(filepath.Join(src, "pass"))
	if err != nil || fi.Mode().Perm() != 0o400 {
		t.Errorf("pass: %v, mode %v; want mode 0400", err, fi)
	}

	// An update reaches the file at a resync, the container untouched.
	sec = sec.DeepCopy()
	sec.Data["pass"] = []byte("new")
	if _, err := client.CoreV1().Secrets("default").Update(context.Background(), sec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new secret in the file", func() bool {
		b, _ := os.ReadFile(filepath.Join(src, "pass"))
		return string(b) == "new"
	})
	if slices.Contains(rt.Calls(), "start c-1") {
		t.Errorf("container restarted for a secret update: %v", rt.Calls())
	}
}

func TestUnboundClaimKeepsPodPending(t *testing.T) {
	pod := testPod(v1.RestartPolicyAlways)
	pod.Spec.Volumes = []v1.Volume{{Name: "data", VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}}}}
	claim := &v1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default"}, Status: v1.PersistentVolumeClaimStatus{Phase: v1.ClaimPending}}
	client := fake.NewSimpleClientset(pod, claim)
	rt := newFakeRuntime()
	_, events := runLoggedWorker(t, client, pod, rt)
	eventually(t, "FailedMount", func() bool {
		return hasEvent(events.all(), "FailedMount: Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes=[data], failed to process volumes=[data]: error processing PVC default/c: PVC is not bound")
	})
	if slices.Contains(rt.Calls(), "sandbox") {
		t.Errorf("sandbox made for a pod whose claim is not bound: %v", rt.Calls())
	}
}

// A container whose process cannot start ends as upstream's StartError
// (exit code 128): a Never pod fails without another try, an OnFailure
// pod tries again.
func TestStartErrorFollowsRestartPolicy(t *testing.T) {
	for _, tt := range []struct {
		policy      v1.RestartPolicy
		wantPhase   v1.PodPhase
		wantRetried bool
	}{
		{v1.RestartPolicyNever, v1.PodFailed, false},
		{v1.RestartPolicyOnFailure, v1.PodRunning, true},
	} {
		t.Run(string(tt.policy), func(t *testing.T) {
			pod := testPod(tt.policy)
			rt := newFakeRuntime()
			rt.startErr = map[string]error{"c": &StartError{errors.New(`failed to create containerd task: exec: "nope": executable file not found in $PATH`)}}
			client := fake.NewSimpleClientset(pod)
			runLoggedWorker(t, client, pod, rt)
			eventually(t, "StartError", func() bool {
				st := lastStatus(client)
				if st == nil || st.Phase != tt.wantPhase {
					return false
				}
				cs := st.ContainerStatuses[0]
				term := cs.State.Terminated
				if term == nil {
					term = cs.LastTerminationState.Terminated
				}
				return term != nil && term.Reason == "StartError" && term.ExitCode == 128 && strings.Contains(term.Message, "executable file not found") &&
					strings.HasPrefix(term.ContainerID, "containerd://c-")
			})
			if tt.wantRetried {
				eventually(t, "a second try", func() bool { return slices.Contains(rt.Calls(), "start c-1") })
				// What the failed start left (containerd killed during it
				// leaves its task created) goes before the next attempt.
				calls := rt.Calls()
				if i := slices.Index(calls, "remove c-0"); i < 0 || i > slices.Index(calls, "start c-1") {
					t.Errorf("calls %v: want remove c-0 before start c-1", calls)
				}
				return
			}
			eventually(t, "teardown", func() bool { return slices.Contains(rt.Calls(), "teardown") })
			time.Sleep(100 * time.Millisecond) // a few resyncs: nothing more may start
			if slices.Contains(rt.Calls(), "start c-1") {
				t.Errorf("Never pod's container tried again: %v", rt.Calls())
			}
		})
	}
}

// A label change reaches a downwardAPI volume's file.
func TestDownwardAPIVolumeFollowsLabels(t *testing.T) {
	pod := testPod(v1.RestartPolicyAlways)
	pod.Labels = map[string]string{"version": "1"}
	pod.Spec.Volumes = []v1.Volume{{Name: "info", VolumeSource: v1.VolumeSource{DownwardAPI: &v1.DownwardAPIVolumeSource{Items: []v1.DownwardAPIVolumeFile{
		{Path: "labels", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}}}
	pod.Spec.Containers[0].VolumeMounts = []v1.VolumeMount{{Name: "info", MountPath: "/info"}}
	client := fake.NewSimpleClientset(pod)
	rt := newFakeRuntime()
	w, _ := runLoggedWorker(t, client, pod, rt)
	var file string
	eventually(t, "started", func() bool {
		s, ok := rt.startedWith("c-0")
		if ok && len(s.opts.Mounts) == 1 {
			file = filepath.Join(s.opts.Mounts[0].Source, "labels")
		}
		return ok
	})
	relabeled := pod.DeepCopy()
	relabeled.Labels["version"] = "2"
	relabeled.ResourceVersion = "2"
	w.update(relabeled)
	eventually(t, "the new label in the file", func() bool {
		b, _ := os.ReadFile(file)
		return string(b) == `version="2"`
	})
}

// A pod adopted from an earlier agent keeps its running containers, its
// sandbox and its address when one of its volumes can no longer be set up
// (its ConfigMap deleted meanwhile); the failure is reported.
func TestAdoptedPodKeepsRunningWhenAVolumeFails(t *testing.T) {
	pod := testPod(v1.RestartPolicyAlways)
	pod.Spec.Volumes = []v1.Volume{{Name: "cfg", VolumeSource: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "gone"}}}}}
	pod.Spec.Containers[0].VolumeMounts = []v1.VolumeMount{{Name: "cfg", MountPath: "/cfg"}}
	client := fake.NewSimpleClientset(pod)
	rt := newFakeRuntime()
	rt.waits["c-0"] = make(chan ExitInfo, 1)
	events := &eventLog{}
	objects := fakeObjects(client)
	deps := &workerDeps{pods: func(ns string) podAPI { return client.CoreV1().Pods(ns) }, recorder: events, rt: rt,
		nodeName: "n1", nodeIP: "10.200.0.11", maxBackoff: 40 * time.Millisecond, resync: 20 * time.Millisecond,
		objects: objects, volumes: &volumeManager{podsDir: t.TempDir(), objects: objects}}
	w := newPodWorker(deps, pod, []ContainerInfo{{ID: "c-0", PodUID: pod.UID, Name: "c", Running: true, Started: time.Now()}})
	ctx, cancel := context.WithCancel(context.Background())
	go w.run(ctx)
	t.Cleanup(func() { cancel(); <-w.done })
	eventually(t, "running with its address", func() bool {
		st := lastStatus(client)
		return st != nil && st.Phase == v1.PodRunning && st.PodIP == "10.244.1.5"
	})
	eventually(t, "FailedMount", func() bool { return hasEvent(events.all(), `configmap "gone" not found`) })
	if slices.ContainsFunc(rt.Calls(), func(c string) bool { return strings.HasPrefix(c, "start ") || strings.HasPrefix(c, "stop ") }) {
		t.Errorf("adopted container touched: %v", rt.Calls())
	}
}
