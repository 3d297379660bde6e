package replicaset

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
)

func newRCFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewClientset(objs...)
	var n atomic.Int32
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		if p.Name == "" {
			p.Name = fmt.Sprintf("%s%05d", p.GenerateName, n.Add(1))
		}
		return false, nil, nil
	})
	f := informers.NewSharedInformerFactory(client, 0)
	clk := clocktesting.NewFakeClock(t0)
	rec := &record.FakeRecorder{Events: make(chan string, 1000), IncludeObject: true}
	c := NewReplicationManagerWithClock(client, f, rec, clk)
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.ReplicationController:
			err = f.Core().V1().ReplicationControllers().Informer().GetIndexer().Add(o)
		case *corev1.Pod:
			err = f.Core().V1().Pods().Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return &fixture{client: client, factory: f, c: c, clock: clk, recorder: rec}
}

func newRC(name string, replicas int32) *corev1.ReplicationController {
	return &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name + "-uid"), Generation: 2},
		Spec: corev1.ReplicationControllerSpec{
			Replicas: &replicas,
			Selector: map[string]string{"app": name},
			Template: &corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name, "tier": "front"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img"}}},
			},
		},
	}
}

func ownedByRC(rc *corev1.ReplicationController) podOpt {
	return func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{controllerRef(rcKind, toReplicaSet(rc))}
	}
}

func (f *fixture) rc(t *testing.T) *corev1.ReplicationController {
	t.Helper()
	rc, err := f.client.CoreV1().ReplicationControllers("default").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func TestReplicationControllerCreatesAndDeletes(t *testing.T) {
	rc3, rc1 := newRC("web", 3), newRC("web", 1)
	tests := []struct {
		name                string
		rc                  *corev1.ReplicationController
		pods                []*corev1.Pod
		wantCreate, wantDel int
		wantEvent           string
	}{
		{"create from zero", rc3, nil, 3, 0, "Normal SuccessfulCreate Created pod: web-"},
		{"scale up", rc3, []*corev1.Pod{newPod("a", "web", ownedByRC(rc3))}, 2, 0, "Normal SuccessfulCreate Created pod: web-"},
		{"scale down", rc1, []*corev1.Pod{newPod("a", "web", ownedByRC(rc1)), newPod("b", "web", ownedByRC(rc1)), newPod("c", "web", ownedByRC(rc1))}, 0, 2, "Normal SuccessfulDelete Deleted pod: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := []runtime.Object{tt.rc}
			for _, p := range tt.pods {
				objs = append(objs, p)
			}
			f := newRCFixture(t, objs...)
			if _, err := f.c.sync(context.Background(), "default/web"); err != nil {
				t.Fatal(err)
			}
			acts := f.client.Actions()
			if got := count(acts, "create", "pods"); got != tt.wantCreate {
				t.Errorf("got %d creates, want %d", got, tt.wantCreate)
			}
			if got := count(acts, "delete", "pods"); got != tt.wantDel {
				t.Errorf("got %d deletes, want %d", got, tt.wantDel)
			}
			events := f.events()
			want := " involvedObject{kind=ReplicationController,apiVersion=v1}"
			if len(events) != tt.wantCreate+tt.wantDel {
				t.Fatalf("got events %q, want %d", events, tt.wantCreate+tt.wantDel)
			}
			for _, e := range events {
				if !strings.HasPrefix(e, tt.wantEvent) || !strings.HasSuffix(e, want) {
					t.Errorf("got event %q, want %q…%q", e, tt.wantEvent, want)
				}
			}
		})
	}
}

func TestReplicationControllerPodsCarryItsRefAndTemplate(t *testing.T) {
	f := newRCFixture(t, newRC("web", 1))
	if _, err := f.c.sync(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	pods, _ := f.client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	if len(pods.Items) != 1 {
		t.Fatalf("got %d pods, want 1", len(pods.Items))
	}
	p := pods.Items[0]
	ref := metav1.GetControllerOf(&p)
	if ref == nil || ref.Kind != "ReplicationController" || ref.APIVersion != "v1" || ref.Name != "web" || ref.UID != "web-uid" ||
		ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("got controller ref %+v, want ReplicationController v1 web web-uid blocking deletion", ref)
	}
	if p.Labels["tier"] != "front" || p.Spec.Containers[0].Image != "img" || p.GenerateName != "web-" {
		t.Errorf("got pod labels %v image %q generateName %q, want the template's", p.Labels, p.Spec.Containers[0].Image, p.GenerateName)
	}
}

func TestReplicationControllerAdoptsAndReleases(t *testing.T) {
	rc := newRC("web", 2)
	orphan := newPod("orphan", "web")
	strayed := newPod("strayed", "other", ownedByRC(rc))
	otherOwner := newPod("taken", "web", func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{controllerRef(controllerKind, newRS("rs", 1))}
	})
	f := newRCFixture(t, rc, orphan, strayed, otherOwner)
	if _, err := f.c.sync(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	got, _ := f.client.CoreV1().Pods("default").Get(context.Background(), "orphan", metav1.GetOptions{})
	if ref := metav1.GetControllerOf(got); ref == nil || ref.Kind != "ReplicationController" || ref.UID != rc.UID {
		t.Errorf("orphan: got controller %+v, want the ReplicationController", ref)
	}
	got, _ = f.client.CoreV1().Pods("default").Get(context.Background(), "strayed", metav1.GetOptions{})
	if ref := metav1.GetControllerOf(got); ref != nil {
		t.Errorf("pod whose labels stopped matching: got controller %+v, want released", ref)
	}
	got, _ = f.client.CoreV1().Pods("default").Get(context.Background(), "taken", metav1.GetOptions{})
	if ref := metav1.GetControllerOf(got); ref == nil || ref.Kind != "ReplicaSet" {
		t.Errorf("pod of another controller: got controller %+v, want its ReplicaSet", ref)
	}
	// One adopted pod of two: one more is created.
	if got := count(f.client.Actions(), "create", "pods"); got != 1 {
		t.Errorf("got %d creates, want 1", got)
	}
}

func TestReplicationControllerStatus(t *testing.T) {
	rc := newRC("web", 3)
	rc.Spec.MinReadySeconds = 10
	pods := []*corev1.Pod{
		newPod("a", "web", ownedByRC(rc), labelled(map[string]string{"app": "web", "tier": "front"}), readyAt(t0.Add(-time.Minute))),
		newPod("b", "web", ownedByRC(rc), readyAt(t0.Add(-time.Second))),
		newPod("c", "web", ownedByRC(rc)),
	}
	f := newRCFixture(t, rc, pods[0], pods[1], pods[2])
	if _, err := f.c.sync(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	got := f.rc(t).Status
	want := corev1.ReplicationControllerStatus{Replicas: 3, FullyLabeledReplicas: 1, ReadyReplicas: 2, AvailableReplicas: 1, ObservedGeneration: 2}
	if got.Replicas != want.Replicas || got.FullyLabeledReplicas != want.FullyLabeledReplicas || got.ReadyReplicas != want.ReadyReplicas ||
		got.AvailableReplicas != want.AvailableReplicas || got.ObservedGeneration != want.ObservedGeneration || len(got.Conditions) != 0 {
		t.Errorf("got status %+v, want %+v", got, want)
	}
}

func TestReplicationControllerFailureCondition(t *testing.T) {
	f := newRCFixture(t, newRC("web", 2))
	f.client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(corev1.Resource("pods"), "", errors.New("exceeded quota"))
	})
	if _, err := f.c.sync(context.Background(), "default/web"); err == nil {
		t.Fatal("sync: got no error, want the failed creation")
	}
	conds := f.rc(t).Status.Conditions
	if len(conds) != 1 || conds[0].Type != corev1.ReplicationControllerReplicaFailure || conds[0].Status != corev1.ConditionTrue ||
		conds[0].Reason != "FailedCreate" || !strings.Contains(conds[0].Message, "exceeded quota") {
		t.Errorf("got conditions %+v, want ReplicaFailure True FailedCreate with the error", conds)
	}
	events := f.events()
	if len(events) != 1 || !strings.HasPrefix(events[0], "Warning FailedCreate Error creating: ") {
		t.Errorf("got events %q, want one FailedCreate", events)
	}

	// Once creation works again the condition goes away.
	f2 := newRCFixture(t, f.rc(t))
	if _, err := f2.c.sync(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	if conds := f2.rc(t).Status.Conditions; len(conds) != 0 {
		t.Errorf("got conditions %+v, want none", conds)
	}
}

// The pod handlers wake the ReplicationController a pod names, not a
// ReplicaSet of the same name.
func TestReplicationControllerPodEvents(t *testing.T) {
	rc := newRC("web", 1)
	f := newRCFixture(t, rc)
	f.c.addPod(newPod("x", "other", func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{controllerRef(controllerKind, newRS("web", 1))}
	}))
	if got := f.c.queue.Len(); got != 0 {
		t.Errorf("pod of a ReplicaSet web: got %d keys queued, want 0", got)
	}
	f.c.addPod(newPod("y", "web", ownedByRC(rc)))
	if got := f.c.queue.Len(); got != 1 {
		t.Errorf("pod of the ReplicationController: got %d keys queued, want 1", got)
	}
}
