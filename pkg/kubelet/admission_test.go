package kubelet

import (
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// TestHostPortAdmission: as the kubelet's NodePorts admission, a pod bound
// to the node (past the scheduler) asking for a host port a running pod
// holds fails at once, "Pod was rejected: Predicate NodePorts failed: …",
// nothing of it started (the StatefulSet conformance test "Should recreate
// evicted statefulset" waits for that); another port, or another
// protocol, is admitted.
func TestHostPortAdmission(t *testing.T) {
	rt := newFakeRuntime()
	a := &Agent{workers: map[types.UID]*podWorker{}}
	withPort := func(name, uid string, port int32, proto v1.Protocol) *v1.Pod {
		p := testPod(v1.RestartPolicyAlways)
		p.Name, p.UID = name, types.UID(uid)
		p.Spec.Containers[0].Name = name
		p.Spec.Containers[0].Ports = []v1.ContainerPort{{ContainerPort: port, HostPort: port, Protocol: proto}}
		return p
	}
	holder := withPort("holder", "uid-holder", 21017, v1.ProtocolTCP)
	conflicting := withPort("conflicting", "uid-conflicting", 21017, "")
	udp := withPort("udp", "uid-udp", 21017, v1.ProtocolUDP)
	client := fake.NewSimpleClientset(holder, conflicting, udp)
	start := func(pod *v1.Pod) *podWorker {
		w, _ := runWorkerWith(t, client, pod, rt, 20*time.Millisecond, func(d *workerDeps) { d.admit = a.admit })
		a.mu.Lock()
		a.workers[pod.UID] = w
		a.mu.Unlock()
		return w
	}
	start(holder)
	eventually(t, "holder started", func() bool { return w0Started(rt, "holder") })

	start(conflicting)
	eventually(t, "conflicting pod failed", func() bool {
		st := podStatusOf(client, "conflicting")
		return st != nil && st.Phase == v1.PodFailed
	})
	st := podStatusOf(client, "conflicting")
	if want := "Pod was rejected: Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports"; st.Reason != "NodePorts" || st.Message != want {
		t.Errorf("got reason %q message %q, want NodePorts %q", st.Reason, st.Message, want)
	}
	for _, c := range rt.Calls() {
		if strings.HasPrefix(c, "start conflicting") {
			t.Errorf("calls = %v: the refused pod's container started", rt.Calls())
		}
	}

	start(udp)
	eventually(t, "the same port over UDP started", func() bool { return w0Started(rt, "udp") })
}

func w0Started(rt *fakeRuntime, name string) bool {
	for _, c := range rt.Calls() {
		if c == "start "+name+"-0" {
			return true
		}
	}
	return false
}

// podStatusOf is the last status written for the pod named name.
func podStatusOf(client *fake.Clientset, name string) *v1.PodStatus {
	var st *v1.PodStatus
	for _, act := range client.Actions() {
		if u, ok := act.(k8stesting.UpdateAction); ok && act.GetSubresource() == "status" {
			if p, ok := u.GetObject().(*v1.Pod); ok && p.Name == name {
				st = &p.Status
			}
		}
	}
	return st
}
