package daemonset

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"minik8s/pkg/controllers/expectations"
)

func TestEligibleNodes(t *testing.T) {
	hostNetwork := func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.HostNetwork = true }
	zoneAffinity := func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}},
			}}},
		}}
	}
	tests := []struct {
		name  string
		ds    *appsv1.DaemonSet
		nodes []*corev1.Node
		want  []string
	}{
		{"every node", newDS(), []*corev1.Node{newNode("n1"), newNode("n2"), newNode("n3")}, []string{"n1", "n2", "n3"}},
		{"nodeSelector", newDS(withNodeSelector("disk", "ssd")),
			[]*corev1.Node{newNode("n1", labelled("disk", "ssd")), newNode("n2", labelled("disk", "hdd")), newNode("n3")}, []string{"n1"}},
		{"required node affinity", newDS(zoneAffinity),
			[]*corev1.Node{newNode("n1", labelled("zone", "a")), newNode("n2", labelled("zone", "b"))}, []string{"n1"}},
		{"template nodeName", newDS(func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.NodeName = "n2" }),
			[]*corev1.Node{newNode("n1"), newNode("n2")}, []string{"n2"}},
		{"untolerated NoSchedule and NoExecute taints", newDS(),
			[]*corev1.Node{newNode("n1", tainted("dedicated", corev1.TaintEffectNoSchedule)), newNode("n2", tainted("gpu", corev1.TaintEffectNoExecute)), newNode("n3")},
			[]string{"n3"}},
		{"PreferNoSchedule does not keep out", newDS(),
			[]*corev1.Node{newNode("n1", tainted("dedicated", corev1.TaintEffectPreferNoSchedule))}, []string{"n1"}},
		{"tolerated taint", newDS(withToleration(corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpExists})),
			[]*corev1.Node{newNode("n1", tainted("dedicated", corev1.TaintEffectNoSchedule)), newNode("n2", tainted("dedicated", corev1.TaintEffectNoExecute))},
			[]string{"n1", "n2"}},
		{"default tolerations: node problems", newDS(),
			[]*corev1.Node{
				newNode("n1", tainted(corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute)),
				newNode("n2", tainted(corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute)),
				newNode("n3", tainted(corev1.TaintNodeDiskPressure, corev1.TaintEffectNoSchedule)),
				newNode("n4", tainted(corev1.TaintNodeMemoryPressure, corev1.TaintEffectNoSchedule)),
				newNode("n5", tainted(corev1.TaintNodePIDPressure, corev1.TaintEffectNoSchedule)),
				newNode("n6", tainted(corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule)),
				newNode("n7", tainted(corev1.TaintNodeNetworkUnavailable, corev1.TaintEffectNoSchedule)),
			},
			[]string{"n1", "n2", "n3", "n4", "n5", "n6"}},
		{"network-unavailable tolerated by hostNetwork pods", newDS(hostNetwork),
			[]*corev1.Node{newNode("n1", tainted(corev1.TaintNodeNetworkUnavailable, corev1.TaintEffectNoSchedule))}, []string{"n1"}},
		{"not-ready NoSchedule is not a default toleration", newDS(),
			[]*corev1.Node{newNode("n1", tainted(corev1.TaintNodeNotReady, corev1.TaintEffectNoSchedule))}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := []runtime.Object{tt.ds}
			for _, n := range tt.nodes {
				objs = append(objs, n)
			}
			f := newFixture(t, objs...)
			f.sync()
			if got := f.createdOn(); !slices.Equal(got, tt.want) {
				t.Errorf("got pods created on %v, want %v", got, tt.want)
			}
			if got, want := f.ds().Status.DesiredNumberScheduled, int32(len(tt.want)); got != want {
				t.Errorf("got desiredNumberScheduled %d, want %d", got, want)
			}
		})
	}
}

func TestCreatedPodIsPlacedByTheScheduler(t *testing.T) {
	ds := newDS(func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{
				{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"n1"}}}},
				{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}}},
			}},
		}}
	}, withToleration(corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr(int64(300))}))
	f := newFixture(t, ds, newNode("n1"), newNode("n2"))
	f.sync()
	pods := f.pods()
	if len(pods) != 1 {
		t.Fatalf("got %d pods, want 1", len(pods))
	}
	p := pods[0]
	if p.Spec.NodeName != "" {
		t.Errorf("got nodeName %q, want it empty (the scheduler binds)", p.Spec.NodeName)
	}
	wantAffinity := &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{
		{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"n1"}}}},
	}}
	if got := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution; !equality.Semantic.DeepEqual(got, wantAffinity) {
		t.Errorf("got required node affinity %+v, want %+v", got, wantAffinity)
	}
	hash := ComputeHash(&ds.Spec.Template, nil)
	if p.Labels[appsv1.ControllerRevisionHashLabelKey] != hash || p.Labels["pod-template-generation"] != "1" || p.Labels["app"] != "d" {
		t.Errorf("got labels %v, want app, controller-revision-hash %s and pod-template-generation 1", p.Labels, hash)
	}
	if !strings.HasPrefix(p.Name, "ds-") {
		t.Errorf("got name %q, want generated from ds-", p.Name)
	}
	ref := metav1.GetControllerOf(&p)
	if ref == nil || ref.Kind != "DaemonSet" || ref.UID != ds.UID || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("got controller ref %+v, want the DaemonSet's", ref)
	}
	// The template's not-ready toleration with tolerationSeconds is
	// replaced by the infinite default one.
	want := []corev1.Toleration{defaultTolerations[0], defaultTolerations[1], defaultTolerations[2], defaultTolerations[3], defaultTolerations[4], defaultTolerations[5]}
	if !equality.Semantic.DeepEqual(p.Spec.Tolerations, want) {
		t.Errorf("got tolerations %+v, want %+v", p.Spec.Tolerations, want)
	}
	if got, want := f.events(), []string{"Normal SuccessfulCreate Created pod: " + p.Name}; !slices.Equal(got, want) {
		t.Errorf("got events %q, want %q", got, want)
	}
}

func TestPinToNodeKeepsOtherAffinity(t *testing.T) {
	a := &corev1.Affinity{
		PodAntiAffinity: &corev1.PodAntiAffinity{},
		NodeAffinity:    &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: 1}}},
	}
	got := pinToNode(a, "n1")
	if got.PodAntiAffinity == nil || len(got.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Errorf("pinToNode dropped the template's other affinity: %+v", got)
	}
	if node, err := targetNode(&corev1.Pod{Spec: corev1.PodSpec{Affinity: got}}); err != nil || node != "n1" {
		t.Errorf("got target node %q, %v; want n1", node, err)
	}
}

func TestPodsWhereTheyDoNotBelong(t *testing.T) {
	ds := newDS(withNodeSelector("role", "edge"))
	tests := []struct {
		name           string
		node           *corev1.Node
		wantDeleted    []string
		wantMissched   int32
		wantDesired    int32
		wantPodCreated bool
	}{
		{"node label removed", newNode("n1"), []string{"p1"}, 1, 0, false},
		{"untolerated NoExecute taint", newNode("n1", labelled("role", "edge"), tainted("evict", corev1.TaintEffectNoExecute)), []string{"p1"}, 1, 0, false},
		{"untolerated NoSchedule taint keeps a running pod", newNode("n1", labelled("role", "edge"), tainted("nosched", corev1.TaintEffectNoSchedule)), nil, 1, 0, false},
		{"eligible", newNode("n1", labelled("role", "edge")), nil, 0, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, ds, tt.node, daemonPod("p1", ds, "n1", ready()))
			f.sync()
			if got := f.deleted(); !slices.Equal(got, tt.wantDeleted) {
				t.Errorf("got deleted %v, want %v", got, tt.wantDeleted)
			}
			if got := f.createdOn(); len(got) != 0 {
				t.Errorf("got pods created on %v, want none", got)
			}
			s := f.ds().Status
			if s.NumberMisscheduled != tt.wantMissched || s.DesiredNumberScheduled != tt.wantDesired {
				t.Errorf("got misscheduled %d desired %d, want %d and %d", s.NumberMisscheduled, s.DesiredNumberScheduled, tt.wantMissched, tt.wantDesired)
			}
		})
	}
}

func TestUnscheduledPodOfAVanishedNodeDeleted(t *testing.T) {
	ds := newDS()
	p := daemonPod("p1", ds, "")
	p.Spec.Affinity = pinToNode(nil, "gone")
	f := newFixture(t, ds, newNode("n1"), p)
	f.sync()
	if got := f.deleted(); !slices.Equal(got, []string{"p1"}) {
		t.Errorf("got deleted %v, want [p1]", got)
	}
	if got := f.createdOn(); !slices.Equal(got, []string{"n1"}) {
		t.Errorf("got created on %v, want [n1]", got)
	}
}

func TestExtraPodsOnANodeKeepTheOldest(t *testing.T) {
	ds := newDS()
	f := newFixture(t, ds, newNode("n1"),
		daemonPod("young", ds, "n1", createdAt(t0.Add(-time.Minute))),
		daemonPod("old", ds, "n1", createdAt(t0.Add(-time.Hour))),
		daemonPod("unscheduled", ds, "", createdAt(t0.Add(-2*time.Hour)), func(p *corev1.Pod) { p.Spec.Affinity = pinToNode(nil, "n1") }))
	f.sync()
	if got, want := f.deleted(), []string{"unscheduled", "young"}; !slices.Equal(got, want) {
		t.Errorf("got deleted %v, want %v", got, want)
	}
}

func TestFailedPodDeletedWithBackOff(t *testing.T) {
	ds := newDS(func(ds *appsv1.DaemonSet) { ds.Status.ObservedGeneration = 1 })
	f := newFixture(t, ds, newNode("n1"), daemonPod("p1", ds, "n1", inPhase(corev1.PodFailed)))
	f.sync()
	if got := f.deleted(); !slices.Equal(got, []string{"p1"}) {
		t.Fatalf("got deleted %v, want [p1]", got)
	}
	ev := f.events()
	if len(ev) == 0 || ev[0] != "Warning FailedDaemonPod Found failed daemon pod default/p1 on node n1, will try to kill it" {
		t.Errorf("got events %q, want FailedDaemonPod first", ev)
	}
	// The replacement fails at once too: within the back-off it stays.
	f.client.ClearActions()
	if err := f.client.Tracker().Add(daemonPod("p2", ds, "n1", inPhase(corev1.PodFailed))); err != nil {
		t.Fatal(err)
	}
	f.refresh()
	f.sync()
	if got := f.deleted(); len(got) != 0 {
		t.Errorf("got deleted %v within the back-off, want none", got)
	}
	f.clock.Step(2 * failedPodsBackoffInitial)
	f.sync()
	if got := f.deleted(); !slices.Equal(got, []string{"p2"}) {
		t.Errorf("got deleted %v after the back-off, want [p2]", got)
	}
}

func TestSucceededPodDeleted(t *testing.T) {
	ds := newDS()
	f := newFixture(t, ds, newNode("n1"), daemonPod("p1", ds, "n1", inPhase(corev1.PodSucceeded)))
	f.sync()
	if got := f.deleted(); !slices.Equal(got, []string{"p1"}) {
		t.Errorf("got deleted %v, want [p1]", got)
	}
}

func TestExpectationsPreventDoubleCreate(t *testing.T) {
	f := newFixture(t, newDS(), newNode("n1"), newNode("n2"))
	f.sync()
	// The watch has not delivered the pods: the cache holds none.
	f.sync()
	if got := f.createdOn(); !slices.Equal(got, []string{"n1", "n2"}) {
		t.Errorf("got pods created on %v after two syncs with a lagging cache, want [n1 n2]", got)
	}
	// Observing the creations satisfies the expectations.
	for _, p := range f.pods() {
		f.c.addPod(&p)
	}
	if !f.c.exp.Satisfied("default/ds") {
		t.Error("expectations not satisfied after the creations were observed")
	}
	f.c.exp.ExpectCreations("default/ds", 1)
	f.clock.Step(expectations.TTL + time.Second)
	if !f.c.exp.Satisfied("default/ds") {
		t.Error("expired expectations still block")
	}
}

func TestStatus(t *testing.T) {
	oldDS := newDS()
	ds := newDS(withImage("img:2"), func(ds *appsv1.DaemonSet) {
		ds.Spec.MinReadySeconds = 10
		ds.Generation = 2
		ds.Annotations[appsv1.DeprecatedTemplateGeneration] = "2"
		ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
	}, withNodeSelector("run", "yes"))
	yes := labelled("run", "yes")
	f := newFixture(t, ds,
		newNode("n1", yes), newNode("n2", yes), newNode("n3", yes), newNode("n4", yes), newNode("n5"),
		daemonPod("available", ds, "n1", readySince(t0.Add(-time.Minute))),
		daemonPod("just-ready", ds, "n2", readySince(t0.Add(-5*time.Second))),
		daemonPod("old-not-ready", oldDS, "n3"),
		daemonPod("misscheduled", ds, "n5", ready(), func(p *corev1.Pod) { p.Spec.NodeSelector = nil }),
	)
	f.c.exp.ExpectDeletions("default/ds", []string{"default/misscheduled"}) // status only
	f.sync()
	got := f.ds().Status
	want := appsv1.DaemonSetStatus{
		DesiredNumberScheduled: 4, CurrentNumberScheduled: 3, NumberMisscheduled: 1,
		NumberReady: 2, NumberAvailable: 1, UpdatedNumberScheduled: 2, NumberUnavailable: 3,
		ObservedGeneration: 0, // not acted upon while expectations are pending
	}
	if !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("got status %+v\nwant %+v", got, want)
	}
	f.refresh()
	f.sync()
	if got := f.ds().Status.ObservedGeneration; got != 2 {
		t.Errorf("got observedGeneration %d, want 2", got)
	}
}

func TestSelectingAll(t *testing.T) {
	ds := newDS(func(ds *appsv1.DaemonSet) { ds.Spec.Selector = &metav1.LabelSelector{} })
	f := newFixture(t, ds, newNode("n1"))
	f.sync()
	if got := f.createdOn(); len(got) != 0 {
		t.Errorf("got pods created on %v, want none", got)
	}
	if got, want := f.events(), []string{"Warning SelectingAll This daemon set is selecting all pods. A non-empty selector is required."}; !slices.Equal(got, want) {
		t.Errorf("got events %q, want %q", got, want)
	}
}

func TestNodeEventsEnqueue(t *testing.T) {
	ds := newDS(withNodeSelector("role", "edge"))
	f := newFixture(t, ds, newNode("plain"), newNode("edge", labelled("role", "edge")))
	ctx := context.Background()
	if err := f.c.syncNode(ctx, "plain"); err != nil {
		t.Fatal(err)
	}
	if n := f.c.queue.Len(); n != 0 {
		t.Errorf("got %d keys queued for a node the DaemonSet does not want, want 0", n)
	}
	if err := f.c.syncNode(ctx, "edge"); err != nil {
		t.Fatal(err)
	}
	if n := f.c.queue.Len(); n != 1 {
		t.Errorf("got %d keys queued for a new eligible node, want 1", n)
	}
}

func TestDeletedNodeRecounts(t *testing.T) {
	f := newFixture(t, newDS(), newNode("n1"))
	f.c.deleteNode(newNode("n1"))
	if n := f.c.queue.Len(); n != 1 {
		t.Errorf("got %d keys queued after a node deletion, want 1", n)
	}
}
