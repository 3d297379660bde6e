package daemonset

import (
	"context"
	"fmt"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

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
	var n atomic.Int32
	// The fake implements neither generateName nor creation timestamps.
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		if p.Name == "" {
			p.Name = fmt.Sprintf("%s%05d", p.GenerateName, n.Add(1))
			p.UID = types.UID(p.Name + "-uid")
		}
		return false, nil, nil
	})
	f := informers.NewSharedInformerFactory(client, 0)
	clk := clocktesting.NewFakeClock(t0)
	rec := record.NewFakeRecorder(1000)
	fx := &fixture{t: t, client: client, factory: f, clock: clk, recorder: rec}
	fx.c = NewWithClock(client, f, rec, clk)
	fx.refresh()
	return fx
}

// refresh makes the informer caches hold what the fake API holds, as a
// watch that caught up would.
func (f *fixture) refresh() {
	f.t.Helper()
	ctx := context.Background()
	ds, _ := f.client.AppsV1().DaemonSets("").List(ctx, metav1.ListOptions{})
	var items []any
	for i := range ds.Items {
		items = append(items, &ds.Items[i])
	}
	f.factory.Apps().V1().DaemonSets().Informer().GetIndexer().Replace(items, "")
	revs, _ := f.client.AppsV1().ControllerRevisions("").List(ctx, metav1.ListOptions{})
	items = nil
	for i := range revs.Items {
		items = append(items, &revs.Items[i])
	}
	f.factory.Apps().V1().ControllerRevisions().Informer().GetIndexer().Replace(items, "")
	pods, _ := f.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	items = nil
	for i := range pods.Items {
		items = append(items, &pods.Items[i])
	}
	f.factory.Core().V1().Pods().Informer().GetIndexer().Replace(items, "")
	nodes, _ := f.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	items = nil
	for i := range nodes.Items {
		items = append(items, &nodes.Items[i])
	}
	f.factory.Core().V1().Nodes().Informer().GetIndexer().Replace(items, "")
	// The cache caught up: nothing is pending.
	f.c.exp.Delete("default/ds")
}

func (f *fixture) sync() {
	f.t.Helper()
	if _, err := f.c.sync(context.Background(), "default/ds"); err != nil {
		f.t.Fatalf("sync: %v", err)
	}
}

func (f *fixture) ds() *appsv1.DaemonSet {
	f.t.Helper()
	ds, err := f.client.AppsV1().DaemonSets("default").Get(context.Background(), "ds", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return ds
}

func (f *fixture) pods() []corev1.Pod {
	f.t.Helper()
	l, err := f.client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	sort.Slice(l.Items, func(i, j int) bool { return l.Items[i].Name < l.Items[j].Name })
	return l.Items
}

func (f *fixture) revisions() []appsv1.ControllerRevision {
	f.t.Helper()
	l, err := f.client.AppsV1().ControllerRevisions("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	sort.Slice(l.Items, func(i, j int) bool { return l.Items[i].Revision < l.Items[j].Revision })
	return l.Items
}

// createdOn lists the nodes the pods created since the fixture started are
// pinned to, sorted.
func (f *fixture) createdOn() []string {
	f.t.Helper()
	var out []string
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "create" && a.GetResource().Resource == "pods" {
			node, err := targetNode(a.(k8stesting.CreateAction).GetObject().(*corev1.Pod))
			if err != nil {
				f.t.Fatalf("created pod not pinned to a node: %v", err)
			}
			out = append(out, node)
		}
	}
	sort.Strings(out)
	return out
}

// deleted lists the pods deleted since the fixture started, sorted.
func (f *fixture) deleted() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "delete" && a.GetResource().Resource == "pods" {
			out = append(out, a.(k8stesting.DeleteAction).GetName())
		}
	}
	sort.Strings(out)
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

func newDS(opts ...func(*appsv1.DaemonSet)) *appsv1.DaemonSet {
	one := intstr.FromInt32(1)
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "ds", Namespace: "default", UID: "ds-uid", Generation: 1,
			Annotations: map[string]string{appsv1.DeprecatedTemplateGeneration: "1"}},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "d"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "d"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}},
			},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{
				Type:          appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &one},
			},
			RevisionHistoryLimit: ptr(int32(10)),
		},
	}
	for _, o := range opts {
		o(ds)
	}
	return ds
}

func ptr[T any](v T) *T { return &v }

func withImage(img string) func(*appsv1.DaemonSet) {
	return func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = img }
}

func withNodeSelector(k, v string) func(*appsv1.DaemonSet) {
	return func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.NodeSelector = map[string]string{k: v} }
}

func withToleration(t corev1.Toleration) func(*appsv1.DaemonSet) {
	return func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Tolerations = append(ds.Spec.Template.Spec.Tolerations, t)
	}
}

func newNode(name string, opts ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
	for _, o := range opts {
		o(n)
	}
	return n
}

func labelled(k, v string) func(*corev1.Node) {
	return func(n *corev1.Node) { n.Labels[k] = v }
}

func tainted(key string, effect corev1.TaintEffect) func(*corev1.Node) {
	return func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Effect: effect})
	}
}

type podOpt func(*corev1.Pod)

// daemonPod is a pod of ds on node with the current template's labels.
func daemonPod(name string, ds *appsv1.DaemonSet, node string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name + "-uid"),
			CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour)),
			Labels:            podTemplate(ds, ComputeHash(&ds.Spec.Template, nil)).Labels,
			OwnerReferences:   []metav1.OwnerReference{*metav1.NewControllerRef(ds, controllerKind)}},
		Spec:   corev1.PodSpec{NodeName: node, Containers: ds.Spec.Template.Spec.Containers},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func readySince(at time.Time) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at)}}
	}
}

func ready() podOpt { return readySince(t0.Add(-time.Hour)) }

func inPhase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }

func createdAt(at time.Time) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(at) }
}
