package replicaset

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"minik8s/pkg/controllers/expectations"
	"minik8s/pkg/controllers/reconcile"
)

// BurstReplicas caps how many pods one sync creates or deletes.
const BurstReplicas = 500

var controllerKind = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")

// Controller is the ReplicaSet controller; NewReplicationManager makes it
// the ReplicationController controller.
type Controller struct {
	name      string
	kind      schema.GroupVersionKind
	owners    owners
	client    kubernetes.Interface
	podLister corelisters.PodLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	recorder  record.EventRecorder
	exp       *expectations.Tracker // not resized until its writes are seen
	clock     clock.Clock
	burst     int
}

// owners reads and writes the kind the controller reconciles, seen as
// ReplicaSets: ReplicaSets themselves, or ReplicationControllers converted
// as upstream's replication controller does.
type owners interface {
	// get and list read the informer cache.
	get(ns, name string) (*appsv1.ReplicaSet, error)
	list(ns string) ([]*appsv1.ReplicaSet, error)
	// fetch reads the API.
	fetch(ctx context.Context, ns, name string) (*appsv1.ReplicaSet, error)
	updateStatus(ctx context.Context, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error)
}

// replicaSets are the owners of the ReplicaSet controller.
type replicaSets struct {
	lister appslisters.ReplicaSetLister
	client kubernetes.Interface
}

func (r replicaSets) get(ns, name string) (*appsv1.ReplicaSet, error) {
	return r.lister.ReplicaSets(ns).Get(name)
}

func (r replicaSets) list(ns string) ([]*appsv1.ReplicaSet, error) {
	return r.lister.ReplicaSets(ns).List(labels.Everything())
}

func (r replicaSets) fetch(ctx context.Context, ns, name string) (*appsv1.ReplicaSet, error) {
	return r.client.AppsV1().ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
}

func (r replicaSets) updateStatus(ctx context.Context, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error) {
	return r.client.AppsV1().ReplicaSets(rs.Namespace).UpdateStatus(ctx, rs, metav1.UpdateOptions{})
}

// New wires the controller to the factory's ReplicaSet and Pod informers.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) *Controller {
	return NewWithClock(client, factory, recorder, clock.RealClock{})
}

// NewWithClock is New with an injected clock (availability, expectations).
func NewWithClock(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, clk clock.Clock) *Controller {
	rsInf := factory.Apps().V1().ReplicaSets()
	return newController("replicaset", controllerKind, replicaSets{lister: rsInf.Lister(), client: client},
		rsInf.Informer(), client, factory, recorder, clk)
}

func newController(name string, kind schema.GroupVersionKind, o owners, ownerInf cache.SharedIndexInformer,
	client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, clk clock.Clock) *Controller {
	podInf := factory.Core().V1().Pods()
	c := &Controller{
		name:      name,
		kind:      kind,
		owners:    o,
		client:    client,
		podLister: podInf.Lister(),
		synced:    []cache.InformerSynced{ownerInf.HasSynced, podInf.Informer().HasSynced},
		queue:     reconcile.NewQueue(name),
		recorder:  recorder,
		exp:       expectations.New(clk),
		clock:     clk,
		burst:     BurstReplicas,
	}
	rsHandler := reconcile.EnqueueHandler(c.queue)
	rsHandler.DeleteFunc = func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			c.exp.Delete(key)
			c.queue.Add(key)
		}
	}
	ownerInf.AddEventHandler(rsHandler)
	podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	return c
}

// resolveControllerRef returns the ReplicaSet a controller reference names,
// if it is in the cache with the same UID.
func (c *Controller) resolveControllerRef(ns string, ref *metav1.OwnerReference) *appsv1.ReplicaSet {
	if ref == nil || ref.Kind != c.kind.Kind || ref.APIVersion != c.kind.GroupVersion().String() {
		return nil
	}
	rs, err := c.owners.get(ns, ref.Name)
	if err != nil || rs.UID != ref.UID {
		return nil
	}
	return rs
}

// matchingReplicaSets are the ReplicaSets whose selector matches an orphan.
func (c *Controller) matchingReplicaSets(pod *corev1.Pod) []*appsv1.ReplicaSet {
	all, err := c.owners.list(pod.Namespace)
	if err != nil {
		return nil
	}
	var out []*appsv1.ReplicaSet
	for _, rs := range all {
		sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		out = append(out, rs)
	}
	return out
}

func podKey(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if rs := c.resolveControllerRef(pod.Namespace, ref); rs != nil {
			key := rs.Namespace + "/" + rs.Name
			c.exp.CreationObserved(key)
			c.queue.Add(key)
		}
		return
	}
	for _, rs := range c.matchingReplicaSets(pod) {
		reconcile.Enqueue(c.queue, rs)
	}
}

func (c *Controller) updatePod(oldObj, curObj any) {
	old, cur := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	labelsChanged := !equality.Semantic.DeepEqual(old.Labels, cur.Labels)
	if cur.DeletionTimestamp != nil {
		c.deletePod(cur)
		if labelsChanged {
			c.deletePod(old)
		}
		return
	}
	curRef, oldRef := metav1.GetControllerOf(cur), metav1.GetControllerOf(old)
	refChanged := !equality.Semantic.DeepEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if rs := c.resolveControllerRef(old.Namespace, oldRef); rs != nil {
			reconcile.Enqueue(c.queue, rs)
		}
	}
	if curRef != nil {
		rs := c.resolveControllerRef(cur.Namespace, curRef)
		if rs == nil {
			return
		}
		reconcile.Enqueue(c.queue, rs)
		// A pod that just became ready becomes available minReadySeconds
		// later; nothing else would wake us then.
		if !podReady(old) && podReady(cur) && rs.Spec.MinReadySeconds > 0 {
			key, _ := cache.MetaNamespaceKeyFunc(rs)
			c.queue.AddAfter(key, time.Duration(rs.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if labelsChanged || refChanged {
		for _, rs := range c.matchingReplicaSets(cur) {
			reconcile.Enqueue(c.queue, rs)
		}
	}
}

func (c *Controller) deletePod(obj any) {
	pod, ok := reconcile.Object[*corev1.Pod](obj)
	if !ok {
		return
	}
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return
	}
	rs := c.resolveControllerRef(pod.Namespace, ref)
	if rs == nil {
		return
	}
	key := rs.Namespace + "/" + rs.Name
	c.exp.DeletionObserved(key, podKey(pod))
	c.queue.Add(key)
}

// Run starts workers and blocks until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	reconcile.Run(ctx, c.name, c.queue, workers, c.synced, c.sync, reconcile.Quiet(apierrors.IsConflict))
}
