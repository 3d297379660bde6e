package endpointslice

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"minik8s/pkg/controllers/reconcile"
)

// ManagedBy is the managed-by label value on the slices this controller owns.
const ManagedBy = "endpointslice-controller.k8s.io"

// MaxEndpointsPerSlice is upstream's default.
const MaxEndpointsPerSlice = 100

// Controller is the EndpointSlice (and Endpoints) controller.
type Controller struct {
	client      kubernetes.Interface
	svcLister   corelisters.ServiceLister
	podLister   corelisters.PodLister
	nodeLister  corelisters.NodeLister
	sliceLister discoverylisters.EndpointSliceLister
	epLister    corelisters.EndpointsLister
	synced      []cache.InformerSynced
	queue       workqueue.TypedRateLimitingInterface[string]
	recorder    record.EventRecorder
}

// New wires the controller to the factory's informers.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) *Controller {
	svc := factory.Core().V1().Services()
	pod := factory.Core().V1().Pods()
	node := factory.Core().V1().Nodes()
	slice := factory.Discovery().V1().EndpointSlices()
	ep := factory.Core().V1().Endpoints()
	c := &Controller{
		client:      client,
		svcLister:   svc.Lister(),
		podLister:   pod.Lister(),
		nodeLister:  node.Lister(),
		sliceLister: slice.Lister(),
		epLister:    ep.Lister(),
		synced: []cache.InformerSynced{svc.Informer().HasSynced, pod.Informer().HasSynced, node.Informer().HasSynced,
			slice.Informer().HasSynced, ep.Informer().HasSynced},
		queue:    reconcile.NewQueue("endpointslice"),
		recorder: recorder,
	}
	svc.Informer().AddEventHandler(reconcile.EnqueueHandler(c.queue))
	pod.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { c.onPod(obj) },
		UpdateFunc: func(old, cur any) {
			if old.(*corev1.Pod).ResourceVersion == cur.(*corev1.Pod).ResourceVersion {
				return
			}
			c.onPod(old)
			c.onPod(cur)
		},
		DeleteFunc: func(obj any) { c.onPod(obj) },
	})
	node.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(old, cur any) {
			if nodeUsable(old.(*corev1.Node)) != nodeUsable(cur.(*corev1.Node)) {
				c.enqueueAll()
			}
		},
		DeleteFunc: func(any) { c.enqueueAll() },
	})
	byService := func(obj any) {
		m, err := metaOf(obj)
		if err != nil {
			return
		}
		if name := m.GetLabels()[discoveryv1.LabelServiceName]; name != "" {
			c.queue.Add(m.GetNamespace() + "/" + name)
		}
	}
	slice.Informer().AddEventHandler(reconcile.Handler(byService))
	// As upstream's endpoints controller, only a deleted Endpoints object
	// brings its Service back here (to write it again). An update does
	// not: Endpoints written by hand, of a Service without a selector or
	// of no Service at all, are their writer's, and a sync of a name with
	// no Service deletes what this controller published under it.
	ep.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj any) { reconcile.Enqueue(c.queue, obj) },
	})
	return c
}

func (c *Controller) enqueueAll() {
	svcs, _ := c.svcLister.List(labels.Everything())
	for _, s := range svcs {
		reconcile.Enqueue(c.queue, s)
	}
}

func (c *Controller) onPod(obj any) {
	pod, ok := reconcile.Object[*corev1.Pod](obj)
	if !ok {
		return
	}
	svcs, err := c.svcLister.Services(pod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, s := range svcs {
		if s.Spec.Selector == nil {
			continue
		}
		if labels.SelectorFromValidatedSet(s.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			reconcile.Enqueue(c.queue, s)
		}
	}
}

// nodeUsable: the node's Ready condition is True and it carries neither the
// unreachable nor the not-ready taint.
func nodeUsable(n *corev1.Node) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == corev1.TaintNodeUnreachable || t.Key == corev1.TaintNodeNotReady {
			return false
		}
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Run starts workers and blocks until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	reconcile.Run(ctx, "endpointslice", c.queue, workers, c.synced, reconcile.Plain(c.sync))
}
