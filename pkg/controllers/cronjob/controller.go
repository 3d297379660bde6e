package cronjob

import (
	"context"
	"fmt"
	"reflect"
	_ "time/tzdata" // as in kube-controller-manager: spec.timeZone resolves on hosts without /usr/share/zoneinfo

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"minik8s/pkg/controllers/reconcile"
)

// Name is the controller's name in kube-controller-manager, also the
// source of its events.
const Name = "cronjob-controller"

var controllerKind = batchv1.SchemeGroupVersion.WithKind("CronJob")

// jobsByOwner indexes Jobs by the UID of their controller. The name is our
// own so that it cannot collide with another controller's index on the
// shared Job informer.
const jobsByOwner = "cronjob-controller/owner-uid"

// Controller is the CronJob controller.
type Controller struct {
	client   kubernetes.Interface
	cjLister batchlisters.CronJobLister
	jobs     cache.Indexer
	synced   []cache.InformerSynced
	// queue delays keys until their next schedule time on clock.
	queue    workqueue.TypedRateLimitingInterface[string]
	recorder record.EventRecorder
	clock    clock.WithTicker
}

// New wires the controller to the factory's CronJob and Job informers.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) (*Controller, error) {
	return NewWithClock(client, factory, recorder, clock.RealClock{})
}

// NewWithClock is New with an injected clock: it decides which schedules
// are due and drives the queue's delays.
func NewWithClock(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, clk clock.WithTicker) (*Controller, error) {
	cjInf := factory.Batch().V1().CronJobs()
	jobInf := factory.Batch().V1().Jobs()
	c := &Controller{
		client:   client,
		cjLister: cjInf.Lister(),
		jobs:     jobInf.Informer().GetIndexer(),
		synced:   []cache.InformerSynced{cjInf.Informer().HasSynced, jobInf.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "cronjob", Clock: clk}),
		recorder: recorder,
		clock:    clk,
	}
	if err := jobInf.Informer().AddIndexers(cache.Indexers{jobsByOwner: func(obj any) ([]string, error) {
		if job, ok := obj.(*batchv1.Job); ok {
			if ref := metav1.GetControllerOf(job); ref != nil {
				return []string{string(ref.UID)}, nil
			}
		}
		return nil, nil
	}}); err != nil {
		return nil, fmt.Errorf("adding the Job owner index: %w", err)
	}
	cjInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { reconcile.Enqueue(c.queue, obj) },
		UpdateFunc: c.updateCronJob,
		DeleteFunc: func(obj any) { reconcile.Enqueue(c.queue, obj) },
	})
	jobInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addJob,
		UpdateFunc: c.updateJob,
		DeleteFunc: c.deleteJob,
	})
	return c, nil
}

// updateCronJob queues a CronJob whose schedule or time zone changed for
// its new next schedule time (sooner than the one already queued, the
// queue keeps the sooner; later, the earlier sync finds nothing due), and
// any other change at once.
func (c *Controller) updateCronJob(oldObj, curObj any) {
	old, ok1 := oldObj.(*batchv1.CronJob)
	cur, ok2 := curObj.(*batchv1.CronJob)
	if !ok1 || !ok2 {
		return
	}
	if old.Spec.Schedule == cur.Spec.Schedule && ptr.Equal(old.Spec.TimeZone, cur.Spec.TimeZone) {
		reconcile.Enqueue(c.queue, cur)
		return
	}
	sched, err := parseSchedule(formatSchedule(cur, nil))
	if err != nil {
		c.recorder.Eventf(cur, corev1.EventTypeWarning, "UnParseableCronJobSchedule", "unparseable schedule for cronjob: %s", cur.Spec.Schedule)
		return
	}
	key, err := cache.MetaNamespaceKeyFunc(cur)
	if err != nil {
		return
	}
	c.queue.AddAfter(key, *nextScheduleTimeDuration(cur, c.clock.Now(), sched))
}

// resolveControllerRef returns the CronJob a controller reference names,
// if it is in the cache with the same UID.
func (c *Controller) resolveControllerRef(ns string, ref *metav1.OwnerReference) *batchv1.CronJob {
	if ref == nil || ref.Kind != controllerKind.Kind {
		return nil
	}
	cj, err := c.cjLister.CronJobs(ns).Get(ref.Name)
	if err != nil || cj.UID != ref.UID {
		return nil
	}
	return cj
}

func (c *Controller) addJob(obj any) {
	job := obj.(*batchv1.Job)
	if job.DeletionTimestamp != nil {
		c.deleteJob(job)
		return
	}
	if cj := c.resolveControllerRef(job.Namespace, metav1.GetControllerOf(job)); cj != nil {
		reconcile.Enqueue(c.queue, cj)
	}
}

func (c *Controller) updateJob(oldObj, curObj any) {
	old, cur := oldObj.(*batchv1.Job), curObj.(*batchv1.Job)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	curRef, oldRef := metav1.GetControllerOf(cur), metav1.GetControllerOf(old)
	if oldRef != nil && !reflect.DeepEqual(curRef, oldRef) {
		if cj := c.resolveControllerRef(old.Namespace, oldRef); cj != nil {
			reconcile.Enqueue(c.queue, cj)
		}
	}
	if cj := c.resolveControllerRef(cur.Namespace, curRef); cj != nil {
		reconcile.Enqueue(c.queue, cj)
	}
}

func (c *Controller) deleteJob(obj any) {
	job, ok := reconcile.Object[*batchv1.Job](obj)
	if !ok {
		return
	}
	if cj := c.resolveControllerRef(job.Namespace, metav1.GetControllerOf(job)); cj != nil {
		reconcile.Enqueue(c.queue, cj)
	}
}

// Run starts workers and blocks until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	reconcile.Run(ctx, "cronjob", c.queue, workers, c.synced, c.syncKey, reconcile.Quiet(apierrors.IsConflict))
}

// syncKey syncs a CronJob and, on success, has it synced again at its
// next schedule time: the controller sleeps until then, it does not poll.
func (c *Controller) syncKey(ctx context.Context, key string) (reconcile.Result, error) {
	after, err := c.sync(ctx, key)
	if err != nil || after == nil {
		return reconcile.Result{}, err
	}
	return reconcile.After(*after), nil
}
