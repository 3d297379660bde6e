package deployment

import (
	"context"
	"fmt"
	"strings"
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
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func ip(v intstr.IntOrString) *intstr.IntOrString { return &v }

func TestResolveFenceposts(t *testing.T) {
	tests := []struct {
		surge, unavail intstr.IntOrString
		desired        int32
		wantS, wantU   int32
	}{
		{intstr.FromString("25%"), intstr.FromString("25%"), 4, 1, 1},
		{intstr.FromString("25%"), intstr.FromString("25%"), 1, 1, 0},
		{intstr.FromString("25%"), intstr.FromString("25%"), 3, 1, 0},
		{intstr.FromString("25%"), intstr.FromString("25%"), 10, 3, 2},
		{intstr.FromString("25%"), intstr.FromString("25%"), 1000, 250, 250},
		{intstr.FromString("25%"), intstr.FromString("25%"), 0, 0, 1},
		{intstr.FromString("50%"), intstr.FromString("50%"), 5, 3, 2},
		{intstr.FromString("10%"), intstr.FromString("10%"), 5, 1, 0},
		{intstr.FromString("0%"), intstr.FromString("0%"), 10, 0, 1},
		{intstr.FromInt32(0), intstr.FromInt32(0), 10, 0, 1},
		{intstr.FromInt32(0), intstr.FromString("1%"), 10, 0, 1},
		{intstr.FromInt32(2), intstr.FromInt32(0), 10, 2, 0},
		{intstr.FromString("100%"), intstr.FromString("0%"), 7, 7, 0},
		{intstr.FromString("30%"), intstr.FromString("30%"), 7, 3, 2},
		{intstr.FromString("33%"), intstr.FromString("66%"), 3, 1, 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s of %d", tt.surge.String(), tt.unavail.String(), tt.desired), func(t *testing.T) {
			s, u, err := ResolveFenceposts(ip(tt.surge), ip(tt.unavail), tt.desired)
			if err != nil {
				t.Fatal(err)
			}
			if s != tt.wantS || u != tt.wantU {
				t.Errorf("got surge %d unavailable %d, want %d %d", s, u, tt.wantS, tt.wantU)
			}
		})
	}
}

func TestMaxUnavailableCappedAtReplicas(t *testing.T) {
	d := newDeployment("web", 2, "a")
	d.Spec.Strategy.RollingUpdate.MaxUnavailable = ip(intstr.FromInt32(5))
	if got := MaxUnavailable(d); got != 2 {
		t.Errorf("got %d, want 2", got)
	}
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	if MaxSurge(d) != 0 || MaxUnavailable(d) != 0 {
		t.Error("Recreate has surge/unavailable")
	}
}

type fixture struct {
	t        *testing.T
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	c        *Controller
	clock    *clocktesting.FakeClock
	recorder *record.FakeRecorder
}

func newDeployment(name string, n int32, image string) *appsv1.Deployment {
	lbl := map[string]string{"app": name}
	ten := int32(10)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name + "-uid"), Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: &n,
			Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: ip(intstr.FromInt32(1)), MaxUnavailable: ip(intstr.FromInt32(1))}},
			RevisionHistoryLimit: &ten,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
			},
		},
	}
}

// rsFor builds the ReplicaSet the controller would make for d's template.
func rsFor(d *appsv1.Deployment, replicas int32, revision string, created time.Time) *appsv1.ReplicaSet {
	hash := ComputeHash(&d.Spec.Template, nil)
	tpl := *d.Spec.Template.DeepCopy()
	tpl.Labels = map[string]string{"app": d.Name, PodTemplateHashLabel: hash}
	tr := true
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: d.Name + "-" + hash, Namespace: "default", UID: types.UID("rs-" + hash),
			Labels:            tpl.Labels,
			CreationTimestamp: metav1.NewTime(created),
			Annotations: map[string]string{RevisionAnnotation: revision,
				DesiredReplicasAnnotation: fmt.Sprint(*d.Spec.Replicas), MaxReplicasAnnotation: fmt.Sprint(*d.Spec.Replicas + MaxSurge(d))},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID, Controller: &tr, BlockOwnerDeletion: &tr}},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: tpl.Labels},
			Template: tpl,
		},
		Status: appsv1.ReplicaSetStatus{Replicas: replicas, ReadyReplicas: replicas, AvailableReplicas: replicas},
	}
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	client := fake.NewClientset(objs...)
	f := &fixture{
		t:        t,
		client:   client,
		factory:  informers.NewSharedInformerFactory(client, 0),
		clock:    clocktesting.NewFakeClock(t0),
		recorder: record.NewFakeRecorder(1000),
	}
	f.c = NewWithClock(client, f.factory, f.recorder, f.clock)
	f.refresh(false)
	return f
}

// refresh copies the API's state into the informer caches; with settle,
// every ReplicaSet first reports all its replicas ready and available (the
// ReplicaSet controller and the agents, done instantly).
func (f *fixture) refresh(settle bool) {
	ctx := context.Background()
	rsIdx := f.factory.Apps().V1().ReplicaSets().Informer().GetIndexer()
	rss, _ := f.client.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{})
	for _, o := range rsIdx.List() {
		rsIdx.Delete(o)
	}
	for i := range rss.Items {
		rs := &rss.Items[i]
		if rs.CreationTimestamp.IsZero() {
			rs.CreationTimestamp = metav1.NewTime(f.clock.Now())
			f.clock.Step(time.Second)
			_, _ = f.client.AppsV1().ReplicaSets("default").Update(ctx, rs, metav1.UpdateOptions{})
		}
		if settle {
			n := *rs.Spec.Replicas
			rs.Status = appsv1.ReplicaSetStatus{Replicas: n, ReadyReplicas: n, AvailableReplicas: n, FullyLabeledReplicas: n, ObservedGeneration: rs.Generation}
			_, _ = f.client.AppsV1().ReplicaSets("default").UpdateStatus(ctx, rs, metav1.UpdateOptions{})
		}
		rsIdx.Add(rs)
	}
	dIdx := f.factory.Apps().V1().Deployments().Informer().GetIndexer()
	ds, _ := f.client.AppsV1().Deployments("default").List(ctx, metav1.ListOptions{})
	for i := range ds.Items {
		dIdx.Update(&ds.Items[i])
	}
	pods, _ := f.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	pIdx := f.factory.Core().V1().Pods().Informer().GetIndexer()
	for _, o := range pIdx.List() {
		pIdx.Delete(o)
	}
	for i := range pods.Items {
		pIdx.Add(&pods.Items[i])
	}
}

func (f *fixture) sync(name string) {
	f.t.Helper()
	if _, err := f.c.sync(context.Background(), "default/"+name); err != nil {
		f.t.Fatalf("sync: %v", err)
	}
}

// sizes returns spec.replicas by pod template image.
func (f *fixture) sizes() map[string]int32 {
	rss, _ := f.client.AppsV1().ReplicaSets("default").List(context.Background(), metav1.ListOptions{})
	out := map[string]int32{}
	for _, rs := range rss.Items {
		out[rs.Spec.Template.Spec.Containers[0].Image] += *rs.Spec.Replicas
	}
	return out
}

func (f *fixture) rsByImage(image string) *appsv1.ReplicaSet {
	rss, _ := f.client.AppsV1().ReplicaSets("default").List(context.Background(), metav1.ListOptions{})
	for i := range rss.Items {
		if rss.Items[i].Spec.Template.Spec.Containers[0].Image == image {
			return &rss.Items[i]
		}
	}
	return nil
}

func (f *fixture) deployment(name string) *appsv1.Deployment {
	d, err := f.client.AppsV1().Deployments("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

func TestNewDeploymentCreatesReplicaSet(t *testing.T) {
	d := newDeployment("web", 4, "a")
	f := newFixture(t, d)
	f.sync("web")
	rss, _ := f.client.AppsV1().ReplicaSets("default").List(context.Background(), metav1.ListOptions{})
	if len(rss.Items) != 1 {
		t.Fatalf("got %d replicasets, want 1", len(rss.Items))
	}
	rs := rss.Items[0]
	hash := ComputeHash(&d.Spec.Template, nil)
	if rs.Name != "web-"+hash || rs.Labels[PodTemplateHashLabel] != hash || rs.Spec.Selector.MatchLabels[PodTemplateHashLabel] != hash ||
		rs.Spec.Template.Labels[PodTemplateHashLabel] != hash {
		t.Errorf("replicaset %s not named/labelled by template hash %s: %+v", rs.Name, hash, rs.Labels)
	}
	if *rs.Spec.Replicas != 4 {
		t.Errorf("new replicaset has %d replicas, want 4", *rs.Spec.Replicas)
	}
	if rs.Annotations[RevisionAnnotation] != "1" || rs.Annotations[DesiredReplicasAnnotation] != "4" || rs.Annotations[MaxReplicasAnnotation] != "5" {
		t.Errorf("annotations %v", rs.Annotations)
	}
	if ref := metav1.GetControllerOf(&rs); ref == nil || ref.UID != d.UID {
		t.Errorf("controller ref %+v", rs.OwnerReferences)
	}
	if got := f.deployment("web").Annotations[RevisionAnnotation]; got != "1" {
		t.Errorf("deployment revision %q, want 1", got)
	}
	if ev := <-f.recorder.Events; ev != "Normal ScalingReplicaSet Scaled up replica set web-"+hash+" to 4" {
		t.Errorf("event %q", ev)
	}
}

func TestHashIsStable(t *testing.T) {
	d := newDeployment("web", 1, "a")
	h1 := ComputeHash(&d.Spec.Template, nil)
	if h1 != ComputeHash(d.Spec.Template.DeepCopy(), nil) {
		t.Error("hash differs for equal templates")
	}
	one := int32(1)
	if h1 == ComputeHash(&d.Spec.Template, &one) {
		t.Error("collision count does not change the hash")
	}
	d.Spec.Template.Spec.Containers[0].Image = "b"
	if h1 == ComputeHash(&d.Spec.Template, nil) {
		t.Error("hash ignores the image")
	}
}

// rollout drives a rolling update to the end, checking the bounds between
// steps, and returns the sizes after each step.
func rollout(t *testing.T, f *fixture, d *appsv1.Deployment, oldImage, newImage string) []string {
	t.Helper()
	n := *d.Spec.Replicas
	maxTotal, minAvail := n+MaxSurge(d), n-MaxUnavailable(d)
	var steps []string
	for i := 0; i < 50; i++ {
		f.sync(d.Name)
		s := f.sizes()
		steps = append(steps, fmt.Sprintf("%d/%d", s[oldImage], s[newImage]))
		if s[oldImage]+s[newImage] > maxTotal {
			t.Fatalf("step %d: %d pods wanted, more than %d", i, s[oldImage]+s[newImage], maxTotal)
		}
		// Available pods right now: the ReplicaSets' statuses before settle.
		var avail int32
		rss, _ := f.client.AppsV1().ReplicaSets("default").List(context.Background(), metav1.ListOptions{})
		for _, rs := range rss.Items {
			avail += min(rs.Status.AvailableReplicas, *rs.Spec.Replicas)
		}
		if avail < minAvail {
			t.Fatalf("step %d: %d available, fewer than %d", i, avail, minAvail)
		}
		if s[oldImage] == 0 && s[newImage] == n {
			f.refresh(true)
			f.sync(d.Name)
			return steps
		}
		f.refresh(true)
	}
	t.Fatalf("rollout did not finish: %v", steps)
	return nil
}

func TestRollingUpdateStepByStep(t *testing.T) {
	tests := []struct {
		replicas       int32
		surge, unavail intstr.IntOrString
		want           string
	}{
		{4, intstr.FromInt32(1), intstr.FromInt32(1), "3/1 3/2 1/2 1/4 0/4"},
		{4, intstr.FromInt32(0), intstr.FromInt32(1), "3/0 3/1 2/1 2/2 1/2 1/3 0/3 0/4"},
		{4, intstr.FromInt32(1), intstr.FromInt32(0), "4/1 3/1 3/2 2/2 2/3 1/3 1/4 0/4"},
		{10, intstr.FromString("25%"), intstr.FromString("25%"), "8/3 8/5 3/5 3/10 0/10"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d replicas surge %s unavailable %s", tt.replicas, tt.surge.String(), tt.unavail.String()), func(t *testing.T) {
			d := newDeployment("web", tt.replicas, "a")
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ip(tt.surge), MaxUnavailable: ip(tt.unavail)}
			old := rsFor(d, tt.replicas, "1", t0.Add(-time.Hour))
			d.Spec.Template.Spec.Containers[0].Image = "b"
			d.Generation = 2
			f := newFixture(t, d, old)
			steps := rollout(t, f, d, "a", "b")
			if got := strings.Join(steps, " "); got != tt.want {
				t.Errorf("got steps %s, want %s", got, tt.want)
			}
			newRS := f.rsByImage("b")
			if newRS.Annotations[RevisionAnnotation] != "2" {
				t.Errorf("new revision %q, want 2", newRS.Annotations[RevisionAnnotation])
			}
			got := f.deployment("web")
			if got.Status.UpdatedReplicas != tt.replicas || got.Status.AvailableReplicas != tt.replicas || got.Status.ObservedGeneration != 2 {
				t.Errorf("final status %+v", got.Status)
			}
			if c := getCondition(got.Status, appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionTrue || c.Reason != MinimumReplicasAvailable {
				t.Errorf("Available condition %+v", c)
			}
		})
	}
}

func TestRollbackReusesOldReplicaSet(t *testing.T) {
	d := newDeployment("web", 3, "a")
	rsA := rsFor(d, 0, "1", t0.Add(-2*time.Hour))
	dB := newDeployment("web", 3, "b")
	rsB := rsFor(dB, 3, "2", t0.Add(-time.Hour))
	// The user (ctl rollout undo) puts template "a" back.
	d.Generation = 3
	f := newFixture(t, d, rsA, rsB)
	rollout(t, f, d, "b", "a")
	rss, _ := f.client.AppsV1().ReplicaSets("default").List(context.Background(), metav1.ListOptions{})
	if len(rss.Items) != 2 {
		t.Fatalf("got %d replicasets, want 2 (no new one for a known template)", len(rss.Items))
	}
	a := f.rsByImage("a")
	if a.Name != rsA.Name || a.Annotations[RevisionAnnotation] != "3" || a.Annotations[RevisionHistoryAnnotation] != "1" {
		t.Errorf("rolled-back replicaset %s annotations %v, want revision 3, history 1", a.Name, a.Annotations)
	}
	if got := f.deployment("web").Annotations[RevisionAnnotation]; got != "3" {
		t.Errorf("deployment revision %q, want 3", got)
	}
}

func TestProportionalScaling(t *testing.T) {
	// Mid-rollout (10 replicas, surge 3): old has 8, new has 5. Scale to 20.
	d := newDeployment("web", 10, "a")
	d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ip(intstr.FromInt32(3)), MaxUnavailable: ip(intstr.FromInt32(2))}
	old := rsFor(d, 8, "1", t0.Add(-time.Hour))
	old.Status.AvailableReplicas = 8
	d.Spec.Template.Spec.Containers[0].Image = "b"
	newRS := rsFor(d, 5, "2", t0.Add(-time.Minute))
	newRS.Status.AvailableReplicas = 0
	twenty := int32(20)
	d.Spec.Replicas = &twenty
	d.Status.Replicas = 13
	f := newFixture(t, d, old, newRS)
	f.sync("web")
	s := f.sizes()
	if s["a"] != 14 || s["b"] != 9 {
		t.Errorf("got old %d new %d, want 14 and 9 (23 = 20 + surge 3, split 8:5)", s["a"], s["b"])
	}
	for _, rs := range []*appsv1.ReplicaSet{f.rsByImage("a"), f.rsByImage("b")} {
		if rs.Annotations[DesiredReplicasAnnotation] != "20" || rs.Annotations[MaxReplicasAnnotation] != "23" {
			t.Errorf("%s annotations %v, want desired 20 max 23", rs.Name, rs.Annotations)
		}
	}
	// Scale down to 5 mid-rollout: allowed 8, split the other way.
	f.refresh(false)
	five := int32(5)
	cur := f.deployment("web")
	cur.Spec.Replicas = &five
	_, _ = f.client.AppsV1().Deployments("default").Update(context.Background(), cur, metav1.UpdateOptions{})
	f.refresh(false)
	f.sync("web")
	s = f.sizes()
	if s["a"]+s["b"] != 8 || s["a"] < s["b"] {
		t.Errorf("after scaling to 5: old %d new %d, want 8 in all, old larger", s["a"], s["b"])
	}
}

func TestRecreate(t *testing.T) {
	d := newDeployment("web", 3, "a")
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	old := rsFor(d, 3, "1", t0.Add(-time.Hour))
	d.Spec.Template.Spec.Containers[0].Image = "b"
	tr := true
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "old-pod", Namespace: "default",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: old.Name, UID: old.UID, Controller: &tr}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	f := newFixture(t, d, old, pod)
	f.sync("web")
	if s := f.sizes(); s["a"] != 0 || s["b"] != 0 {
		t.Fatalf("after step 1: %v, want old scaled to 0 and no new", s)
	}
	// The old ReplicaSet reports no pods, but one still runs.
	f.refresh(true)
	f.sync("web")
	if f.rsByImage("b") != nil {
		t.Fatal("new replicaset created while an old pod runs")
	}
	_ = f.client.CoreV1().Pods("default").Delete(context.Background(), "old-pod", metav1.DeleteOptions{})
	f.refresh(true)
	f.sync("web")
	if s := f.sizes(); s["b"] != 3 {
		t.Fatalf("after old pods went: %v, want new at 3", s)
	}
}

func TestPausedDoesNotRollOut(t *testing.T) {
	d := newDeployment("web", 3, "a")
	old := rsFor(d, 3, "1", t0.Add(-time.Hour))
	d.Spec.Template.Spec.Containers[0].Image = "b"
	d.Spec.Paused = true
	f := newFixture(t, d, old)
	f.sync("web")
	if f.rsByImage("b") != nil {
		t.Error("paused deployment created a new replicaset")
	}
	if c := getCondition(f.deployment("web").Status, appsv1.DeploymentProgressing); c != nil && c.Reason != PausedDeployReason {
		t.Errorf("progressing condition %+v", c)
	}
}

func TestRevisionHistoryLimit(t *testing.T) {
	d := newDeployment("web", 1, "cur")
	two := int32(2)
	d.Spec.RevisionHistoryLimit = &two
	objs := []runtime.Object{d, rsFor(d, 1, "6", t0.Add(-time.Minute))}
	for i := 1; i <= 5; i++ {
		od := newDeployment("web", 1, fmt.Sprintf("v%d", i))
		objs = append(objs, rsFor(od, 0, fmt.Sprint(i), t0.Add(-time.Duration(10-i)*time.Hour)))
	}
	f := newFixture(t, objs...)
	f.sync("web") // writes status; pruning waits for a complete rollout
	f.refresh(true)
	f.sync("web")
	s := f.sizes()
	for _, img := range []string{"v1", "v2", "v3"} {
		if _, ok := s[img]; ok {
			t.Errorf("revision %s kept, want pruned", img)
		}
	}
	for _, img := range []string{"v4", "v5", "cur"} {
		if _, ok := s[img]; !ok {
			t.Errorf("revision %s pruned, want kept", img)
		}
	}
}

func TestProgressDeadline(t *testing.T) {
	d := newDeployment("web", 2, "a")
	old := rsFor(d, 2, "1", t0.Add(-time.Hour))
	d.Spec.Template.Spec.Containers[0].Image = "b"
	sixty := int32(60)
	d.Spec.ProgressDeadlineSeconds = &sixty
	f := newFixture(t, d, old)
	f.sync("web")
	f.refresh(false) // the new pods never become available
	f.sync("web")
	cond := getCondition(f.deployment("web").Status, appsv1.DeploymentProgressing)
	if cond == nil || cond.Status != corev1.ConditionTrue {
		t.Fatalf("progressing %+v, want True", cond)
	}
	f.clock.Step(61 * time.Second)
	f.refresh(false)
	f.sync("web")
	cond = getCondition(f.deployment("web").Status, appsv1.DeploymentProgressing)
	if cond == nil || cond.Status != corev1.ConditionFalse || cond.Reason != TimedOutReason {
		t.Fatalf("progressing %+v, want False/%s", cond, TimedOutReason)
	}
	avail := getCondition(f.deployment("web").Status, appsv1.DeploymentAvailable)
	if avail == nil || avail.Status != corev1.ConditionTrue {
		t.Errorf("available %+v, want True (1 of 2 old pods still up, maxUnavailable 1)", avail)
	}
}

func TestProgressCompletes(t *testing.T) {
	d := newDeployment("web", 2, "a")
	sixty := int32(60)
	d.Spec.ProgressDeadlineSeconds = &sixty
	f := newFixture(t, d)
	f.sync("web")
	if c := getCondition(f.deployment("web").Status, appsv1.DeploymentProgressing); c == nil || c.Reason != NewReplicaSetReason {
		t.Fatalf("after creation: %+v, want %s", c, NewReplicaSetReason)
	}
	f.refresh(true)
	f.sync("web")
	if c := getCondition(f.deployment("web").Status, appsv1.DeploymentProgressing); c == nil || c.Reason != NewRSAvailableReason || c.Status != corev1.ConditionTrue {
		t.Fatalf("after pods available: %+v, want %s", c, NewRSAvailableReason)
	}
	s := f.deployment("web").Status
	if s.Replicas != 2 || s.UpdatedReplicas != 2 || s.ReadyReplicas != 2 || s.AvailableReplicas != 2 || s.UnavailableReplicas != 0 {
		t.Errorf("status %+v", s)
	}
}
