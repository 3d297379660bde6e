package garbagecollector

import (
	"context"
	"errors"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/scheme"
	metadatafake "k8s.io/client-go/metadata/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
)

func rs(name string, finalizers ...string) *appsv1.ReplicaSet {
	r := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name + "-uid"), Finalizers: finalizers}}
	if len(finalizers) > 0 {
		now := metav1.NewTime(time.Now())
		r.DeletionTimestamp = &now
	}
	return r
}

func podOwnedBy(name string, owners ...*appsv1.ReplicaSet) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name + "-uid")}}
	tr := true
	for _, o := range owners {
		p.OwnerReferences = append(p.OwnerReferences, metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: o.Name, UID: o.UID, BlockOwnerDeletion: &tr})
	}
	return p
}

func apiResources(gv string, rs ...metav1.APIResource) *metav1.APIResourceList {
	for i := range rs {
		rs[i].Verbs = metav1.Verbs{"create", "delete", "get", "list", "patch", "update", "watch"}
	}
	return &metav1.APIResourceList{GroupVersion: gv, APIResources: rs}
}

// served is what the fake discovery lists: pods and ReplicaSets, and
// what the collector must not follow (Events, a kind without watch, a
// subresource).
func served() []*metav1.APIResourceList {
	core := apiResources("v1",
		metav1.APIResource{Name: "pods", Kind: "Pod", Namespaced: true},
		metav1.APIResource{Name: "events", Kind: "Event", Namespaced: true},
		metav1.APIResource{Name: "bindings", Kind: "Binding", Namespaced: true},
		metav1.APIResource{Name: "pods/status", Kind: "Pod", Namespaced: true})
	core.APIResources[2].Verbs = metav1.Verbs{"create"}
	return []*metav1.APIResourceList{core, apiResources("apps/v1", metav1.APIResource{Name: "replicasets", Kind: "ReplicaSet", Namespaced: true})}
}

func fakeDiscovery(lists []*metav1.APIResourceList) *fakediscovery.FakeDiscovery {
	return &fakediscovery.FakeDiscovery{Fake: &k8stesting.Fake{Resources: lists}}
}

// newGC seeds the informer caches with cached and the API with live.
func newGC(t *testing.T, cached, live []runtime.Object) (*Controller, *dynamicfake.FakeDynamicClient) {
	t.Helper()
	dyn := dynamicfake.NewSimpleDynamicClient(scheme.Scheme, live...)
	md := metadatafake.NewSimpleMetadataClient(metadatafake.NewTestScheme())
	c, err := New(dyn, md, fakeDiscovery(served()), record.NewFakeRecorder(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.syncResources(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	for _, o := range cached {
		var (
			r  *resource
			om metav1.ObjectMeta
		)
		switch o := o.(type) {
		case *appsv1.ReplicaSet:
			r, om = c.resourceFor("replicasets.apps"), o.ObjectMeta
		case *corev1.Pod:
			r, om = c.resourceFor("pods"), o.ObjectMeta
		}
		pm, _ := r.trim(&metav1.PartialObjectMetadata{ObjectMeta: om})
		if err := r.informer.GetIndexer().Add(pm); err != nil {
			t.Fatal(err)
		}
	}
	return c, dyn
}

type call struct{ verb, resource, policy string }

func writes(dyn *dynamicfake.FakeDynamicClient) []call {
	var out []call
	for _, a := range dyn.Actions() {
		switch a := a.(type) {
		case k8stesting.DeleteAction:
			p := ""
			if pp := a.GetDeleteOptions().PropagationPolicy; pp != nil {
				p = string(*pp)
			}
			out = append(out, call{"delete", a.GetResource().Resource, p})
		case k8stesting.PatchAction:
			out = append(out, call{"patch", a.GetResource().Resource, ""})
		case k8stesting.UpdateAction:
			out = append(out, call{"update", a.GetResource().Resource, ""})
		}
	}
	return out
}

func TestDependents(t *testing.T) {
	owner := rs("owner")
	other := rs("other")
	tests := []struct {
		name   string
		cached []runtime.Object
		live   []runtime.Object
		key    string
		want   []call
	}{
		{"owner gone: background delete", []runtime.Object{podOwnedBy("p", owner)}, []runtime.Object{podOwnedBy("p", owner)},
			"pods|default/p", []call{{"delete", "pods", "Background"}}},
		{"owner in cache", []runtime.Object{owner, podOwnedBy("p", owner)}, []runtime.Object{owner, podOwnedBy("p", owner)},
			"pods|default/p", nil},
		{"owner only live (cache lags)", []runtime.Object{podOwnedBy("p", owner)}, []runtime.Object{owner, podOwnedBy("p", owner)},
			"pods|default/p", nil},
		{"owner recreated under another uid", []runtime.Object{podOwnedBy("p", owner)},
			[]runtime.Object{&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "owner", Namespace: "default", UID: "new"}}, podOwnedBy("p", owner)},
			"pods|default/p", []call{{"delete", "pods", "Background"}}},
		{"one owner left: dangling ref removed", []runtime.Object{other, podOwnedBy("p", owner, other)}, []runtime.Object{other, podOwnedBy("p", owner, other)},
			"pods|default/p", []call{{"patch", "pods", ""}}},
		{"owner in foreground deletion: dependent deleted foreground", []runtime.Object{rs("owner", metav1.FinalizerDeleteDependents), podOwnedBy("p", owner)},
			[]runtime.Object{rs("owner", metav1.FinalizerDeleteDependents), podOwnedBy("p", owner)},
			"pods|default/p", []call{{"delete", "pods", "Foreground"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, dyn := newGC(t, tt.cached, tt.live)
			if err := c.sync(context.Background(), tt.key); err != nil {
				t.Fatalf("sync: %v", err)
			}
			got := writes(dyn)
			if len(got) != len(tt.want) {
				t.Fatalf("got writes %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("write %d: got %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestOrphanFinalizer(t *testing.T) {
	owner := rs("owner", metav1.FinalizerOrphanDependents)
	p := podOwnedBy("p", owner)
	c, dyn := newGC(t, []runtime.Object{owner, p}, []runtime.Object{owner, p})
	if err := c.sync(context.Background(), "replicasets.apps|default/owner"); err != nil {
		t.Fatal(err)
	}
	want := []call{{"patch", "pods", ""}, {"update", "replicasets", ""}}
	got := writes(dyn)
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %v, want %v", got, want)
	}
	u, err := dyn.Resource(c.resourceFor("replicasets.apps").gvr).Namespace("default").Get(context.Background(), "owner", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(u.GetFinalizers()) != 0 {
		t.Errorf("finalizers %v, want none", u.GetFinalizers())
	}
	pu, _ := dyn.Resource(c.resourceFor("pods").gvr).Namespace("default").Get(context.Background(), "p", metav1.GetOptions{})
	if len(pu.GetOwnerReferences()) != 0 {
		t.Errorf("orphaned pod still refers to %v", pu.GetOwnerReferences())
	}
}

func TestForegroundFinalizer(t *testing.T) {
	owner := rs("owner", metav1.FinalizerDeleteDependents)
	p := podOwnedBy("p", owner)
	c, dyn := newGC(t, []runtime.Object{owner, p}, []runtime.Object{owner, p})
	if err := c.sync(context.Background(), "replicasets.apps|default/owner"); err != nil {
		t.Fatal(err)
	}
	if got := writes(dyn); len(got) != 1 || got[0] != (call{"delete", "pods", "Foreground"}) {
		t.Fatalf("with a blocking dependent: got %v, want only a foreground delete of the pod", got)
	}
	// The dependent is gone: the owner may go.
	c2, dyn2 := newGC(t, []runtime.Object{owner}, []runtime.Object{owner})
	if err := c2.sync(context.Background(), "replicasets.apps|default/owner"); err != nil {
		t.Fatal(err)
	}
	if got := writes(dyn2); len(got) != 1 || got[0] != (call{"update", "replicasets", ""}) {
		t.Fatalf("without dependents: got %v, want the finalizer removed", got)
	}
}

// TestFinalizersWaitForNewCaches: an owner's finalizer stays while a
// resource just followed has not listed its objects (one of them may be a
// dependent), but not beyond syncGrace.
func TestFinalizersWaitForNewCaches(t *testing.T) {
	for _, f := range []string{metav1.FinalizerOrphanDependents, metav1.FinalizerDeleteDependents} {
		t.Run(f, func(t *testing.T) {
			owner := rs("owner", f)
			c, dyn := newGC(t, []runtime.Object{owner}, []runtime.Object{owner})
			// The pod informer "started" a moment ago and has not synced.
			c.resourceFor("pods").started = time.Now()
			if err := c.sync(context.Background(), "replicasets.apps|default/owner"); !errors.Is(err, errSyncing) {
				t.Fatalf("got %v, want errSyncing", err)
			}
			if got := writes(dyn); len(got) != 0 {
				t.Fatalf("got writes %v before the pod cache synced, want none", got)
			}
			c.resourceFor("pods").started = time.Now().Add(-syncGrace)
			if err := c.sync(context.Background(), "replicasets.apps|default/owner"); err != nil {
				t.Fatal(err)
			}
			if got := writes(dyn); len(got) != 1 || got[0] != (call{"update", "replicasets", ""}) {
				t.Fatalf("after the grace: got %v, want the finalizer removed", got)
			}
		})
	}
}
