package daemonset

import (
	"context"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"minik8s/pkg/controllers/expectations"
	"minik8s/pkg/controllers/reconcile"
)

// BurstReplicas caps how many pods one sync creates or deletes, as upstream.
const BurstReplicas = 250

// Event reasons, as upstream's.
const (
	SelectingAllReason       = "SelectingAll"
	FailedDaemonPodReason    = "FailedDaemonPod"
	SucceededDaemonPodReason = "SucceededDaemonPod"
)

// Failed daemon pods are deleted (and re-created) with a per-node back-off
// of 1 s doubling to 15 min, kube-controller-manager's, so that a kubelet
// rejecting the pod does not make the controller hot-loop.
const (
	failedPodsBackoffInitial = time.Second
	failedPodsBackoffMax     = 15 * time.Minute
	backoffGCInterval        = time.Minute
)

var controllerKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// Controller is the DaemonSet controller.
type Controller struct {
	client        kubernetes.Interface
	dsLister      appslisters.DaemonSetLister
	historyLister appslisters.ControllerRevisionLister
	podLister     corelisters.PodLister
	nodeLister    corelisters.NodeLister
	synced        []cache.InformerSynced
	queue         workqueue.TypedRateLimitingInterface[string]
	nodeQueue     workqueue.TypedRateLimitingInterface[string]
	recorder      record.EventRecorder
	exp           *expectations.Tracker // until its writes are seen, status only
	backoff       *flowcontrol.Backoff
	clock         clock.Clock
	burst         int
}

// New wires the controller to the factory's DaemonSet, ControllerRevision,
// Pod and Node informers.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) *Controller {
	return NewWithClock(client, factory, recorder, clock.RealClock{})
}

// NewWithClock is New with an injected clock (availability, back-off,
// expectations).
func NewWithClock(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, clk clock.Clock) *Controller {
	dsInf := factory.Apps().V1().DaemonSets()
	historyInf := factory.Apps().V1().ControllerRevisions()
	podInf := factory.Core().V1().Pods()
	nodeInf := factory.Core().V1().Nodes()
	backoff := flowcontrol.NewBackOff(failedPodsBackoffInitial, failedPodsBackoffMax)
	backoff.Clock = clk
	c := &Controller{
		client:        client,
		dsLister:      dsInf.Lister(),
		historyLister: historyInf.Lister(),
		podLister:     podInf.Lister(),
		nodeLister:    nodeInf.Lister(),
		synced: []cache.InformerSynced{dsInf.Informer().HasSynced, historyInf.Informer().HasSynced,
			podInf.Informer().HasSynced, nodeInf.Informer().HasSynced},
		queue:     reconcile.NewQueue("daemonset"),
		nodeQueue: reconcile.NewQueue("daemonset-node"),
		recorder:  recorder,
		exp:       expectations.New(clk),
		backoff:   backoff,
		clock:     clk,
		burst:     BurstReplicas,
	}
	dsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { reconcile.Enqueue(c.queue, obj) },
		UpdateFunc: func(oldObj, curObj any) {
			old, cur := oldObj.(*appsv1.DaemonSet), curObj.(*appsv1.DaemonSet)
			if old.UID != cur.UID {
				c.deleteDaemonSet(cache.DeletedFinalStateUnknown{Key: key(old), Obj: old})
			}
			reconcile.Enqueue(c.queue, cur)
		},
		DeleteFunc: c.deleteDaemonSet,
	})
	historyInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addHistory,
		UpdateFunc: c.updateHistory,
		DeleteFunc: c.deleteHistory,
	})
	podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if n, ok := obj.(*corev1.Node); ok {
				c.nodeQueue.Add(n.Name)
			}
		},
		UpdateFunc: func(oldObj, curObj any) {
			old, cur := oldObj.(*corev1.Node), curObj.(*corev1.Node)
			// Only labels and taints decide where daemon pods go.
			if equality.Semantic.DeepEqual(old.Labels, cur.Labels) && equality.Semantic.DeepEqual(old.Spec.Taints, cur.Spec.Taints) {
				return
			}
			c.nodeQueue.Add(cur.Name)
		},
		// Upstream leaves a deleted node to the pod garbage collector's
		// pod deletions; recount at once instead, so desiredNumberScheduled
		// does not wait for them.
		DeleteFunc: c.deleteNode,
	})
	return c
}

func (c *Controller) deleteNode(any) {
	sets, _ := c.dsLister.List(labels.Everything())
	for _, ds := range sets {
		c.queue.Add(key(ds))
	}
}

func key(ds *appsv1.DaemonSet) string { return ds.Namespace + "/" + ds.Name }

func podKey(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }

func (c *Controller) deleteDaemonSet(obj any) {
	ds, ok := reconcile.Object[*appsv1.DaemonSet](obj)
	if !ok {
		return
	}
	c.exp.Delete(key(ds))
	c.queue.Add(key(ds))
}

// resolveControllerRef returns the DaemonSet a controller reference names,
// if it is in the cache with the same UID.
func (c *Controller) resolveControllerRef(ns string, ref *metav1.OwnerReference) *appsv1.DaemonSet {
	if ref == nil || ref.Kind != controllerKind.Kind {
		return nil
	}
	ds, err := c.dsLister.DaemonSets(ns).Get(ref.Name)
	if err != nil || ds.UID != ref.UID {
		return nil
	}
	return ds
}

func (c *Controller) addHistory(obj any) {
	h := obj.(*appsv1.ControllerRevision)
	if h.DeletionTimestamp != nil {
		c.deleteHistory(h)
		return
	}
	if ref := metav1.GetControllerOf(h); ref != nil {
		if ds := c.resolveControllerRef(h.Namespace, ref); ds != nil {
			c.queue.Add(key(ds))
		}
		return
	}
	sets, _ := c.dsLister.GetHistoryDaemonSets(h)
	for _, ds := range sets {
		c.queue.Add(key(ds))
	}
}

func (c *Controller) updateHistory(oldObj, curObj any) {
	old, cur := oldObj.(*appsv1.ControllerRevision), curObj.(*appsv1.ControllerRevision)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	c.ownerChanged(cur.Namespace, metav1.GetControllerOf(old), metav1.GetControllerOf(cur),
		!equality.Semantic.DeepEqual(old.Labels, cur.Labels), func() []*appsv1.DaemonSet {
			sets, _ := c.dsLister.GetHistoryDaemonSets(cur)
			return sets
		})
}

func (c *Controller) deleteHistory(obj any) {
	h, ok := reconcile.Object[*appsv1.ControllerRevision](obj)
	if !ok {
		return
	}
	if ds := c.resolveControllerRef(h.Namespace, metav1.GetControllerOf(h)); ds != nil {
		c.queue.Add(key(ds))
	}
}

// ownerChanged enqueues the DaemonSets an updated object concerns: its old
// owner if the owner changed, its owner, or, for an orphan whose labels or
// owner changed, the DaemonSets that could adopt it.
func (c *Controller) ownerChanged(ns string, oldRef, curRef *metav1.OwnerReference, labelsChanged bool, matching func() []*appsv1.DaemonSet) {
	refChanged := !equality.Semantic.DeepEqual(oldRef, curRef)
	if refChanged && oldRef != nil {
		if ds := c.resolveControllerRef(ns, oldRef); ds != nil {
			c.queue.Add(key(ds))
		}
	}
	if curRef != nil {
		if ds := c.resolveControllerRef(ns, curRef); ds != nil {
			c.queue.Add(key(ds))
		}
		return
	}
	if labelsChanged || refChanged {
		for _, ds := range matching() {
			c.queue.Add(key(ds))
		}
	}
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if ds := c.resolveControllerRef(pod.Namespace, ref); ds != nil {
			c.exp.CreationObserved(key(ds))
			c.queue.Add(key(ds))
		}
		return
	}
	sets, _ := c.dsLister.GetPodDaemonSets(pod)
	for _, ds := range sets {
		c.queue.Add(key(ds))
	}
}

func (c *Controller) updatePod(oldObj, curObj any) {
	old, cur := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	if cur.DeletionTimestamp != nil {
		c.deletePod(cur)
		return
	}
	c.ownerChanged(cur.Namespace, metav1.GetControllerOf(old), metav1.GetControllerOf(cur),
		!equality.Semantic.DeepEqual(old.Labels, cur.Labels), func() []*appsv1.DaemonSet {
			sets, _ := c.dsLister.GetPodDaemonSets(cur)
			return sets
		})
	// A pod that just became ready becomes available minReadySeconds
	// later; nothing else would wake the DaemonSet then.
	if ds := c.resolveControllerRef(cur.Namespace, metav1.GetControllerOf(cur)); ds != nil &&
		ds.Spec.MinReadySeconds > 0 && !podReady(old) && podReady(cur) {
		c.queue.AddAfter(key(ds), time.Duration(ds.Spec.MinReadySeconds)*time.Second+time.Second)
	}
}

func (c *Controller) deletePod(obj any) {
	pod, ok := reconcile.Object[*corev1.Pod](obj)
	if !ok {
		return
	}
	ds := c.resolveControllerRef(pod.Namespace, metav1.GetControllerOf(pod))
	if ds == nil {
		return
	}
	c.exp.DeletionObserved(key(ds), podKey(pod))
	c.queue.Add(key(ds))
}

// Run starts workers for DaemonSets and for node changes and blocks until
// ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	var wg sync.WaitGroup
	wg.Go(func() {
		reconcile.Run(ctx, "daemonset", c.queue, workers, c.synced, c.sync, reconcile.Quiet(apierrors.IsConflict))
	})
	wg.Go(func() {
		reconcile.Run(ctx, "daemonset-node", c.nodeQueue, workers, c.synced, reconcile.Plain(c.syncNode))
	})
	wg.Go(func() { wait.Until(c.backoff.GC, backoffGCInterval, ctx.Done()) })
	wg.Wait()
}

// syncNode enqueues the DaemonSets a node's labels or taints change: those
// it now wants a pod on and has none, those whose pod it no longer wants,
// and those with misscheduled pods (to recount them).
func (c *Controller) syncNode(ctx context.Context, nodeName string) error {
	node, err := c.nodeLister.Get(nodeName)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	sets, err := c.dsLister.List(labels.Everything())
	if err != nil {
		return err
	}
	pods, err := c.podLister.List(labels.Everything())
	if err != nil {
		return err
	}
	scheduled := map[string]bool{}
	for _, p := range pods {
		if ref := metav1.GetControllerOfNoCopy(p); ref != nil && ref.Kind == controllerKind.Kind && p.Spec.NodeName == nodeName {
			scheduled[p.Namespace+"/"+ref.Name] = true
		}
	}
	for _, ds := range sets {
		shouldRun, shouldContinue := newPlacement(ds).shouldRun(node)
		onNode := scheduled[key(ds)]
		if (shouldRun && !onNode) || (!shouldContinue && onNode) || (onNode && ds.Status.NumberMisscheduled > 0) {
			c.queue.Add(key(ds))
		}
	}
	return nil
}
