package replicaset

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"minik8s/pkg/controllers/expectations"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	c        *Controller
	clock    *clocktesting.FakeClock
	recorder *record.FakeRecorder
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewClientset(objs...)
	var n atomic.Int32
	// The fake does not implement generateName.
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		if p.Name == "" {
			p.Name = fmt.Sprintf("%s%05d", p.GenerateName, n.Add(1))
		}
		return false, nil, nil
	})
	f := informers.NewSharedInformerFactory(client, 0)
	clk := clocktesting.NewFakeClock(t0)
	rec := record.NewFakeRecorder(1000)
	c := NewWithClock(client, f, rec, clk)
	for _, o := range objs {
		switch o := o.(type) {
		case *appsv1.ReplicaSet:
			f.Apps().V1().ReplicaSets().Informer().GetIndexer().Add(o)
		case *corev1.Pod:
			f.Core().V1().Pods().Informer().GetIndexer().Add(o)
		}
	}
	return &fixture{client: client, factory: f, c: c, clock: clk, recorder: rec}
}

func newRS(name string, replicas int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name + "-uid"), Generation: 1},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img"}}},
			},
		},
	}
}

type podOpt func(*corev1.Pod)

func owned(rs *appsv1.ReplicaSet) podOpt {
	return func(p *corev1.Pod) { p.OwnerReferences = []metav1.OwnerReference{controllerRef(controllerKind, rs)} }
}
func onNode(n string) podOpt { return func(p *corev1.Pod) { p.Spec.NodeName = n } }
func phase(ph corev1.PodPhase) podOpt {
	return func(p *corev1.Pod) { p.Status.Phase = ph }
}
func readyAt(at time.Time) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at)}}
	}
}
func created(at time.Time) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(at) }
}
func terminating() podOpt {
	return func(p *corev1.Pod) { now := metav1.NewTime(t0); p.DeletionTimestamp = &now }
}
func labelled(l map[string]string) podOpt { return func(p *corev1.Pod) { p.Labels = l } }

func newPod(name, app string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name + "-uid"),
		Labels: map[string]string{"app": app}}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func count(actions []k8stesting.Action, verb, resource string) int {
	n := 0
	for _, a := range actions {
		if a.GetVerb() == verb && a.GetResource().Resource == resource && a.GetSubresource() == "" {
			n++
		}
	}
	return n
}

func TestSyncCreatesAndDeletesTheDifference(t *testing.T) {
	rs3 := newRS("web", 3)
	rs1 := newRS("web", 1)
	rs600 := newRS("web", 600)
	tests := []struct {
		name                string
		rs                  *appsv1.ReplicaSet
		pods                []*corev1.Pod
		wantCreate, wantDel int
	}{
		{"scale up from zero", rs3, nil, 3, 0},
		{"scale up partially", rs3, []*corev1.Pod{newPod("a", "web", owned(rs3))}, 2, 0},
		{"steady", rs3, []*corev1.Pod{newPod("a", "web", owned(rs3)), newPod("b", "web", owned(rs3)), newPod("c", "web", owned(rs3))}, 0, 0},
		{"scale down", rs1, []*corev1.Pod{newPod("a", "web", owned(rs1)), newPod("b", "web", owned(rs1)), newPod("c", "web", owned(rs1))}, 0, 2},
		{"terminating pods do not count", rs3, []*corev1.Pod{newPod("a", "web", owned(rs3)), newPod("b", "web", owned(rs3), terminating())}, 2, 0},
		{"finished pods do not count", rs3, []*corev1.Pod{newPod("a", "web", owned(rs3), phase(corev1.PodFailed))}, 3, 0},
		{"burst cap", rs600, nil, BurstReplicas, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := []runtime.Object{tt.rs}
			for _, p := range tt.pods {
				objs = append(objs, p)
			}
			f := newFixture(t, objs...)
			if _, err := f.c.sync(context.Background(), "default/web"); err != nil {
				t.Fatalf("sync: %v", err)
			}
			acts := f.client.Actions()
			if got := count(acts, "create", "pods"); got != tt.wantCreate {
				t.Errorf("got %d creates, want %d", got, tt.wantCreate)
			}
			if got := count(acts, "delete", "pods"); got != tt.wantDel {
				t.Errorf("got %d deletes, want %d", got, tt.wantDel)
			}
		})
	}
}

func TestCreatedPodsCarryControllerRefAndTemplate(t *testing.T) {
	rs := newRS("web", 1)
	f := newFixture(t, rs)
	if _, err := f.c.sync(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	pods, _ := f.client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	if len(pods.Items) != 1 {
		t.Fatalf("got %d pods, want 1", len(pods.Items))
	}
	p := pods.Items[0]
	ref := metav1.GetControllerOf(&p)
	if ref == nil || ref.UID != rs.UID || ref.Kind != "ReplicaSet" || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("got controller ref %+v, want one to the ReplicaSet with blockOwnerDeletion", ref)
	}
	if p.GenerateName != "web-" || p.Labels["app"] != "web" || p.Spec.Containers[0].Image != "img" {
		t.Errorf("pod does not follow the template: %+v", p.ObjectMeta)
	}
	if ev, want := <-f.recorder.Events, "Normal SuccessfulCreate Created pod: "+p.Name; ev != want {
		t.Errorf("got event %q, want %q", ev, want)
	}
}

func TestExpectationsPreventDoubleCreate(t *testing.T) {
	f := newFixture(t, newRS("web", 5))
	ctx := context.Background()
	if _, err := f.c.sync(ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	// The watch has not delivered the pods yet: the cache still holds none.
	if _, err := f.c.sync(ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	if got := count(f.client.Actions(), "create", "pods"); got != 5 {
		t.Fatalf("got %d creates after two syncs with a lagging cache, want 5", got)
	}
	// Observing the creations satisfies the expectations.
	pods, _ := f.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	for i := range pods.Items {
		f.factory.Core().V1().Pods().Informer().GetIndexer().Add(&pods.Items[i])
		f.c.addPod(&pods.Items[i])
	}
	if !f.c.exp.Satisfied("default/web") {
		t.Fatal("expectations not satisfied after all creations were observed")
	}
	if _, err := f.c.sync(ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	if got := count(f.client.Actions(), "create", "pods"); got != 5 {
		t.Errorf("got %d creates, want 5", got)
	}
	// A lost event: after the TTL the cache is trusted again.
	f.c.exp.ExpectCreations("default/web", 1)
	f.clock.Step(expectations.TTL + time.Second)
	if !f.c.exp.Satisfied("default/web") {
		t.Error("expired expectations still block")
	}
}

func TestSlowStartBatch(t *testing.T) {
	tests := []struct {
		name          string
		count, failAt int // failAt: 1-based call that fails, 0 = none
		wantCalls     int
		wantOK        int
	}{
		{"all succeed", 10, 0, 10, 10},
		{"first fails", 10, 1, 1, 0},
		{"second batch fails", 10, 2, 3, 2},
		{"third batch fails", 10, 5, 7, 6},
		{"zero", 0, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			ok, err := slowStartBatch(tt.count, 1, func() error {
				if int(calls.Add(1)) == tt.failAt {
					return errors.New("boom")
				}
				return nil
			})
			if int(calls.Load()) != tt.wantCalls || ok != tt.wantOK {
				t.Errorf("got %d calls, %d ok; want %d calls, %d ok", calls.Load(), ok, tt.wantCalls, tt.wantOK)
			}
			if (tt.failAt > 0) != (err != nil) {
				t.Errorf("got err %v", err)
			}
		})
	}
}

func TestFailedCreateStopsAtFirstBatchAndRecordsEvent(t *testing.T) {
	f := newFixture(t, newRS("web", 100))
	f.client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("quota exceeded")
	})
	if _, err := f.c.sync(context.Background(), "default/web"); err == nil {
		t.Fatal("sync succeeded, want the create error")
	}
	if got := count(f.client.Actions(), "create", "pods"); got != 1 {
		t.Errorf("got %d create calls for a failing template, want 1", got)
	}
	if !f.c.exp.Satisfied("default/web") {
		t.Error("expectations wait for pods that were never created")
	}
	ev := <-f.recorder.Events
	if want := "Warning FailedCreate Error creating: quota exceeded"; ev != want {
		t.Errorf("got event %q, want %q", ev, want)
	}
}

func TestAdoptAndRelease(t *testing.T) {
	rs := newRS("web", 2)
	orphan := newPod("orphan", "web")
	strayed := newPod("strayed", "other", owned(rs))
	otherOwner := newPod("taken", "web", func(p *corev1.Pod) {
		tr := true
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "x", UID: "x", Controller: &tr}}
	})
	f := newFixture(t, rs, orphan, strayed, otherOwner)
	if _, err := f.c.sync(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	got, _ := f.client.CoreV1().Pods("default").Get(ctx, "orphan", metav1.GetOptions{})
	if ref := metav1.GetControllerOf(got); ref == nil || ref.UID != rs.UID {
		t.Errorf("orphan not adopted: refs %+v", got.OwnerReferences)
	}
	got, _ = f.client.CoreV1().Pods("default").Get(ctx, "strayed", metav1.GetOptions{})
	if len(got.OwnerReferences) != 0 {
		t.Errorf("pod whose labels stopped matching still owned: %+v", got.OwnerReferences)
	}
	got, _ = f.client.CoreV1().Pods("default").Get(ctx, "taken", metav1.GetOptions{})
	if metav1.GetControllerOf(got).UID != "x" {
		t.Error("pod of another controller was taken")
	}
	// One adopted pod counts; one more is created.
	if n := count(f.client.Actions(), "create", "pods"); n != 1 {
		t.Errorf("got %d creates, want 1", n)
	}
}

func TestSetBasedSelector(t *testing.T) {
	rs := newRS("web", 1)
	rs.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"a", "b"}}}}
	rs.Spec.Template.Labels = map[string]string{"tier": "b"}
	p := newPod("p", "", labelled(map[string]string{"tier": "a"}), owned(rs))
	f := newFixture(t, rs, p)
	if _, err := f.c.sync(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	if n := count(f.client.Actions(), "create", "pods"); n != 0 {
		t.Errorf("got %d creates, want 0 (the pod matches the set-based selector)", n)
	}
	got, _ := f.client.AppsV1().ReplicaSets("default").Get(context.Background(), "web", metav1.GetOptions{})
	if got.Status.Replicas != 1 || got.Status.FullyLabeledReplicas != 0 {
		t.Errorf("status %+v, want replicas 1, fullyLabeled 0", got.Status)
	}
}

func TestPodsToDeleteOrder(t *testing.T) {
	pods := []*corev1.Pod{
		newPod("ready-old", "web", onNode("n"), phase(corev1.PodRunning), readyAt(t0.Add(-time.Hour)), created(t0.Add(-2*time.Hour))),
		newPod("ready-new", "web", onNode("n"), phase(corev1.PodRunning), readyAt(t0.Add(-time.Minute)), created(t0.Add(-time.Hour))),
		newPod("running-notready", "web", onNode("n"), phase(corev1.PodRunning)),
		newPod("pending", "web", onNode("n"), phase(corev1.PodPending)),
		newPod("unscheduled", "web", phase(corev1.PodPending)),
	}
	want := []string{"unscheduled", "pending", "running-notready", "ready-new", "ready-old"}
	for n := 1; n <= len(want); n++ {
		got := podsToDelete(pods, n)
		for i := range got {
			if got[i].Name != want[i] {
				t.Fatalf("podsToDelete(%d)[%d] = %s, want %s", n, i, got[i].Name, want[i])
			}
		}
	}
}

func TestStatusReadyAndAvailable(t *testing.T) {
	rs := newRS("web", 3)
	rs.Spec.MinReadySeconds = 10
	pods := []runtime.Object{rs,
		newPod("a", "web", owned(rs), readyAt(t0.Add(-time.Minute))),
		newPod("b", "web", owned(rs), readyAt(t0.Add(-5*time.Second))),
		newPod("c", "web", owned(rs)),
	}
	f := newFixture(t, pods...)
	if _, err := f.c.sync(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	got, _ := f.client.AppsV1().ReplicaSets("default").Get(context.Background(), "web", metav1.GetOptions{})
	s := got.Status
	if s.Replicas != 3 || s.ReadyReplicas != 2 || s.AvailableReplicas != 1 || s.FullyLabeledReplicas != 3 || s.ObservedGeneration != 1 {
		t.Errorf("got status %+v, want replicas 3 ready 2 available 1 fullyLabeled 3 observedGeneration 1", s)
	}
	var statusWrites int
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			statusWrites++
		}
	}
	if statusWrites != 1 {
		t.Errorf("got %d status writes, want 1 through /status", statusWrites)
	}
}

func TestNoStatusWriteWhenUnchanged(t *testing.T) {
	rs := newRS("web", 1)
	rs.Status = appsv1.ReplicaSetStatus{Replicas: 1, FullyLabeledReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1, ObservedGeneration: 1}
	f := newFixture(t, rs, newPod("a", "web", owned(rs), readyAt(t0.Add(-time.Hour))))
	if _, err := f.c.sync(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	for _, a := range f.client.Actions() {
		if a.GetVerb() != "list" && a.GetVerb() != "watch" {
			t.Errorf("unexpected write %s %s", a.GetVerb(), fmt.Sprint(a.GetResource()))
		}
	}
}
