package garbagecollector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"minik8s/pkg/controllers/reconcile"
)

const ownerIndex = "gc-owner-uid"

// resource is one kind the collector follows.
type resource struct {
	gvr        schema.GroupVersionResource
	kind       string
	namespaced bool
	informer   cache.SharedIndexInformer
}

// Controller is the garbage collector.
type Controller struct {
	dyn       dynamic.Interface
	resources []*resource
	byKind    map[string]*resource // "apiVersion/Kind"
	byName    map[string]*resource // resource name
	queue     workqueue.TypedRateLimitingInterface[string]
	recorder  record.EventRecorder
}

// New follows Deployments, ReplicaSets, Pods, Services and EndpointSlices
// through the factory's informers; writes go through dyn.
func New(dyn dynamic.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) (*Controller, error) {
	c := &Controller{
		dyn:      dyn,
		byKind:   map[string]*resource{},
		byName:   map[string]*resource{},
		queue:    reconcile.NewQueue("garbagecollector"),
		recorder: recorder,
	}
	add := func(gvr schema.GroupVersionResource, kind string, inf cache.SharedIndexInformer) error {
		r := &resource{gvr: gvr, kind: kind, namespaced: true, informer: inf}
		if err := inf.AddIndexers(cache.Indexers{ownerIndex: ownerUIDs}); err != nil {
			return fmt.Errorf("indexing %s by owner: %w", gvr.Resource, err)
		}
		c.resources = append(c.resources, r)
		c.byKind[gvr.GroupVersion().String()+"/"+kind] = r
		c.byName[gvr.Resource] = r
		name := gvr.Resource
		_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { c.onChange(name, obj) },
			UpdateFunc: func(_, cur any) { c.onChange(name, cur) },
			DeleteFunc: func(obj any) { c.onDelete(name, obj) },
		})
		return err
	}
	for _, r := range []struct {
		gvr  schema.GroupVersionResource
		kind string
		inf  cache.SharedIndexInformer
	}{
		{schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, "Deployment", factory.Apps().V1().Deployments().Informer()},
		{schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}, "ReplicaSet", factory.Apps().V1().ReplicaSets().Informer()},
		{schema.GroupVersionResource{Version: "v1", Resource: "pods"}, "Pod", factory.Core().V1().Pods().Informer()},
		{schema.GroupVersionResource{Version: "v1", Resource: "services"}, "Service", factory.Core().V1().Services().Informer()},
		{schema.GroupVersionResource{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"}, "EndpointSlice", factory.Discovery().V1().EndpointSlices().Informer()},
	} {
		if err := add(r.gvr, r.kind, r.inf); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func ownerUIDs(obj any) ([]string, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, nil
	}
	var out []string
	for _, r := range m.GetOwnerReferences() {
		out = append(out, string(r.UID))
	}
	return out, nil
}

func itemKey(resource, ns, name string) string {
	if ns == "" {
		return resource + "|" + name
	}
	return resource + "|" + ns + "/" + name
}

func accessor(obj any) metav1.Object {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil
	}
	return m
}

func (c *Controller) onChange(res string, obj any) {
	m := accessor(obj)
	if m == nil {
		return
	}
	if len(m.GetOwnerReferences()) > 0 || (m.GetDeletionTimestamp() != nil && len(m.GetFinalizers()) > 0) {
		c.queue.Add(itemKey(res, m.GetNamespace(), m.GetName()))
	}
}

func (c *Controller) onDelete(res string, obj any) {
	m := accessor(obj)
	if m == nil {
		return
	}
	// Its dependents may now be orphans…
	for _, d := range c.dependents(m.GetUID()) {
		c.queue.Add(itemKey(d.res.gvr.Resource, d.obj.GetNamespace(), d.obj.GetName()))
	}
	// …and owners waiting for it in foreground deletion may go on.
	for _, ref := range m.GetOwnerReferences() {
		if r := c.byKind[ref.APIVersion+"/"+ref.Kind]; r != nil {
			ns := m.GetNamespace()
			if !r.namespaced {
				ns = ""
			}
			c.queue.Add(itemKey(r.gvr.Resource, ns, ref.Name))
		}
	}
}

type node struct {
	res *resource
	obj metav1.Object
}

func (c *Controller) dependents(uid types.UID) []node {
	var out []node
	for _, r := range c.resources {
		objs, err := r.informer.GetIndexer().ByIndex(ownerIndex, string(uid))
		if err != nil {
			continue
		}
		for _, o := range objs {
			if m := accessor(o); m != nil {
				out = append(out, node{r, m})
			}
		}
	}
	return out
}

// Run starts workers and blocks until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	synced := make([]cache.InformerSynced, 0, len(c.resources))
	for _, r := range c.resources {
		synced = append(synced, r.informer.HasSynced)
	}
	reconcile.Run(ctx, "garbagecollector", c.queue, workers, synced, c.sync)
}

func hasFinalizer(m metav1.Object, f string) bool {
	for _, x := range m.GetFinalizers() {
		if x == f {
			return true
		}
	}
	return false
}

func (c *Controller) sync(ctx context.Context, key string) error {
	resName, objKey, ok := strings.Cut(key, "|")
	r := c.byName[resName]
	if !ok || r == nil {
		return nil
	}
	obj, exists, err := r.informer.GetIndexer().GetByKey(objKey)
	if err != nil || !exists {
		return err
	}
	m := accessor(obj)
	if m == nil {
		return nil
	}
	if m.GetDeletionTimestamp() != nil {
		switch {
		case hasFinalizer(m, metav1.FinalizerOrphanDependents):
			return c.orphanDependents(ctx, r, m)
		case hasFinalizer(m, metav1.FinalizerDeleteDependents):
			return c.deleteDependentsForeground(ctx, r, m)
		}
	}
	if len(m.GetOwnerReferences()) == 0 {
		return nil
	}
	return c.checkOwners(ctx, r, m)
}

// ownerState says whether an owner exists (under the referenced UID) and
// whether it is being deleted in the foreground.
func (c *Controller) ownerState(ctx context.Context, dep metav1.Object, ref metav1.OwnerReference) (exists, foreground bool, err error) {
	r := c.byKind[ref.APIVersion+"/"+ref.Kind]
	if r == nil {
		// A kind we do not follow: never collect on its account.
		return true, false, nil
	}
	ns := ""
	if r.namespaced {
		ns = dep.GetNamespace()
	}
	obj, ok, err := r.informer.GetIndexer().GetByKey(keyOf(ns, ref.Name))
	if err != nil {
		return false, false, err
	}
	var owner metav1.Object
	if ok {
		owner = accessor(obj)
	}
	if owner == nil || owner.GetUID() != ref.UID {
		// The cache may lag behind a just-created owner: ask the API.
		var live *unstructuredObj
		live, err = c.get(ctx, r, ns, ref.Name)
		if apierrors.IsNotFound(err) {
			return false, false, nil
		}
		if err != nil {
			return false, false, err
		}
		owner = live
	}
	if owner.GetUID() != ref.UID {
		return false, false, nil
	}
	return true, owner.GetDeletionTimestamp() != nil && hasFinalizer(owner, metav1.FinalizerDeleteDependents), nil
}

func keyOf(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

func (c *Controller) client(r *resource, ns string) dynamic.ResourceInterface {
	if r.namespaced {
		return c.dyn.Resource(r.gvr).Namespace(ns)
	}
	return c.dyn.Resource(r.gvr)
}

type unstructuredObj = metav1.PartialObjectMetadata

func (c *Controller) get(ctx context.Context, r *resource, ns, name string) (*unstructuredObj, error) {
	u, err := c.client(r, ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return &unstructuredObj{ObjectMeta: metav1.ObjectMeta{
		Name: u.GetName(), Namespace: u.GetNamespace(), UID: u.GetUID(),
		DeletionTimestamp: u.GetDeletionTimestamp(), Finalizers: u.GetFinalizers(),
	}}, nil
}

func (c *Controller) checkOwners(ctx context.Context, r *resource, m metav1.Object) error {
	var solid, dangling, waiting []metav1.OwnerReference
	for _, ref := range m.GetOwnerReferences() {
		exists, fg, err := c.ownerState(ctx, m, ref)
		if err != nil {
			return err
		}
		switch {
		case !exists:
			dangling = append(dangling, ref)
		case fg:
			waiting = append(waiting, ref)
		default:
			solid = append(solid, ref)
		}
	}
	switch {
	case len(solid) > 0:
		if len(dangling) == 0 {
			return nil
		}
		return c.removeOwnerRefs(ctx, r, m, dangling)
	case len(waiting) > 0:
		if m.GetDeletionTimestamp() != nil {
			return nil
		}
		return c.deleteDependent(ctx, r, m, metav1.DeletePropagationForeground)
	default:
		if m.GetDeletionTimestamp() != nil {
			return nil
		}
		return c.deleteDependent(ctx, r, m, metav1.DeletePropagationBackground)
	}
}

// deleteDependent deletes m only if the live object still carries the
// owner references the cached copy was judged on: an orphaning patch may
// have removed them a moment ago, and the cache not seen it yet. The delete
// is conditional on the live resourceVersion, so a change in between makes
// it fail (and the informer's update brings m back here) rather than
// delete what is no longer garbage.
func (c *Controller) deleteDependent(ctx context.Context, r *resource, m metav1.Object, policy metav1.DeletionPropagation) error {
	live, err := c.client(r, m.GetNamespace()).Get(ctx, m.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s %s/%s: %w", r.kind, m.GetNamespace(), m.GetName(), err)
	}
	if live.GetUID() != m.GetUID() || !sameOwnerUIDs(live.GetOwnerReferences(), m.GetOwnerReferences()) {
		return fmt.Errorf("%s %s/%s changed its owners since the cache saw it; deciding again", r.kind, m.GetNamespace(), m.GetName())
	}
	return c.deleteAt(ctx, r, m, live.GetResourceVersion(), policy)
}

func sameOwnerUIDs(a, b []metav1.OwnerReference) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].UID != b[i].UID {
			return false
		}
	}
	return true
}

func (c *Controller) delete(ctx context.Context, r *resource, m metav1.Object, policy metav1.DeletionPropagation) error {
	return c.deleteAt(ctx, r, m, "", policy)
}

// deleteAt deletes m on condition of its UID and, when rv is set, of that
// resourceVersion.
func (c *Controller) deleteAt(ctx context.Context, r *resource, m metav1.Object, rv string, policy metav1.DeletionPropagation) error {
	uid := m.GetUID()
	pre := &metav1.Preconditions{UID: &uid}
	if rv != "" {
		pre.ResourceVersion = &rv
	}
	err := c.client(r, m.GetNamespace()).Delete(ctx, m.GetName(), metav1.DeleteOptions{
		Preconditions:     pre,
		PropagationPolicy: &policy,
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting %s %s/%s: %w", r.kind, m.GetNamespace(), m.GetName(), err)
	}
	if err == nil {
		if ro, ok := m.(runtime.Object); ok {
			c.recorder.Eventf(ro, corev1.EventTypeNormal, "GarbageCollected", "Deleted %s %s: owner is gone (%s)", r.kind, m.GetName(), policy)
		}
	}
	return nil
}

// removeOwnerRefs drops references (by UID) with a JSON patch that tests
// each reference before removing it, so a concurrent change to the list
// makes the patch fail (and the sync retry) instead of removing the wrong one.
func (c *Controller) removeOwnerRefs(ctx context.Context, r *resource, m metav1.Object, refs []metav1.OwnerReference) error {
	drop := map[types.UID]bool{}
	for _, ref := range refs {
		drop[ref.UID] = true
	}
	ops := []map[string]any{{"op": "test", "path": "/metadata/uid", "value": m.GetUID()}}
	cur := m.GetOwnerReferences()
	for i := len(cur) - 1; i >= 0; i-- {
		if !drop[cur[i].UID] {
			continue
		}
		path := fmt.Sprintf("/metadata/ownerReferences/%d", i)
		ops = append(ops,
			map[string]any{"op": "test", "path": path + "/uid", "value": cur[i].UID},
			map[string]any{"op": "remove", "path": path})
	}
	if len(ops) == 1 {
		return nil
	}
	patch, _ := json.Marshal(ops)
	_, err := c.client(r, m.GetNamespace()).Patch(ctx, m.GetName(), types.JSONPatchType, patch, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("removing owner references from %s %s/%s: %w", r.kind, m.GetNamespace(), m.GetName(), err)
	}
	return nil
}

func (c *Controller) orphanDependents(ctx context.Context, r *resource, owner metav1.Object) error {
	var errs []error
	for _, d := range c.dependents(owner.GetUID()) {
		var refs []metav1.OwnerReference
		for _, ref := range d.obj.GetOwnerReferences() {
			if ref.UID == owner.GetUID() {
				refs = append(refs, ref)
			}
		}
		if err := c.removeOwnerRefs(ctx, d.res, d.obj, refs); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return c.removeFinalizer(ctx, r, owner, metav1.FinalizerOrphanDependents)
}

func (c *Controller) deleteDependentsForeground(ctx context.Context, r *resource, owner metav1.Object) error {
	var (
		errs     []error
		blocking int
	)
	for _, d := range c.dependents(owner.GetUID()) {
		for _, ref := range d.obj.GetOwnerReferences() {
			if ref.UID == owner.GetUID() && ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion {
				blocking++
				break
			}
		}
		if d.obj.GetDeletionTimestamp() != nil {
			continue
		}
		if err := c.delete(ctx, d.res, d.obj, metav1.DeletePropagationForeground); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if blocking > 0 {
		// Their deletion events bring the owner back here.
		return nil
	}
	return c.removeFinalizer(ctx, r, owner, metav1.FinalizerDeleteDependents)
}

// removeFinalizer rewrites the owner's finalizers from a fresh read, so a
// finalizer someone else added meanwhile is kept (a conflict retries).
func (c *Controller) removeFinalizer(ctx context.Context, r *resource, owner metav1.Object, f string) error {
	cl := c.client(r, owner.GetNamespace())
	u, err := cl.Get(ctx, owner.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if u.GetUID() != owner.GetUID() {
		return nil
	}
	var kept []string
	for _, x := range u.GetFinalizers() {
		if x != f {
			kept = append(kept, x)
		}
	}
	if len(kept) == len(u.GetFinalizers()) {
		return nil
	}
	u.SetFinalizers(kept)
	_, err = cl.Update(ctx, u, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
