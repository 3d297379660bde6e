package deployment

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"minik8s/pkg/controllers/reconcile"
)

var controllerKind = appsv1.SchemeGroupVersion.WithKind("Deployment")

// Controller is the Deployment controller.
type Controller struct {
	client    kubernetes.Interface
	dLister   appslisters.DeploymentLister
	rsLister  appslisters.ReplicaSetLister
	podLister corelisters.PodLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	recorder  record.EventRecorder
	clock     clock.Clock
}

// New wires the controller to the factory's Deployment, ReplicaSet and Pod
// informers.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) *Controller {
	return NewWithClock(client, factory, recorder, clock.RealClock{})
}

// NewWithClock is New with an injected clock (progress deadlines).
func NewWithClock(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, clk clock.Clock) *Controller {
	dInf := factory.Apps().V1().Deployments()
	rsInf := factory.Apps().V1().ReplicaSets()
	podInf := factory.Core().V1().Pods()
	c := &Controller{
		client:    client,
		dLister:   dInf.Lister(),
		rsLister:  rsInf.Lister(),
		podLister: podInf.Lister(),
		synced:    []cache.InformerSynced{dInf.Informer().HasSynced, rsInf.Informer().HasSynced, podInf.Informer().HasSynced},
		queue:     reconcile.NewQueue("deployment"),
		recorder:  recorder,
		clock:     clk,
	}
	dInf.Informer().AddEventHandler(reconcile.EnqueueHandler(c.queue))
	rsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.onReplicaSet,
		UpdateFunc: func(old, cur any) {
			if o, n := metav1.GetControllerOf(old.(*appsv1.ReplicaSet)), metav1.GetControllerOf(cur.(*appsv1.ReplicaSet)); o != nil && (n == nil || n.UID != o.UID) {
				c.onReplicaSet(old)
			}
			c.onReplicaSet(cur)
		},
		DeleteFunc: c.onReplicaSet,
	})
	podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: c.onPodDeleted})
	return c
}

func (c *Controller) onReplicaSet(obj any) {
	rs, ok := reconcile.Object[*appsv1.ReplicaSet](obj)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOf(rs); ref != nil {
		if ref.Kind == controllerKind.Kind {
			c.queue.Add(rs.Namespace + "/" + ref.Name)
		}
		return
	}
	// An orphan: every Deployment that could adopt it.
	ds, _ := c.dLister.Deployments(rs.Namespace).List(labels.Everything())
	for _, d := range ds {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(rs.Labels)) {
			reconcile.Enqueue(c.queue, d)
		}
	}
}

// onPodDeleted wakes a Recreate Deployment waiting for its old pods to go.
func (c *Controller) onPodDeleted(obj any) {
	pod, ok := reconcile.Object[*corev1.Pod](obj)
	if !ok {
		return
	}
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return
	}
	rs, err := c.rsLister.ReplicaSets(pod.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return
	}
	if dref := metav1.GetControllerOf(rs); dref != nil && dref.Kind == controllerKind.Kind {
		d, err := c.dLister.Deployments(pod.Namespace).Get(dref.Name)
		if err == nil && d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
			c.queue.Add(pod.Namespace + "/" + d.Name)
		}
	}
}

// Run starts workers and blocks until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	reconcile.Run(ctx, "deployment", c.queue, workers, c.synced, c.sync, reconcile.Quiet(apierrors.IsConflict))
}
