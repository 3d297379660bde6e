package garbagecollector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// ignored are never followed, as in kube-controller-manager: Events are
// the most numerous objects in a cluster and nothing owns them.
var ignored = map[schema.GroupResource]bool{
	{Group: "", Resource: "events"}:              true,
	{Group: "events.k8s.io", Resource: "events"}: true,
}

// resource is one kind the collector follows, through a metadata informer.
type resource struct {
	gvr        schema.GroupVersionResource
	kind       string
	namespaced bool
	informer   cache.SharedIndexInformer
	// stop ends the informer, started at started; both unset until then.
	stop    context.CancelFunc
	started time.Time
}

func (r *resource) groupKind() schema.GroupKind {
	return schema.GroupKind{Group: r.gvr.Group, Kind: r.kind}
}

// trim keeps of an object what the collector reads, and its kind (events
// name it): labels, annotations (a last-applied configuration can be most
// of an object) and managedFields are not held in memory.
func (r *resource) trim(obj any) (any, error) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return obj, nil
	}
	return &metav1.PartialObjectMetadata{
		TypeMeta: metav1.TypeMeta{APIVersion: r.gvr.GroupVersion().String(), Kind: r.kind},
		ObjectMeta: metav1.ObjectMeta{
			Name:              m.Name,
			Namespace:         m.Namespace,
			UID:               m.UID,
			ResourceVersion:   m.ResourceVersion,
			DeletionTimestamp: m.DeletionTimestamp,
			Finalizers:        m.Finalizers,
			OwnerReferences:   m.OwnerReferences,
		},
	}, nil
}

// discovered is one pass of discovery: the resources that can be followed
// (list, watch and delete) in their preferred versions, the mapper from
// kinds to resources, and the group versions that failed to answer.
type discovered struct {
	resources map[schema.GroupResource]*metav1.APIResource // Group and Version set
	mapper    meta.RESTMapper
	failed    map[schema.GroupVersion]error
}

// discover asks the API which resources it serves, as kube-controller-
// manager's collector does. A group that fails to answer is reported in
// failed, the rest is used.
func discover(d discovery.DiscoveryInterface) (*discovered, error) {
	// One fetch answers both questions below.
	cached := memory.NewMemCacheClient(d)
	out := &discovered{resources: map[schema.GroupResource]*metav1.APIResource{}}
	lists, err := discovery.ServerPreferredResources(cached)
	if err != nil {
		failed, partial := discovery.GroupDiscoveryFailedErrorGroups(err)
		if !partial {
			return nil, fmt.Errorf("discovering the API's resources: %w", err)
		}
		out.failed = failed
	}
	deletable := discovery.FilteredBy(discovery.SupportsAllVerbs{Verbs: []string{"list", "watch", "delete"}}, lists)
	for _, l := range deletable {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for i := range l.APIResources {
			r := l.APIResources[i]
			r.Group, r.Version = gv.Group, gv.Version
			gr := schema.GroupResource{Group: gv.Group, Resource: r.Name}
			if ignored[gr] {
				continue
			}
			out.resources[gr] = &r
		}
	}
	if len(out.resources) == 0 {
		return nil, errors.New("discovery lists no resource that can be listed, watched and deleted")
	}
	groups, err := restmapper.GetAPIGroupResources(cached)
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return nil, fmt.Errorf("discovering the API's kinds: %w", err)
	}
	out.mapper = restmapper.NewDiscoveryRESTMapper(groups)
	return out, nil
}

// syncResources brings the followed resources in line with discovery: new
// ones get an informer (started when start is true), those gone from
// discovery are stopped, those of a group that failed to answer are kept.
func (c *Controller) syncResources(ctx context.Context, start bool) error {
	d, err := discover(c.disc)
	if err != nil {
		return err
	}
	var added, removed []*resource
	c.mu.Lock()
	for gr, r := range c.resources {
		if _, failed := d.failed[r.gvr.GroupVersion()]; failed {
			continue
		}
		if want, ok := d.resources[gr]; ok && want.Version == r.gvr.Version && want.Namespaced == r.namespaced && want.Kind == r.kind {
			continue
		}
		delete(c.resources, gr)
		removed = append(removed, r)
	}
	for gr, ar := range d.resources {
		if _, ok := c.resources[gr]; ok {
			continue
		}
		r, err := c.newResource(gr.WithVersion(ar.Version), ar.Kind, ar.Namespaced)
		if err != nil {
			c.mu.Unlock()
			return err
		}
		if start {
			ictx, cancel := context.WithCancel(ctx)
			r.stop, r.started = cancel, time.Now()
			go r.informer.RunWithContext(ictx)
		}
		c.resources[gr] = r
		added = append(added, r)
	}
	c.mapper = d.mapper
	initial := !c.discovered
	c.discovered = true
	c.mu.Unlock()

	for _, r := range removed {
		if r.stop != nil {
			r.stop()
		}
		klog.FromContext(ctx).Info("garbage collector: no longer following", "resource", r.gvr.String())
	}
	if len(added) > 0 && !initial {
		names := make([]string, 0, len(added))
		for _, r := range added {
			names = append(names, r.gvr.String())
		}
		klog.FromContext(ctx).Info("garbage collector: following new resources", "resources", names)
		c.recheckOwnedBy(added)
	}
	return nil
}

// newResource makes the (not yet started) informer of one resource.
func (c *Controller) newResource(gvr schema.GroupVersionResource, kind string, namespaced bool) (*resource, error) {
	r := &resource{gvr: gvr, kind: kind, namespaced: namespaced}
	r.informer = metadatainformer.NewFilteredMetadataInformer(c.md, gvr, metav1.NamespaceAll, 0,
		cache.Indexers{ownerIndex: ownerUIDs}, nil).Informer()
	if err := r.informer.SetTransform(r.trim); err != nil {
		return nil, fmt.Errorf("following %s: %w", gvr, err)
	}
	key := gvr.GroupResource().String()
	_, err := r.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.onChange(key, obj) },
		UpdateFunc: func(old, cur any) { c.onUpdate(key, old, cur) },
		DeleteFunc: func(obj any) { c.onDelete(obj) },
	})
	if err != nil {
		return nil, fmt.Errorf("following %s: %w", gvr, err)
	}
	return r, nil
}

// recheckOwnedBy queues every object that names an owner of the kinds just
// added: while their kind was unknown such owners counted as present, and
// nothing else would bring those dependents back.
func (c *Controller) recheckOwnedBy(added []*resource) {
	kinds := map[schema.GroupKind]bool{}
	for _, r := range added {
		kinds[r.groupKind()] = true
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	for gr, r := range c.resources {
		for _, obj := range r.informer.GetStore().List() {
			m := accessor(obj)
			if m == nil {
				continue
			}
			for _, ref := range m.GetOwnerReferences() {
				gv, err := schema.ParseGroupVersion(ref.APIVersion)
				if err == nil && kinds[gv.WithKind(ref.Kind).GroupKind()] {
					c.queue.Add(itemKey(gr.String(), m.GetNamespace(), m.GetName()))
					break
				}
			}
		}
	}
}

// hasSynced reports whether every followed resource's cache has synced.
func (c *Controller) hasSynced() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if !c.discovered {
		return false
	}
	for _, r := range c.resources {
		if !r.informer.HasSynced() {
			return false
		}
	}
	return true
}

// syncGrace is how long a decision that needs every dependent of an owner
// waits for the cache of a newly followed resource; past it, a resource
// whose list keeps failing no longer holds deletions up.
const syncGrace = time.Minute

// errSyncing is returned while a newly followed resource's cache fills.
var errSyncing = errors.New("waiting for the caches of newly followed resources")

// dependentsKnown reports whether every followed resource's cache has
// synced (or had its syncGrace), so that an owner's dependents are all
// known: removing an orphan or foreground finalizer before that would
// miss the dependents of a kind just added.
func (c *Controller) dependentsKnown() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, r := range c.resources {
		if !r.started.IsZero() && !r.informer.HasSynced() && time.Since(r.started) < syncGrace {
			return false
		}
	}
	return true
}

// resourceFor is the followed resource key names ("replicasets.apps").
func (c *Controller) resourceFor(key string) *resource {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.resources[schema.ParseGroupResource(key)]
}

// owner is where an ownerReference points: its resource, and the followed
// resource (nil when its kind is served but not followed).
type owner struct {
	gvr        schema.GroupVersionResource
	kind       string
	namespaced bool
	followed   *resource
}

// ownerOf resolves an ownerReference's apiVersion and kind through the
// discovery mapper. ok is false for a kind the API does not serve.
func (c *Controller) ownerOf(ref metav1.OwnerReference) (o owner, ok bool) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return owner{}, false
	}
	gk := schema.GroupKind{Group: gv.Group, Kind: ref.Kind}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.mapper == nil {
		return owner{}, false
	}
	m, err := c.mapper.RESTMapping(gk, gv.Version)
	if err != nil {
		// The owner is found by name and UID, whichever version names it.
		if m, err = c.mapper.RESTMapping(gk); err != nil {
			return owner{}, false
		}
	}
	o = owner{gvr: m.Resource, kind: m.GroupVersionKind.Kind, namespaced: m.Scope.Name() == meta.RESTScopeNameNamespace}
	if r := c.resources[m.Resource.GroupResource()]; r != nil {
		o.followed = r
		o.gvr = r.gvr
	}
	return o, true
}

// snapshot is the followed resources at one moment.
func (c *Controller) snapshot() []*resource {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*resource, 0, len(c.resources))
	for _, r := range c.resources {
		out = append(out, r)
	}
	return out
}
