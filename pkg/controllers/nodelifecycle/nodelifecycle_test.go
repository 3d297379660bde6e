package nodelifecycle

import (
	"context"
	"testing"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func readyNode(name string, status corev1.ConditionStatus, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
		Spec:       corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: status, LastHeartbeatTime: metav1.NewTime(t0)},
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
		}},
	}
}

func lease(name string, at time.Time) *coordv1.Lease {
	t := metav1.NewMicroTime(at)
	return &coordv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: LeaseNamespace}, Spec: coordv1.LeaseSpec{RenewTime: &t}}
}

type lcFixture struct {
	c      *Controller
	client *fake.Clientset
	f      informers.SharedInformerFactory
	clock  *clocktesting.FakeClock
}

func newLC(t *testing.T, objs ...runtime.Object) *lcFixture {
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	clk := clocktesting.NewFakeClock(t0)
	c := New(client, f, record.NewFakeRecorder(100), Config{GracePeriod: 40 * time.Second, Clock: clk})
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Node:
			f.Core().V1().Nodes().Informer().GetIndexer().Add(o)
		case *coordv1.Lease:
			f.Coordination().V1().Leases().Informer().GetIndexer().Add(o)
		}
	}
	return &lcFixture{c, client, f, clk}
}

func (x *lcFixture) node(t *testing.T, name string) *corev1.Node {
	n, err := x.client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func taintKeys(n *corev1.Node) map[string]bool {
	out := map[string]bool{}
	for _, t := range n.Spec.Taints {
		out[t.Key+":"+string(t.Effect)] = true
	}
	return out
}

func TestStaleLeaseMarksUnknownAndTaints(t *testing.T) {
	x := newLC(t, readyNode("n1", corev1.ConditionTrue), lease("n1", t0))
	ctx := context.Background()
	if _, err := x.c.sync(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	x.clock.Step(30 * time.Second)
	if _, err := x.c.sync(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	for _, a := range x.client.Actions() {
		if a.GetVerb() == "update" {
			t.Fatalf("node written within the grace period: %v", a)
		}
	}
	// The lease renews: the clock of the probe restarts.
	l := lease("n1", t0.Add(30*time.Second))
	x.f.Coordination().V1().Leases().Informer().GetIndexer().Update(l)
	if _, err := x.c.sync(ctx, "n1"); err != nil { // the lease event
		t.Fatal(err)
	}
	x.clock.Step(30 * time.Second)
	if _, err := x.c.sync(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if n := x.node(t, "n1"); len(n.Spec.Taints) != 0 {
		t.Fatalf("tainted though the lease was renewed 30s ago: %v", n.Spec.Taints)
	}
	// No renewal for more than 40s.
	x.clock.Step(11 * time.Second)
	if _, err := x.c.sync(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	n := x.node(t, "n1")
	for _, c := range n.Status.Conditions {
		if c.Status != corev1.ConditionUnknown || c.Reason != "NodeStatusUnknown" || c.Message != "Kubelet stopped posting node status." {
			t.Errorf("condition %s = %s (%s), want Unknown/NodeStatusUnknown", c.Type, c.Status, c.Reason)
		}
	}
	got := taintKeys(n)
	if !got[corev1.TaintNodeUnreachable+":NoSchedule"] || !got[corev1.TaintNodeUnreachable+":NoExecute"] || len(got) != 2 {
		t.Errorf("taints %v, want unreachable NoSchedule+NoExecute", got)
	}
}

func TestTaintsFollowReadyCondition(t *testing.T) {
	unreach := []corev1.Taint{{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule}, {Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}}
	tests := []struct {
		name string
		node *corev1.Node
		want []string
	}{
		{"agent reports NotReady", readyNode("n1", corev1.ConditionFalse), []string{corev1.TaintNodeNotReady + ":NoSchedule", corev1.TaintNodeNotReady + ":NoExecute"}},
		{"healthy again", readyNode("n1", corev1.ConditionTrue, unreach...), nil},
		{"user taints kept", readyNode("n1", corev1.ConditionTrue, corev1.Taint{Key: "dedicated", Effect: corev1.TaintEffectNoSchedule}), []string{"dedicated:NoSchedule"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := newLC(t, tt.node, lease("n1", t0))
			if _, err := x.c.sync(context.Background(), "n1"); err != nil {
				t.Fatal(err)
			}
			got := taintKeys(x.node(t, "n1"))
			if len(got) != len(tt.want) {
				t.Fatalf("taints %v, want %v", got, tt.want)
			}
			for _, k := range tt.want {
				if !got[k] {
					t.Errorf("missing taint %s in %v", k, got)
				}
			}
		})
	}
}

func secs(n int64) *int64 { return &n }

func TestTaintEvictionTiming(t *testing.T) {
	added := metav1.NewTime(t0)
	unreachable := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &added}
	custom := corev1.Taint{Key: "maintenance", Effect: corev1.TaintEffectNoExecute, TimeAdded: &added}
	tol := func(key string, s *int64) corev1.Toleration {
		return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: s}
	}
	tests := []struct {
		name      string
		taint     corev1.Taint
		tols      []corev1.Toleration
		at        time.Duration // since the taint was added
		wantEvict bool
		wantForce bool
		wantAfter time.Duration
	}{
		{"not tolerated: at once", custom, nil, 0, true, false, 0},
		{"not tolerated on an unreachable node: forced", unreachable, nil, 0, true, true, 0},
		{"tolerated 300s, at 100s", unreachable, []corev1.Toleration{tol(corev1.TaintNodeUnreachable, secs(300))}, 100 * time.Second, false, false, 200 * time.Second},
		{"tolerated 300s, at 300s", unreachable, []corev1.Toleration{tol(corev1.TaintNodeUnreachable, secs(300))}, 300 * time.Second, true, true, 0},
		{"tolerated forever", custom, []corev1.Toleration{tol("maintenance", nil)}, time.Hour, false, false, 0},
		{"shortest of two tolerations", custom, []corev1.Toleration{tol("maintenance", secs(60)), tol("", secs(10))}, 20 * time.Second, true, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node := readyNode("n1", corev1.ConditionUnknown, tt.taint)
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "p-uid"},
				Spec: corev1.PodSpec{NodeName: "n1", Tolerations: tt.tols}}
			client := fake.NewClientset(node, pod)
			f := informers.NewSharedInformerFactory(client, 0)
			clk := clocktesting.NewFakeClock(t0.Add(tt.at))
			c, err := NewTaintEviction(client, f, record.NewFakeRecorder(10), clk)
			if err != nil {
				t.Fatal(err)
			}
			f.Core().V1().Nodes().Informer().GetIndexer().Add(node)
			f.Core().V1().Pods().Informer().GetIndexer().Add(pod)
			after, err := c.sync(context.Background(), "default/p")
			if err != nil {
				t.Fatal(err)
			}
			var del *k8stesting.DeleteActionImpl
			for _, a := range client.Actions() {
				if d, ok := a.(k8stesting.DeleteActionImpl); ok {
					del = &d
				}
			}
			if (del != nil) != tt.wantEvict {
				t.Fatalf("evicted = %v, want %v", del != nil, tt.wantEvict)
			}
			if del != nil {
				gp := del.DeleteOptions.GracePeriodSeconds
				if forced := gp != nil && *gp == 0; forced != tt.wantForce {
					t.Errorf("forced = %v, want %v", forced, tt.wantForce)
				}
			}
			if after != tt.wantAfter {
				t.Errorf("requeue after %v, want %v", after, tt.wantAfter)
			}
		})
	}
}
