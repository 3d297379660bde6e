package garbagecollector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"minik8s/pkg/controllers/reconcile"
)

const ownerIndex = "gc-owner-uid"

// DiscoveryPeriod is how often the collector asks discovery which resources
// exist, so that kinds added later are followed without a restart.
const DiscoveryPeriod = 30 * time.Second

// Controller is the garbage collector. It follows every resource that
// discovery lists with the verbs list, watch and delete (Events aside),
// holding only their metadata.
type Controller struct {
	dyn      dynamic.Interface
	md       metadata.Interface
	disc     discovery.DiscoveryInterface
	queue    workqueue.TypedRateLimitingInterface[string]
	recorder record.EventRecorder

	mu         sync.RWMutex
	resources  map[schema.GroupResource]*resource
	mapper     meta.RESTMapper
	discovered bool
}

// New returns a collector that finds resources through disc, follows them
// with metadata informers of md and writes through dyn. Nothing is asked
// of the API before Run.
func New(dyn dynamic.Interface, md metadata.Interface, disc discovery.DiscoveryInterface, recorder record.EventRecorder) (*Controller, error) {
	if dyn == nil || md == nil || disc == nil {
		return nil, errors.New("garbage collector: a dynamic, a metadata and a discovery client are needed")
	}
	return &Controller{
		dyn:       dyn,
		md:        md,
		disc:      disc,
		queue:     reconcile.NewQueue("garbagecollector"),
		recorder:  recorder,
		resources: map[schema.GroupResource]*resource{},
	}, nil
}

// NewForConfig is New with clients made from rc, whose user agent gets
// "/garbagecollector" appended.
func NewForConfig(rc *rest.Config, recorder record.EventRecorder) (*Controller, error) {
	rc = rest.CopyConfig(rc)
	if rc.UserAgent == "" {
		rc.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	rc.UserAgent += "/garbagecollector"
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("creating the garbage collector's dynamic client: %w", err)
	}
	md, err := metadata.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("creating the garbage collector's metadata client: %w", err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("creating the garbage collector's discovery client: %w", err)
	}
	return New(dyn, md, disc, recorder)
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

// itemKey names an object in the queue: its resource as "plural.group"
// (schema.GroupResource), then its namespace and name.
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

// onUpdate is onChange, and wakes the owners a dependent stopped
// blocking: an owner deleting in the foreground waits for its blocking
// dependents, and a reference that no longer blocks (the cycle breaking
// below) lets it go on.
func (c *Controller) onUpdate(res string, old, cur any) {
	c.onChange(res, cur)
	o, m := accessor(old), accessor(cur)
	if o == nil || m == nil {
		return
	}
	was := map[types.UID]bool{}
	for _, ref := range o.GetOwnerReferences() {
		was[ref.UID] = blocks(ref)
	}
	for _, ref := range m.GetOwnerReferences() {
		if was[ref.UID] && !blocks(ref) {
			c.enqueueOwner(m, ref)
		}
	}
}

func blocks(ref metav1.OwnerReference) bool {
	return ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion
}

func (c *Controller) onDelete(obj any) {
	m := accessor(obj)
	if m == nil {
		return
	}
	// Its dependents may now be orphans…
	for _, d := range c.dependents(m.GetUID()) {
		c.queue.Add(itemKey(d.res.gvr.GroupResource().String(), d.obj.GetNamespace(), d.obj.GetName()))
	}
	// …and owners waiting for it in foreground deletion may go on.
	for _, ref := range m.GetOwnerReferences() {
		c.enqueueOwner(m, ref)
	}
}

// enqueueOwner queues the owner dep's reference names, if its kind is
// followed.
func (c *Controller) enqueueOwner(dep metav1.Object, ref metav1.OwnerReference) {
	if o, ok := c.ownerOf(ref); ok && o.followed != nil {
		ns := dep.GetNamespace()
		if !o.namespaced {
			ns = ""
		}
		c.queue.Add(itemKey(o.gvr.GroupResource().String(), ns, ref.Name))
	}
}

type node struct {
	res *resource
	obj metav1.Object
}

func (c *Controller) dependents(uid types.UID) []node {
	var out []node
	for _, r := range c.snapshot() {
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

// Run follows what discovery lists, again every DiscoveryPeriod, starts
// workers once the caches of the first pass have synced, and blocks until
// ctx is done; the informers end with ctx.
func (c *Controller) Run(ctx context.Context, workers int) {
	go c.rediscover(ctx)
	reconcile.Run(ctx, "garbagecollector", c.queue, workers, []cache.InformerSynced{c.hasSynced}, reconcile.Plain(c.sync),
		reconcile.Quiet(func(err error) bool { return errors.Is(err, errSyncing) }))
}

// rediscover makes the first pass over discovery, retried until it works
// (the API may not be up yet), then one every DiscoveryPeriod.
func (c *Controller) rediscover(ctx context.Context) {
	for {
		err := c.syncResources(ctx, true)
		if err == nil {
			break
		}
		utilruntime.HandleErrorWithContext(ctx, err, "garbage collector: discovery failed; retrying")
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	tick := time.NewTicker(DiscoveryPeriod)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := c.syncResources(ctx, true); err != nil {
			utilruntime.HandleErrorWithContext(ctx, err, "garbage collector: discovery failed; following the resources found before")
		}
	}
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
	if !ok {
		return nil
	}
	r := c.resourceFor(resName)
	if r == nil {
		// No longer served: its objects went with it.
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
	o, ok := c.ownerOf(ref)
	if !ok {
		// A kind the API does not serve (yet: a CRD may come): never
		// collect on its account.
		return true, false, nil
	}
	ns := ""
	if o.namespaced {
		if dep.GetNamespace() == "" {
			// A cluster-scoped object cannot be owned by a namespaced one.
			// As in Kubernetes, such a reference is unresolvable and
			// never gets the object collected.
			if ro, ok := dep.(runtime.Object); ok {
				c.recorder.Eventf(ro, corev1.EventTypeWarning, "OwnerRefInvalidNamespace",
					"ownerRef [%s/%s, name: %s, uid: %s] is namespaced; a cluster-scoped object cannot refer to it", ref.APIVersion, ref.Kind, ref.Name, ref.UID)
			}
			return true, false, nil
		}
		ns = dep.GetNamespace()
	}
	var owner metav1.Object
	if o.followed != nil {
		obj, ok, err := o.followed.informer.GetIndexer().GetByKey(keyOf(ns, ref.Name))
		if err != nil {
			return false, false, err
		}
		if ok {
			owner = accessor(obj)
		}
	}
	if owner == nil || owner.GetUID() != ref.UID {
		// The cache may lag behind a just-created owner: ask the API.
		var live *unstructuredObj
		live, err = c.get(ctx, o.gvr, o.namespaced, ns, ref.Name)
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
	return c.clientFor(r.gvr, r.namespaced, ns)
}

func (c *Controller) clientFor(gvr schema.GroupVersionResource, namespaced bool, ns string) dynamic.ResourceInterface {
	if namespaced {
		return c.dyn.Resource(gvr).Namespace(ns)
	}
	return c.dyn.Resource(gvr)
}

type unstructuredObj = metav1.PartialObjectMetadata

func (c *Controller) get(ctx context.Context, gvr schema.GroupVersionResource, namespaced bool, ns, name string) (*unstructuredObj, error) {
	u, err := c.clientFor(gvr, namespaced, ns).Get(ctx, name, metav1.GetOptions{})
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
		if err := c.breakCycle(ctx, r, m); err != nil {
			return err
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
	if !c.dependentsKnown() {
		return errSyncing
	}
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
	if !c.dependentsKnown() {
		return errSyncing
	}
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
		if err := c.breakCycle(ctx, d.res, d.obj); err != nil {
			errs = append(errs, err)
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

// breakCycle is upstream's cycle detection before a foreground delete of
// m: when one of m's own dependents is already deleting its dependents in
// the foreground, the owners form a cycle (pod1 owns pod2 owns pod3 owns
// pod1, each blocking its owner's deletion) and every one of them would
// wait for the next forever. So m's references stop blocking their
// owners first (blockOwnerDeletion false, patched on condition of m's UID
// and each reference's); m itself still waits for its own dependents, and
// its owners, unblocked, finish. Like upstream's, the detection can see a
// cycle where a dependent merely happens to be deleting in the foreground:
// the price is only that m's owners do not wait for m.
func (c *Controller) breakCycle(ctx context.Context, r *resource, m metav1.Object) error {
	cycle := false
	for _, d := range c.dependents(m.GetUID()) {
		if d.obj.GetDeletionTimestamp() != nil && hasFinalizer(d.obj, metav1.FinalizerDeleteDependents) {
			cycle = true
			break
		}
	}
	if !cycle {
		return nil
	}
	ops := []map[string]any{{"op": "test", "path": "/metadata/uid", "value": m.GetUID()}}
	for i, ref := range m.GetOwnerReferences() {
		if !blocks(ref) {
			continue
		}
		path := fmt.Sprintf("/metadata/ownerReferences/%d", i)
		ops = append(ops,
			map[string]any{"op": "test", "path": path + "/uid", "value": ref.UID},
			map[string]any{"op": "replace", "path": path + "/blockOwnerDeletion", "value": false})
	}
	if len(ops) == 1 {
		return nil
	}
	patch, _ := json.Marshal(ops)
	_, err := c.client(r, m.GetNamespace()).Patch(ctx, m.GetName(), types.JSONPatchType, patch, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("unblocking the owner references of %s %s/%s (an ownership cycle): %w", r.kind, m.GetNamespace(), m.GetName(), err)
	}
	return nil
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
