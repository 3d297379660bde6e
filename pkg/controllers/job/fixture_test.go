package job

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"minik8s/pkg/controllers/reconcile"
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
	// The fake does not implement generateName.
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		if p.Name == "" {
			i := n.Add(1)
			p.Name = fmt.Sprintf("%s%05d", p.GenerateName, i)
			p.UID = types.UID(fmt.Sprintf("created-%d", i))
		}
		return false, nil, nil
	})
	f := informers.NewSharedInformerFactory(client, 0)
	clk := clocktesting.NewFakeClock(t0)
	rec := record.NewFakeRecorder(1000)
	c := NewWithClock(client, f, rec, clk)
	fx := &fixture{t: t, client: client, factory: f, c: c, clock: clk, recorder: rec}
	fx.refresh()
	return fx
}

// refresh plays the informers: the caches catch up with the fake API.
func (f *fixture) refresh() {
	f.t.Helper()
	ctx := context.Background()
	jobs, err := f.client.BatchV1().Jobs("").List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	pods, err := f.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	jobIdx := f.factory.Batch().V1().Jobs().Informer().GetIndexer()
	podIdx := f.factory.Core().V1().Pods().Informer().GetIndexer()
	var jl, pl []any
	for i := range jobs.Items {
		jl = append(jl, &jobs.Items[i])
	}
	for i := range pods.Items {
		pl = append(pl, &pods.Items[i])
	}
	if err := jobIdx.Replace(jl, ""); err != nil {
		f.t.Fatal(err)
	}
	if err := podIdx.Replace(pl, ""); err != nil {
		f.t.Fatal(err)
	}
	// What the cache now shows is what the controller waited for.
	f.c.exp.Delete("default/pi")
	f.c.finalizers.forget("default/pi")
}

func (f *fixture) sync() reconcile.Result {
	f.t.Helper()
	res, err := f.c.sync(context.Background(), "default/pi")
	if err != nil {
		f.t.Fatalf("sync: %v", err)
	}
	return res
}

// syncAndRefresh syncs and lets the caches catch up.
func (f *fixture) syncAndRefresh() {
	f.t.Helper()
	f.sync()
	f.refresh()
}

func (f *fixture) job() *batchv1.Job {
	f.t.Helper()
	j, err := f.client.BatchV1().Jobs("default").Get(context.Background(), "pi", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return j
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

func (f *fixture) hasEvent(prefix string) bool {
	for _, e := range f.events() {
		if strings.HasPrefix(e, prefix) {
			return true
		}
	}
	return false
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

type jobOpt func(*batchv1.Job)

func newJob(completions, parallelism *int32, opts ...jobOpt) *batchv1.Job {
	lbl := map[string]string{
		batchv1.ControllerUidLabel: "pi-uid", batchv1.JobNameLabel: "pi",
		"controller-uid": "pi-uid", "job-name": "pi",
	}
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default", UID: "pi-uid", Generation: 1},
		Spec: batchv1.JobSpec{
			Completions:  completions,
			Parallelism:  parallelism,
			BackoffLimit: ptr.To[int32](6),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: "pi-uid"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "main", Image: "toolbox"}},
				},
			},
		},
	}
	for _, o := range opts {
		o(j)
	}
	return j
}

func indexed(j *batchv1.Job) { j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion) }
func suspendedJob(j *batchv1.Job) {
	j.Spec.Suspend = ptr.To(true)
}
func started(at time.Time) jobOpt {
	return func(j *batchv1.Job) { j.Status.StartTime = &metav1.Time{Time: at} }
}
func withStatus(succeeded, failed int32) jobOpt {
	return func(j *batchv1.Job) { j.Status.Succeeded, j.Status.Failed = succeeded, failed }
}

type podOpt func(*corev1.Pod)

func newPod(job *batchv1.Job, name string, phase corev1.PodPhase, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "default", UID: types.UID(name + "-uid"),
			Labels:            job.Spec.Template.Labels,
			Finalizers:        []string{batchv1.JobTrackingFinalizer},
			OwnerReferences:   []metav1.OwnerReference{*metav1.NewControllerRef(job, controllerKind)},
			CreationTimestamp: metav1.NewTime(t0.Add(-time.Minute)),
		},
		Spec:   corev1.PodSpec{NodeName: "n1"},
		Status: corev1.PodStatus{Phase: phase},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func withIndex(ix int) podOpt {
	return func(p *corev1.Pod) {
		p.Annotations = map[string]string{batchv1.JobCompletionIndexAnnotation: fmt.Sprint(ix)}
	}
}
func exitCode(code int32, at time.Time) podOpt {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{ExitCode: code, FinishedAt: metav1.NewTime(at)}}}}
	}
}
func deleting() podOpt { return deletedAt(t0) }
func deletedAt(at time.Time) podOpt {
	return func(p *corev1.Pod) { ts := metav1.NewTime(at); p.DeletionTimestamp = &ts }
}
func noFinalizer() podOpt { return func(p *corev1.Pod) { p.Finalizers = nil } }
func ready() podOpt {
	return func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	}
}

func objects(job *batchv1.Job, pods ...*corev1.Pod) []runtime.Object {
	out := []runtime.Object{job}
	for _, p := range pods {
		out = append(out, p)
	}
	return out
}

// conditions renders a Job's conditions as "Type=Status/Reason" strings.
func conditions(j *batchv1.Job) []string {
	var out []string
	for _, c := range j.Status.Conditions {
		out = append(out, fmt.Sprintf("%s=%s/%s", c.Type, c.Status, c.Reason))
	}
	return out
}
