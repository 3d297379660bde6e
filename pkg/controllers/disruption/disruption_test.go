package disruption

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	fakescale "k8s.io/client-go/scale/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

var widgetGVK = schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}

type fixture struct {
	client   *fake.Clientset
	c        *Controller
	clock    *clocktesting.FakeClock
	recorder *record.FakeRecorder
}

// newFixture puts objs in the fake API and the informer caches. Widgets
// (example.com/v1) have a scale subresource served by the fake scale
// client from widgets.
func newFixture(t *testing.T, widgets map[string]*autoscalingv1.Scale, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewClientset(objs...)
	client.Discovery().(*fakediscovery.FakeDiscovery).Resources = []*metav1.APIResourceList{{
		GroupVersion: widgetGVK.GroupVersion().String(),
		APIResources: []metav1.APIResource{{Name: "widgets", Kind: "Widget", Namespaced: true},
			{Name: "widgets/scale", Group: "autoscaling", Version: "v1", Kind: "Scale"}},
	}, {
		GroupVersion: "apps/v1",
		APIResources: []metav1.APIResource{{Name: "replicasets", Kind: "ReplicaSet", Namespaced: true},
			{Name: "replicasets/scale", Group: "autoscaling", Version: "v1", Kind: "Scale"}},
	}}
	mapper := apimeta.NewDefaultRESTMapper(nil)
	mapper.Add(widgetGVK, apimeta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Gadget"}, apimeta.RESTScopeNamespace)
	mapper.Add(appsv1.SchemeGroupVersion.WithKind("ReplicaSet"), apimeta.RESTScopeNamespace)
	scales := &fakescale.FakeScaleClient{}
	scales.AddReactor("get", "widgets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		name := a.(k8stesting.GetAction).GetName()
		if s, ok := widgets[name]; ok {
			return true, s, nil
		}
		return true, nil, apierrors.NewNotFound(schema.GroupResource{Group: "example.com", Resource: "widgets"}, name)
	})
	scales.AddReactor("get", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewNotFound(a.GetResource().GroupResource(), a.(k8stesting.GetAction).GetName())
	})
	f := informers.NewSharedInformerFactory(client, 0)
	clk := clocktesting.NewFakeClock(t0)
	rec := record.NewFakeRecorder(100)
	c := New(client, f, rec, mapper, scales, client.Discovery(), clk)
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *policyv1.PodDisruptionBudget:
			err = f.Policy().V1().PodDisruptionBudgets().Informer().GetIndexer().Add(o)
		case *corev1.Pod:
			err = f.Core().V1().Pods().Informer().GetIndexer().Add(o)
		case *corev1.ReplicationController:
			err = f.Core().V1().ReplicationControllers().Informer().GetIndexer().Add(o)
		case *appsv1.ReplicaSet:
			err = f.Apps().V1().ReplicaSets().Informer().GetIndexer().Add(o)
		case *appsv1.Deployment:
			err = f.Apps().V1().Deployments().Informer().GetIndexer().Add(o)
		case *appsv1.StatefulSet:
			err = f.Apps().V1().StatefulSets().Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return &fixture{client: client, c: c, clock: clk, recorder: rec}
}

func newPDB(min, maxUnavailable *intstr.IntOrString) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "pdb", Namespace: "default", UID: "pdb-uid", Generation: 3},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: min, MaxUnavailable: maxUnavailable,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		},
	}
}

func ref(apiVersion, kind, name string) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID(name + "-uid"), Controller: ptr.To(true)}
}

func meta(name string, owner ...metav1.OwnerReference) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name + "-uid"), OwnerReferences: owner}
}

func pod(name string, ready bool, owner ...metav1.OwnerReference) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: meta(name, owner...), Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	p.Labels = map[string]string{"app": "web"}
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
	return p
}

func pods(n int, ready bool, owner ...metav1.OwnerReference) []runtime.Object {
	var out []runtime.Object
	for i := range n {
		out = append(out, pod(string(rune('a'+i)), ready, owner...))
	}
	return out
}

func withDisrupted(pdb *policyv1.PodDisruptionBudget, m map[string]metav1.Time) *policyv1.PodDisruptionBudget {
	pdb.Status.DisruptedPods = m
	return pdb
}

func (f *fixture) pdb(t *testing.T) *policyv1.PodDisruptionBudget {
	t.Helper()
	pdb, err := f.client.PolicyV1().PodDisruptionBudgets("default").Get(context.Background(), "pdb", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pdb
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

func TestSyncStatus(t *testing.T) {
	rsRef := ref("apps/v1", "ReplicaSet", "rs")
	depRSRef := ref("apps/v1", "ReplicaSet", "dep-rs")
	ssRef := ref("apps/v1", "StatefulSet", "ss")
	rcRef := ref("v1", "ReplicationController", "rc")
	widgetRef := ref("example.com/v1", "Widget", "w")
	rs := &appsv1.ReplicaSet{ObjectMeta: meta("rs"), Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(int32(4))}}
	dep := &appsv1.Deployment{ObjectMeta: meta("dep"), Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(5))}}
	depRS := &appsv1.ReplicaSet{ObjectMeta: meta("dep-rs", ref("apps/v1", "Deployment", "dep")), Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(int32(3))}}
	ss := &appsv1.StatefulSet{ObjectMeta: meta("ss"), Spec: appsv1.StatefulSetSpec{Replicas: ptr.To(int32(4))}}
	rc := &corev1.ReplicationController{ObjectMeta: meta("rc"), Spec: corev1.ReplicationControllerSpec{Replicas: ptr.To(int32(2))}}
	widget := &autoscalingv1.Scale{ObjectMeta: meta("w"), Spec: autoscalingv1.ScaleSpec{Replicas: 6}}
	recent := metav1.NewTime(t0.Add(-30 * time.Second))
	old := metav1.NewTime(t0.Add(-3 * time.Minute))

	tests := []struct {
		name    string
		pdb     *policyv1.PodDisruptionBudget
		objs    []runtime.Object
		want    policyv1.PodDisruptionBudgetStatus // conditions checked through reason
		reason  string
		message string // substring of the condition's message
		event   string // substring of one event
	}{
		{
			name: "minAvailable number counts the matching pods",
			pdb:  newPDB(ptr.To(intstr.FromInt32(2)), nil), objs: pods(3, true),
			want:   policyv1.PodDisruptionBudgetStatus{ExpectedPods: 3, DesiredHealthy: 2, CurrentHealthy: 3, DisruptionsAllowed: 1},
			reason: policyv1.SufficientPodsReason,
		},
		{
			name: "minAvailable percent of a ReplicaSet's scale, rounded up",
			pdb:  newPDB(ptr.To(intstr.FromString("60%")), nil), objs: append(pods(4, true, rsRef), rs),
			want:   policyv1.PodDisruptionBudgetStatus{ExpectedPods: 4, DesiredHealthy: 3, CurrentHealthy: 4, DisruptionsAllowed: 1},
			reason: policyv1.SufficientPodsReason,
		},
		{
			name: "maxUnavailable number of a Deployment's scale, not its ReplicaSet's",
			pdb:  newPDB(nil, ptr.To(intstr.FromInt32(1))), objs: append(pods(3, true, depRSRef), dep, depRS),
			want:   policyv1.PodDisruptionBudgetStatus{ExpectedPods: 5, DesiredHealthy: 4, CurrentHealthy: 3, DisruptionsAllowed: 0},
			reason: policyv1.InsufficientPodsReason,
		},
		{
			name: "maxUnavailable percent of a StatefulSet's scale",
			pdb:  newPDB(nil, ptr.To(intstr.FromString("50%"))), objs: append(pods(4, true, ssRef), ss),
			want:   policyv1.PodDisruptionBudgetStatus{ExpectedPods: 4, DesiredHealthy: 2, CurrentHealthy: 4, DisruptionsAllowed: 2},
			reason: policyv1.SufficientPodsReason,
		},
		{
			name: "maxUnavailable of a ReplicationController's scale",
			pdb:  newPDB(nil, ptr.To(intstr.FromInt32(1))), objs: append(pods(2, true, rcRef), rc),
			want:   policyv1.PodDisruptionBudgetStatus{ExpectedPods: 2, DesiredHealthy: 1, CurrentHealthy: 2, DisruptionsAllowed: 1},
			reason: policyv1.SufficientPodsReason,
		},
		{
			name: "maxUnavailable of another kind through its scale subresource",
			pdb:  newPDB(nil, ptr.To(intstr.FromInt32(2))), objs: pods(6, true, widgetRef),
			want:   policyv1.PodDisruptionBudgetStatus{ExpectedPods: 6, DesiredHealthy: 4, CurrentHealthy: 6, DisruptionsAllowed: 2},
			reason: policyv1.SufficientPodsReason,
		},
		{
			name:   "pods not ready are not healthy",
			pdb:    newPDB(ptr.To(intstr.FromInt32(1)), nil),
			objs:   []runtime.Object{pod("a", true), pod("b", false)},
			want:   policyv1.PodDisruptionBudgetStatus{ExpectedPods: 2, DesiredHealthy: 1, CurrentHealthy: 1, DisruptionsAllowed: 0},
			reason: policyv1.InsufficientPodsReason,
		},
		{
			name: "a recent eviction keeps its pod out of healthy, an expired one is dropped",
			pdb: withDisrupted(newPDB(ptr.To(intstr.FromInt32(1)), nil),
				map[string]metav1.Time{"a": recent, "b": old, "gone": recent}),
			objs: pods(3, true),
			want: policyv1.PodDisruptionBudgetStatus{ExpectedPods: 3, DesiredHealthy: 1, CurrentHealthy: 2, DisruptionsAllowed: 1,
				DisruptedPods: map[string]metav1.Time{"a": recent}},
			reason: policyv1.SufficientPodsReason,
			event:  "NotDeleted Pod was expected by PDB default/pdb to be deleted but it wasn't",
		},
		{
			name:   "no matching pods allow nothing",
			pdb:    newPDB(ptr.To(intstr.FromInt32(0)), nil),
			want:   policyv1.PodDisruptionBudgetStatus{},
			reason: policyv1.InsufficientPodsReason,
			event:  "NoPods No matching pods found",
		},
		{
			name:   "unmanaged pods with a percentage count nothing",
			pdb:    newPDB(ptr.To(intstr.FromString("50%")), nil),
			objs:   pods(2, true),
			want:   policyv1.PodDisruptionBudgetStatus{ExpectedPods: 0, DesiredHealthy: 0, CurrentHealthy: 2, DisruptionsAllowed: 0},
			reason: policyv1.InsufficientPodsReason,
			event:  "UnmanagedPods",
		},
		{
			name:    "a missing controller fails safe",
			pdb:     newPDB(nil, ptr.To(intstr.FromInt32(1))),
			objs:    pods(2, true, ref("apps/v1", "ReplicaSet", "missing")),
			want:    policyv1.PodDisruptionBudgetStatus{},
			reason:  policyv1.SyncFailedReason,
			message: `found no controllers for pod "a"`,
			event:   "CalculateExpectedPodCountFailed",
		},
		{
			name:    "a kind without a scale subresource fails safe",
			pdb:     newPDB(nil, ptr.To(intstr.FromInt32(1))),
			objs:    pods(1, true, ref("example.com/v1", "Gadget", "g")),
			want:    policyv1.PodDisruptionBudgetStatus{},
			reason:  policyv1.SyncFailedReason,
			message: "gadgets.example.com does not implement the scale subresource",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, map[string]*autoscalingv1.Scale{"w": widget}, append(tt.objs, tt.pdb)...)
			if _, err := f.c.sync(context.Background(), "default/pdb"); err != nil {
				t.Fatalf("sync: %v", err)
			}
			got := f.pdb(t).Status
			if tt.reason != policyv1.SyncFailedReason {
				tt.want.ObservedGeneration = 3
			}
			if tt.want.DisruptedPods == nil && tt.reason != policyv1.SyncFailedReason {
				tt.want.DisruptedPods = map[string]metav1.Time{}
			}
			cond := apimeta.FindStatusCondition(got.Conditions, policyv1.DisruptionAllowedCondition)
			got.Conditions = nil
			if !equality.Semantic.DeepEqual(got, tt.want) {
				t.Errorf("got status %+v, want %+v", got, tt.want)
			}
			if cond == nil {
				t.Fatalf("got no %s condition", policyv1.DisruptionAllowedCondition)
			}
			wantStatus := metav1.ConditionFalse
			if tt.reason == policyv1.SufficientPodsReason {
				wantStatus = metav1.ConditionTrue
			}
			if cond.Reason != tt.reason || cond.Status != wantStatus || !strings.Contains(cond.Message, tt.message) {
				t.Errorf("got condition %s %s %q, want %s %s containing %q", cond.Status, cond.Reason, cond.Message, wantStatus, tt.reason, tt.message)
			}
			if tt.event != "" {
				events := f.events()
				found := false
				for _, e := range events {
					found = found || strings.Contains(e, tt.event)
				}
				if !found {
					t.Errorf("got events %q, want one containing %q", events, tt.event)
				}
			}
		})
	}
}

// An up-to-date status is not written again.
func TestSyncUnchangedWritesNothing(t *testing.T) {
	pdb := newPDB(ptr.To(intstr.FromInt32(1)), nil)
	f := newFixture(t, nil, append(pods(2, true), pdb)...)
	if _, err := f.c.sync(context.Background(), "default/pdb"); err != nil {
		t.Fatal(err)
	}
	synced := newFixture(t, nil, append(pods(2, true), f.pdb(t))...)
	if _, err := synced.c.sync(context.Background(), "default/pdb"); err != nil {
		t.Fatal(err)
	}
	for _, a := range synced.client.Actions() {
		if a.GetVerb() == "update" {
			t.Errorf("got %s %s/%s, want no write", a.GetVerb(), a.GetResource().Resource, a.GetSubresource())
		}
	}
}

func TestPDBForPod(t *testing.T) {
	other := newPDB(ptr.To(intstr.FromInt32(1)), nil)
	other.Name = "another"
	f := newFixture(t, nil, newPDB(ptr.To(intstr.FromInt32(1)), nil), other)
	if got, want := f.c.pdbForPod(pod("a", true)), "default/another"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if events := f.events(); len(events) != 1 || !strings.Contains(events[0], "MultiplePodDisruptionBudgets") {
		t.Errorf("got events %q, want MultiplePodDisruptionBudgets", events)
	}
	unlabelled := pod("b", true)
	unlabelled.Labels = nil
	if got := f.c.pdbForPod(unlabelled); got != "" {
		t.Errorf("got %q for a pod without labels, want none", got)
	}
}

func TestStaleDisruptionTarget(t *testing.T) {
	withTarget := func(name, reason string, since time.Duration, deleting bool) *corev1.Pod {
		p := pod(name, true)
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{
			Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: reason,
			LastTransitionTime: metav1.NewTime(t0.Add(-since)),
		})
		if deleting {
			p.DeletionTimestamp = ptr.To(metav1.NewTime(t0))
		}
		return p
	}
	tests := []struct {
		name      string
		pod       *corev1.Pod
		wantStale bool
		wantAfter time.Duration
		wantReset bool
	}{
		{"evicted 3 minutes ago and not deleted", withTarget("a", "EvictionByEvictionAPI", 3*time.Minute, false), true, 0, true},
		{"evicted 30 seconds ago", withTarget("b", "EvictionByEvictionAPI", 30*time.Second, false), true, 90 * time.Second, false},
		{"deleting", withTarget("c", "EvictionByEvictionAPI", 3*time.Minute, true), false, 0, false},
		{"set by the kubelet", withTarget("d", corev1.PodReasonTerminationByKubelet, 3*time.Minute, false), false, 0, false},
		{"no condition", pod("e", true), false, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil, tt.pod)
			stale, after := f.c.staleDisruptionCondition(tt.pod)
			if stale != tt.wantStale || after != tt.wantAfter {
				t.Errorf("got stale %v after %v, want %v after %v", stale, after, tt.wantStale, tt.wantAfter)
			}
			res, err := f.c.syncStalePod(context.Background(), "default/"+tt.pod.Name)
			if err != nil {
				t.Fatal(err)
			}
			if res.RequeueAfter != tt.wantAfter {
				t.Errorf("got a sync again after %s, want %s", res.RequeueAfter, tt.wantAfter)
			}
			got, err := f.client.CoreV1().Pods("default").Get(context.Background(), tt.pod.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var reset bool
			for _, c := range got.Status.Conditions {
				reset = reset || c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionFalse
			}
			if reset != tt.wantReset {
				t.Errorf("got condition reset %v, want %v", reset, tt.wantReset)
			}
		})
	}
}

// A pod event wakes the budget selecting the pod, and schedules the reset
// of a DisruptionTarget condition.
func TestPodEvents(t *testing.T) {
	f := newFixture(t, nil, newPDB(ptr.To(intstr.FromInt32(1)), nil))
	other := pod("x", true)
	other.Labels = map[string]string{"app": "other"}
	f.c.podChanged(other)
	if got := f.c.queue.Len(); got != 0 {
		t.Errorf("pod no budget selects: got %d keys queued, want 0", got)
	}
	p := pod("a", true)
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{
		Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "EvictionByEvictionAPI",
		LastTransitionTime: metav1.NewTime(t0.Add(-3 * time.Minute)),
	})
	f.c.podChanged(p)
	if f.c.queue.Len() != 1 || f.c.staleQueue.Len() != 1 {
		t.Fatalf("selected pod with a stale DisruptionTarget: got %d and %d keys queued, want 1 and 1", f.c.queue.Len(), f.c.staleQueue.Len())
	}
	if key, _ := f.c.queue.Get(); key != "default/pdb" {
		t.Errorf("selected pod: got key %q queued, want default/pdb", key)
	}
	if key, _ := f.c.staleQueue.Get(); key != "default/a" {
		t.Errorf("pod with a stale DisruptionTarget: got key %q queued, want default/a", key)
	}
}
