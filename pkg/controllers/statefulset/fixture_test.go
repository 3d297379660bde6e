package statefulset

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// fixture is the controller over a fake clientset whose informer caches
// are refreshed from the fake after every sync, as a watch would.
type fixture struct {
	t        *testing.T
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	c        *Controller
	clock    *clocktesting.FakeClock
	recorder *record.FakeRecorder
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewClientset(objs...)
	// What the API server would do on create: a UID, and pods start Pending.
	client.PrependReactor("create", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		obj := a.(k8stesting.CreateAction).GetObject()
		if m, ok := obj.(metav1.Object); ok && m.GetUID() == "" {
			m.SetUID(types.UID(m.GetName() + "-uid"))
		}
		if p, ok := obj.(*corev1.Pod); ok && p.Status.Phase == "" {
			p.Status.Phase = corev1.PodPending
		}
		return false, nil, nil
	})
	f := informers.NewSharedInformerFactory(client, 0)
	clk := clocktesting.NewFakeClock(t0)
	rec := record.NewFakeRecorder(1000)
	fx := &fixture{t: t, client: client, factory: f, c: NewWithClock(client, f, rec, clk), clock: clk, recorder: rec}
	fx.refresh()
	return fx
}

// refresh replaces the caches' contents with the fake's objects.
func (f *fixture) refresh() {
	f.t.Helper()
	ctx := context.Background()
	sets, err := f.client.AppsV1().StatefulSets("").List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	pods, _ := f.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	pvcs, _ := f.client.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
	revs, _ := f.client.AppsV1().ControllerRevisions("").List(ctx, metav1.ListOptions{})
	var setObjs, podObjs, pvcObjs, revObjs []any
	for i := range sets.Items {
		setObjs = append(setObjs, &sets.Items[i])
	}
	for i := range pods.Items {
		podObjs = append(podObjs, &pods.Items[i])
	}
	for i := range pvcs.Items {
		pvcObjs = append(pvcObjs, &pvcs.Items[i])
	}
	for i := range revs.Items {
		revObjs = append(revObjs, &revs.Items[i])
	}
	f.factory.Apps().V1().StatefulSets().Informer().GetIndexer().Replace(setObjs, "")
	f.factory.Core().V1().Pods().Informer().GetIndexer().Replace(podObjs, "")
	f.factory.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Replace(pvcObjs, "")
	f.factory.Apps().V1().ControllerRevisions().Informer().GetIndexer().Replace(revObjs, "")
}

// sync runs one sync of default/web and refreshes the caches.
func (f *fixture) sync() {
	f.t.Helper()
	f.client.ClearActions()
	if _, err := f.c.sync(context.Background(), "default/web"); err != nil {
		f.t.Fatalf("sync: %v", err)
	}
	f.refresh()
}

// podNames lists the pods in the fake, sorted.
func (f *fixture) podNames() []string {
	f.t.Helper()
	pods, err := f.client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	var names []string
	for _, p := range pods.Items {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	return names
}

func (f *fixture) pod(name string) *corev1.Pod {
	f.t.Helper()
	p, err := f.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *fixture) set() *appsv1.StatefulSet {
	f.t.Helper()
	s, err := f.client.AppsV1().StatefulSets("default").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f *fixture) updateSet(mut func(*appsv1.StatefulSet)) {
	f.t.Helper()
	s := f.set()
	mut(s)
	s.Generation++
	if _, err := f.client.AppsV1().StatefulSets("default").Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	f.refresh()
}

// setPod changes a pod in the fake, as the kubelet would.
func (f *fixture) setPod(name string, mut func(*corev1.Pod)) {
	f.t.Helper()
	p := f.pod(name)
	mut(p)
	if _, err := f.client.CoreV1().Pods("default").Update(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	f.refresh()
}

func (f *fixture) ready(names ...string) {
	f.t.Helper()
	for _, n := range names {
		f.setPod(n, func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(f.clock.Now())}}
		})
	}
}

func (f *fixture) removePod(name string) {
	f.t.Helper()
	if err := f.client.CoreV1().Pods("default").Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		f.t.Fatal(err)
	}
	f.refresh()
}

// bringUp syncs and readies pods until the set has n Ready pods.
func (f *fixture) bringUp(n int) {
	f.t.Helper()
	for i := 0; i < 2*n+2; i++ {
		f.sync()
		for _, name := range f.podNames() {
			if !podReady(f.pod(name)) {
				f.ready(name)
			}
		}
		if len(f.podNames()) == n {
			f.sync()
			return
		}
	}
	f.t.Fatalf("got pods %v, want %d ready", f.podNames(), n)
}

func (f *fixture) actions(verb, res string) []string {
	var out []string
	for _, a := range f.client.Actions() {
		if a.GetVerb() != verb || a.GetResource().Resource != res || a.GetSubresource() != "" {
			continue
		}
		switch a := a.(type) {
		case k8stesting.CreateAction:
			out = append(out, a.GetObject().(metav1.Object).GetName())
		case k8stesting.DeleteAction:
			out = append(out, a.GetName())
		case k8stesting.UpdateAction:
			out = append(out, a.GetObject().(metav1.Object).GetName())
		}
	}
	return out
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

type setOpt func(*appsv1.StatefulSet)

func parallel(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement }
func withClaims(s *appsv1.StatefulSet) {
	s.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: apiresource.MustParse("1Gi")}},
		},
	}}
}
func retention(scaled, deleted appsv1.PersistentVolumeClaimRetentionPolicyType) setOpt {
	return func(s *appsv1.StatefulSet) {
		s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenScaled: scaled, WhenDeleted: deleted}
	}
}

// newSet is StatefulSet default/web of n replicas with the API's defaults.
func newSet(n int32, opts ...setOpt) *appsv1.StatefulSet {
	s := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "web-uid", Generation: 1},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    &n,
			ServiceName: "web",
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}},
			},
			PodManagementPolicy:  appsv1.OrderedReadyPodManagement,
			RevisionHistoryLimit: ptr(int32(10)),
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr(int32(0))}},
		},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func joined(s []string) string { return strings.Join(s, ",") }

func image(img string) func(*appsv1.StatefulSet) {
	return func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = img }
}

func wantStrings(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if joined(got) != joined(want) {
		t.Errorf("%s: got [%s], want [%s]", what, joined(got), joined(want))
	}
}

var podsGVR = corev1.SchemeGroupVersion.WithResource("pods")

// gracefulDeletes makes pod deletions set a deletionTimestamp, as the API
// server does for a pod with a grace period; finishTerminations removes them.
func (f *fixture) gracefulDeletes() {
	f.client.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		d := a.(k8stesting.DeleteAction)
		obj, err := f.client.Tracker().Get(podsGVR, d.GetNamespace(), d.GetName())
		if err != nil {
			return true, nil, err
		}
		p := obj.(*corev1.Pod).DeepCopy()
		if p.DeletionTimestamp == nil {
			now := metav1.NewTime(f.clock.Now())
			p.DeletionTimestamp = &now
			return true, nil, f.client.Tracker().Update(podsGVR, p, p.Namespace)
		}
		return true, nil, nil
	})
}

func (f *fixture) finishTerminations() {
	f.t.Helper()
	pods, _ := f.client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			if err := f.client.Tracker().Delete(podsGVR, p.Namespace, p.Name); err != nil {
				f.t.Fatal(err)
			}
		}
	}
	f.refresh()
}
