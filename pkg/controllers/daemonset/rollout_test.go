package daemonset

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func rolling(maxUnavailable, maxSurge *intstr.IntOrString) func(*appsv1.DaemonSet) {
	return func(ds *appsv1.DaemonSet) {
		ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: maxUnavailable, MaxSurge: maxSurge}}
	}
}

func onDelete(ds *appsv1.DaemonSet) {
	ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
}

func intOrStr(v any) *intstr.IntOrString {
	switch v := v.(type) {
	case int:
		x := intstr.FromInt32(int32(v))
		return &x
	default:
		x := intstr.FromString(v.(string))
		return &x
	}
}

func TestRollingUpdateStep(t *testing.T) {
	oldDS := newDS()
	nodes := []runtime.Object{newNode("n1"), newNode("n2"), newNode("n3"), newNode("n4")}
	oldPods := func(opts map[string][]podOpt) []runtime.Object {
		var out []runtime.Object
		for i := 1; i <= 4; i++ {
			name := fmt.Sprintf("old%d", i)
			out = append(out, daemonPod(name, oldDS, fmt.Sprintf("n%d", i), append([]podOpt{ready()}, opts[name]...)...))
		}
		return out
	}
	notReady := func(p *corev1.Pod) { p.Status.Conditions = nil }
	tests := []struct {
		name        string
		strategy    func(*appsv1.DaemonSet)
		pods        []runtime.Object
		wantDeleted []string
		wantCreated []string
	}{
		{"maxUnavailable 1", rolling(intOrStr(1), nil), oldPods(nil), []string{"old1"}, nil},
		{"maxUnavailable 2", rolling(intOrStr(2), nil), oldPods(nil), []string{"old1", "old2"}, nil},
		{"maxUnavailable 50% of 4", rolling(intOrStr("50%"), nil), oldPods(nil), []string{"old1", "old2"}, nil},
		{"maxUnavailable 0 and no surge still rolls one", rolling(intOrStr(0), intOrStr(0)), oldPods(nil), []string{"old1"}, nil},
		{"unavailable old pods go first and use up the budget", rolling(intOrStr(1), nil),
			oldPods(map[string][]podOpt{"old3": {notReady}}), []string{"old3"}, nil},
		{"unavailable old pods are replaced beyond the budget", rolling(intOrStr(1), nil),
			oldPods(map[string][]podOpt{"old2": {notReady}, "old3": {notReady}}), []string{"old2", "old3"}, nil},
		{"a new pod not yet available uses the budget", rolling(intOrStr(1), nil),
			append(oldPods(nil)[1:], daemonPod("new1", newDS(withImage("img:2")), "n1")), nil, nil},
		{"a node without pod uses the budget", rolling(intOrStr(1), nil), oldPods(nil)[1:], nil, []string{"n1"}},
		{"OnDelete leaves old pods", onDelete, oldPods(nil), nil, nil},
		{"maxSurge 1 creates a new pod beside an old one", rolling(intOrStr(0), intOrStr(1)), oldPods(nil), nil, []string{"n1"}},
		{"maxSurge 2", rolling(intOrStr(0), intOrStr(2)), oldPods(nil), nil, []string{"n1", "n2"}},
		{"surge waits for the new pod to be available", rolling(intOrStr(0), intOrStr(1)),
			append(oldPods(nil), daemonPod("new1", newDS(withImage("img:2")), "n1")), nil, nil},
		{"surge deletes the old pod once the new one is available", rolling(intOrStr(0), intOrStr(1)),
			append(oldPods(nil), daemonPod("new1", newDS(withImage("img:2")), "n1", ready())), []string{"old1"}, nil},
		{"surge replaces an unavailable old pod at once", rolling(intOrStr(0), intOrStr(1)),
			oldPods(map[string][]podOpt{"old3": {notReady}}), nil, []string{"n1", "n3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := newDS(withImage("img:2"), tt.strategy, func(ds *appsv1.DaemonSet) {
				ds.Generation = 2
				ds.Annotations[appsv1.DeprecatedTemplateGeneration] = "2"
			})
			objs := append([]runtime.Object{ds}, nodes...)
			f := newFixture(t, append(objs, tt.pods...)...)
			f.sync()
			if got := f.deleted(); !slices.Equal(got, tt.wantDeleted) {
				t.Errorf("got deleted %v, want %v", got, tt.wantDeleted)
			}
			if got := f.createdOn(); !slices.Equal(got, tt.wantCreated) {
				t.Errorf("got created on %v, want %v", got, tt.wantCreated)
			}
		})
	}
}

// kubelet plays scheduler and kubelet for the pods in the fake API: binds
// each to the node it is pinned to and makes it ready now.
func (f *fixture) kubelet() {
	f.t.Helper()
	ctx := context.Background()
	for _, p := range f.pods() {
		if p.Spec.NodeName != "" {
			continue
		}
		node, err := targetNode(&p)
		if err != nil {
			f.t.Fatal(err)
		}
		p.Spec.NodeName = node
		p.CreationTimestamp = metav1.NewTime(f.clock.Now())
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(f.clock.Now())}}
		if _, err := f.client.CoreV1().Pods("default").Update(ctx, &p, metav1.UpdateOptions{}); err != nil {
			f.t.Fatal(err)
		}
	}
}

// TestRolloutToTheEnd runs whole rollouts, checking the strategy's bounds
// after every step: never more than maxUnavailable nodes without an
// available pod, never more than maxSurge nodes with two pods.
func TestRolloutToTheEnd(t *testing.T) {
	tests := []struct {
		name                     string
		strategy                 func(*appsv1.DaemonSet)
		maxUnavailable, maxSurge int
	}{
		{"maxUnavailable 1", rolling(intOrStr(1), nil), 1, 0},
		{"maxUnavailable 2", rolling(intOrStr(2), nil), 2, 0},
		{"maxSurge 1", rolling(intOrStr(0), intOrStr(1)), 0, 1},
		{"maxSurge 50%", rolling(intOrStr(0), intOrStr("50%")), 0, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := newDS(tt.strategy)
			objs := []runtime.Object{ds}
			for i := 1; i <= 5; i++ {
				objs = append(objs, newNode(fmt.Sprintf("n%d", i)))
			}
			f := newFixture(t, objs...)
			step := func() {
				t.Helper()
				f.sync()
				f.kubelet()
				f.clock.Step(time.Second)
				f.refresh()
			}
			step()
			if len(f.pods()) != 5 {
				t.Fatalf("got %d pods, want 5", len(f.pods()))
			}
			step()
			// The new template.
			cur := f.ds()
			cur.Spec.Template.Spec.Containers[0].Image = "img:2"
			cur.Generation++
			cur.Annotations[appsv1.DeprecatedTemplateGeneration] = "2"
			if _, err := f.client.AppsV1().DaemonSets("default").Update(context.Background(), cur, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			f.refresh()
			for i := 0; ; i++ {
				if i == 30 {
					t.Fatalf("rollout not done after 30 steps: %+v", f.ds().Status)
				}
				step()
				byNode := map[string]int{}
				availableNodes := map[string]bool{}
				for _, p := range f.pods() {
					byNode[p.Spec.NodeName]++
					if podReady(&p) {
						availableNodes[p.Spec.NodeName] = true
					}
				}
				if missing := 5 - len(availableNodes); missing > tt.maxUnavailable {
					t.Fatalf("step %d: %d nodes without an available pod, want at most %d", i, missing, tt.maxUnavailable)
				}
				two := 0
				for _, n := range byNode {
					if n > 1 {
						two++
					}
				}
				if two > tt.maxSurge {
					t.Fatalf("step %d: %d nodes with two pods, want at most %d", i, two, tt.maxSurge)
				}
				if s := f.ds().Status; s.UpdatedNumberScheduled == 5 && s.NumberAvailable == 5 && len(f.pods()) == 5 {
					break
				}
			}
			for _, p := range f.pods() {
				if p.Spec.Containers[0].Image != "img:2" {
					t.Errorf("pod %s still runs %s", p.Name, p.Spec.Containers[0].Image)
				}
			}
		})
	}
}

func TestHistory(t *testing.T) {
	ds := newDS(func(ds *appsv1.DaemonSet) { ds.Spec.RevisionHistoryLimit = ptr(int32(2)) })
	f := newFixture(t, ds, newNode("n1"))
	setImage := func(img string) {
		t.Helper()
		cur := f.ds()
		cur.Spec.Template.Spec.Containers[0].Image = img
		if _, err := f.client.AppsV1().DaemonSets("default").Update(context.Background(), cur, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		f.refresh()
		f.sync()
		f.refresh()
	}
	type rev struct {
		image    string
		revision int64
	}
	check := func(want ...rev) {
		t.Helper()
		var got []rev
		for _, r := range f.revisions() {
			ds := f.ds().DeepCopy()
			ds.Spec.Template.Spec.Containers[0].Image = ""
			var img string
			for _, cand := range []string{"img:1", "img:2", "img:3", "img:4"} {
				ds.Spec.Template.Spec.Containers[0].Image = cand
				if ok, _ := matches(ds, &r); ok {
					img = cand
				}
			}
			got = append(got, rev{img, r.Revision})
		}
		if !slices.Equal(got, want) {
			t.Errorf("got revisions %v, want %v", got, want)
		}
	}

	f.sync()
	f.refresh()
	revs := f.revisions()
	if len(revs) != 1 {
		t.Fatalf("got %d revisions, want 1", len(revs))
	}
	r := revs[0]
	hash := ComputeHash(&ds.Spec.Template, nil)
	patch, _ := templatePatch(ds)
	ref := metav1.GetControllerOf(&r)
	if r.Name != "ds-"+hash || r.Revision != 1 || r.Labels[appsv1.ControllerRevisionHashLabelKey] != hash || r.Labels["app"] != "d" ||
		string(r.Data.Raw) != string(patch) || ref == nil || ref.UID != ds.UID {
		t.Errorf("got revision %s revision %d labels %v data %s owner %+v; want ds-%s, 1, the template's labels and hash, the template patch, the DaemonSet",
			r.Name, r.Revision, r.Labels, r.Data.Raw, ref, hash)
	}
	if want := `{"spec":{"template":{"$patch":"replace","metadata":{"labels":{"app":"d"}},"spec":{"containers":[{"image":"img:1","name":"c","resources":{}}]}}}}`; string(r.Data.Raw) != want {
		t.Errorf("got data %s, want %s", r.Data.Raw, want)
	}

	setImage("img:2")
	check(rev{"img:1", 1}, rev{"img:2", 2})
	// Rolling back reuses the identical old revision, renumbered.
	setImage("img:1")
	check(rev{"img:2", 2}, rev{"img:1", 3})
	setImage("img:3")
	check(rev{"img:2", 2}, rev{"img:1", 3}, rev{"img:3", 4})
	// Beyond revisionHistoryLimit (2 old ones) the oldest goes.
	setImage("img:4")
	check(rev{"img:1", 3}, rev{"img:3", 4}, rev{"img:4", 5})
}

func TestHistoryPruningSparesRevisionsOfLivePods(t *testing.T) {
	oldDS := newDS()
	olderDS := newDS(withImage("img:0"))
	ds := newDS(withImage("img:2"), onDelete, func(ds *appsv1.DaemonSet) { ds.Spec.RevisionHistoryLimit = ptr(int32(0)) })
	revision := func(d *appsv1.DaemonSet, n int64) *appsv1.ControllerRevision {
		hash := ComputeHash(&d.Spec.Template, nil)
		patch, _ := templatePatch(d)
		return &appsv1.ControllerRevision{
			ObjectMeta: metav1.ObjectMeta{Name: "ds-" + hash, Namespace: "default",
				Labels:          map[string]string{"app": "d", appsv1.ControllerRevisionHashLabelKey: hash},
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, controllerKind)}},
			Data: runtime.RawExtension{Raw: patch}, Revision: n,
		}
	}
	f := newFixture(t, ds, newNode("n1"), revision(olderDS, 1), revision(oldDS, 2), daemonPod("p1", oldDS, "n1", ready()))
	f.sync()
	var got []int64
	for _, r := range f.revisions() {
		got = append(got, r.Revision)
	}
	if want := []int64{2, 3}; !slices.Equal(got, want) {
		t.Errorf("got revisions %v, want %v (the one p1 runs and the current)", got, want)
	}
}

func revisionOf(ds *appsv1.DaemonSet, name string, n int64) *appsv1.ControllerRevision {
	patch, _ := templatePatch(ds)
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default",
			Labels:          map[string]string{"app": "d", appsv1.ControllerRevisionHashLabelKey: strings.TrimPrefix(name, "ds-")},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, controllerKind)}},
		Data: runtime.RawExtension{Raw: patch}, Revision: n,
	}
}

func TestHashCollision(t *testing.T) {
	ds := newDS()
	other := newDS(withImage("other"))
	hash := ComputeHash(&ds.Spec.Template, nil)
	// A revision of another template holds the name this one hashes to.
	f := newFixture(t, ds, newNode("n1"), revisionOf(other, "ds-"+hash, 1))
	_, err := f.c.sync(context.Background(), "default/ds")
	if err == nil || !strings.Contains(err.Error(), "hash collision") {
		t.Fatalf("got %v, want a hash collision error", err)
	}
	got := f.ds().Status.CollisionCount
	if got == nil || *got != 1 {
		t.Fatalf("got collisionCount %v, want 1", got)
	}
	f.refresh()
	f.sync()
	want := ComputeHash(&ds.Spec.Template, ptr(int32(1)))
	revs := f.revisions()
	if len(revs) != 2 || revs[1].Name != "ds-"+want || revs[1].Revision != 2 {
		t.Errorf("got revisions %v, want ds-%s as revision 2 beside the colliding one", revs, want)
	}
	if pods := f.pods(); len(pods) != 1 || pods[0].Labels[appsv1.ControllerRevisionHashLabelKey] != want {
		t.Errorf("got pods %v, want one labelled %s", pods, want)
	}
}

func TestDuplicateCurrentRevisions(t *testing.T) {
	ds := newDS()
	f := newFixture(t, ds, newNode("n1"), revisionOf(ds, "ds-aaa", 1), revisionOf(ds, "ds-bbb", 2),
		daemonPod("p1", ds, "n1", ready(), func(p *corev1.Pod) { p.Labels[appsv1.ControllerRevisionHashLabelKey] = "aaa" }))
	f.sync()
	revs := f.revisions()
	if len(revs) != 1 || revs[0].Name != "ds-bbb" {
		t.Errorf("got revisions %v, want only the newest, ds-bbb", revs)
	}
	if got := f.pods()[0].Labels[appsv1.ControllerRevisionHashLabelKey]; got != "bbb" {
		t.Errorf("got pod hash label %q, want bbb", got)
	}
	if got := f.deleted(); len(got) != 0 {
		t.Errorf("got deleted %v, want none (the pod runs the current template)", got)
	}
}

func TestAdoptAndRelease(t *testing.T) {
	ds := newDS()
	orphan := daemonPod("orphan", ds, "n1", ready(), func(p *corev1.Pod) { p.OwnerReferences = nil })
	strayed := daemonPod("strayed", ds, "n2", ready(), func(p *corev1.Pod) { p.Labels = map[string]string{"app": "other"} })
	orphanRev := revisionOf(ds, "ds-"+ComputeHash(&ds.Spec.Template, nil), 1)
	orphanRev.OwnerReferences = nil
	f := newFixture(t, ds, newNode("n1"), newNode("n2"), orphan, strayed, orphanRev)
	f.sync()
	ctx := context.Background()
	got, _ := f.client.CoreV1().Pods("default").Get(ctx, "orphan", metav1.GetOptions{})
	if ref := metav1.GetControllerOf(got); ref == nil || ref.UID != ds.UID {
		t.Errorf("orphan pod not adopted: %+v", got.OwnerReferences)
	}
	got, _ = f.client.CoreV1().Pods("default").Get(ctx, "strayed", metav1.GetOptions{})
	if len(got.OwnerReferences) != 0 {
		t.Errorf("pod whose labels stopped matching still owned: %+v", got.OwnerReferences)
	}
	rev, _ := f.client.AppsV1().ControllerRevisions("default").Get(ctx, orphanRev.Name, metav1.GetOptions{})
	if ref := metav1.GetControllerOf(rev); ref == nil || ref.UID != ds.UID {
		t.Errorf("orphan revision not adopted: %+v", rev.OwnerReferences)
	}
	if got := f.revisions(); len(got) != 1 {
		t.Errorf("got %d revisions, want the adopted one only", len(got))
	}
	// The released pod's node gets a pod of its own.
	if got := f.createdOn(); !slices.Equal(got, []string{"n2"}) {
		t.Errorf("got created on %v, want [n2]", got)
	}
}
