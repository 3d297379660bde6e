package garbagecollector

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/scheme"
	metadatafake "k8s.io/client-go/metadata/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// failingGroup is a discovery whose one group version does not answer.
type failingGroup struct {
	*fakediscovery.FakeDiscovery
	gv string
}

func (f *failingGroup) ServerResourcesForGroupVersion(gv string) (*metav1.APIResourceList, error) {
	return f.ServerResourcesForGroupVersionWithContext(context.Background(), gv)
}

func (f *failingGroup) ServerResourcesForGroupVersionWithContext(ctx context.Context, gv string) (*metav1.APIResourceList, error) {
	if gv == f.gv {
		return nil, errors.New("the group is down")
	}
	return f.FakeDiscovery.ServerResourcesForGroupVersionWithContext(ctx, gv)
}

func (c *Controller) followed() []string {
	var out []string
	for _, r := range c.snapshot() {
		out = append(out, r.gvr.String())
	}
	slices.Sort(out)
	return out
}

// drain empties the queue and returns what it held.
func drain(c *Controller) []string {
	var out []string
	for c.queue.Len() > 0 {
		k, _ := c.queue.Get()
		c.queue.Done(k)
		out = append(out, k)
	}
	return out
}

func TestRediscovery(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A pod owned by a Job, while Jobs are not served yet.
	pod := &metav1.PartialObjectMetadata{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "p-uid", Labels: map[string]string{"big": "label"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: "j", UID: "j-uid"}}},
	}
	disc := fakeDiscovery(served())
	sch := metadatafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(sch); err != nil {
		t.Fatal(err)
	}
	md := metadatafake.NewSimpleMetadataClient(sch, pod)
	c, err := New(dynamicfake.NewSimpleDynamicClient(scheme.Scheme), md, disc, record.NewFakeRecorder(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.syncResources(ctx, true); err != nil {
		t.Fatal(err)
	}
	if got, want := c.followed(), []string{"/v1, Resource=pods", "apps/v1, Resource=replicasets"}; !slices.Equal(got, want) {
		t.Fatalf("followed %v, want %v (no Events, nothing without watch)", got, want)
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.hasSynced) {
		t.Fatal("caches did not sync")
	}
	cached, ok, _ := c.resourceFor("pods").informer.GetStore().GetByKey("default/p")
	if !ok {
		t.Fatal("pod p not in the cache")
	}
	if pm := cached.(*metav1.PartialObjectMetadata); pm.Labels != nil || pm.Kind != "Pod" || len(pm.OwnerReferences) != 1 {
		t.Errorf("cached %+v, want the pod's kind and owners, without labels", pm)
	}
	if _, ok := c.ownerOf(pod.OwnerReferences[0]); ok {
		t.Fatal("a Job owner resolved while Jobs are not served")
	}
	drain(c)

	// Jobs appear, ReplicaSets go.
	old := c.resourceFor("replicasets.apps")
	disc.Resources = []*metav1.APIResourceList{served()[0],
		apiResources("batch/v1", metav1.APIResource{Name: "jobs", Kind: "Job", Namespaced: true})}
	if err := c.syncResources(ctx, true); err != nil {
		t.Fatal(err)
	}
	if got, want := c.followed(), []string{"/v1, Resource=pods", "batch/v1, Resource=jobs"}; !slices.Equal(got, want) {
		t.Fatalf("followed %v, want %v", got, want)
	}
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		return old.informer.IsStopped(), nil
	}); err != nil {
		t.Errorf("the ReplicaSet informer still runs after ReplicaSets left discovery")
	}
	o, ok := c.ownerOf(pod.OwnerReferences[0])
	if !ok || o.followed == nil || o.gvr != (schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}) || !o.namespaced {
		t.Errorf("a Job owner resolves to %+v (%v), want the followed jobs resource", o, ok)
	}
	if got := drain(c); !slices.Contains(got, "pods|default/p") {
		t.Errorf("queued %v: the pod owned by a Job was not checked again once Jobs were served", got)
	}

	// A group that fails discovery keeps what was followed of it.
	disc.Resources = append(disc.Resources, served()[1])
	if err := c.syncResources(ctx, true); err != nil {
		t.Fatal(err)
	}
	down := &failingGroup{FakeDiscovery: fakeDiscovery(disc.Resources), gv: "batch/v1"}
	c.disc = down
	if err := c.syncResources(ctx, true); err != nil {
		t.Fatal(err)
	}
	if got, want := c.followed(), []string{"/v1, Resource=pods", "apps/v1, Resource=replicasets", "batch/v1, Resource=jobs"}; !slices.Equal(got, want) {
		t.Fatalf("with batch/v1 failing discovery: followed %v, want %v", got, want)
	}
}
