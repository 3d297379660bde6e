package ttlafterfinished

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"minik8s/pkg/controllers/reconcile"
)

// Name is the controller's name in kube-controller-manager.
const Name = "ttl-after-finished-controller"

// Controller is the TTL-after-finished controller.
type Controller struct {
	client    kubernetes.Interface
	jobLister batchlisters.JobLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	clock     clock.WithTicker
}

// New wires the controller to the factory's Job informer.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory) *Controller {
	return NewWithClock(client, factory, clock.RealClock{})
}

// NewWithClock is New with an injected clock: it decides which Jobs have
// expired and drives the queue's delays.
func NewWithClock(client kubernetes.Interface, factory informers.SharedInformerFactory, clk clock.WithTicker) *Controller {
	inf := factory.Batch().V1().Jobs()
	c := &Controller{
		client:    client,
		jobLister: inf.Lister(),
		synced:    []cache.InformerSynced{inf.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "ttl_jobs_to_delete", Clock: clk}),
		clock: clk,
	}
	enqueue := func(obj any) {
		if job, ok := obj.(*batchv1.Job); ok && job.DeletionTimestamp == nil && needsCleanup(job) {
			reconcile.Enqueue(c.queue, job)
		}
	}
	inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, cur any) { enqueue(cur) },
	})
	return c
}

// Run starts workers and blocks until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	// A conflict is a UID precondition that failed: the Job was replaced
	// since the read, and the retry decides on the new one.
	reconcile.Run(ctx, "ttl-after-finished", c.queue, workers, c.synced, c.syncKey, reconcile.Quiet(apierrors.IsConflict))
}

// syncKey syncs a Job and has it synced again when its TTL runs out.
func (c *Controller) syncKey(ctx context.Context, key string) (reconcile.Result, error) {
	after, err := c.sync(ctx, key)
	if err != nil || after == nil {
		return reconcile.Result{}, err
	}
	return reconcile.After(*after), nil
}

// sync deletes the Job a key names if its TTL has expired; otherwise it
// returns how long until it will, or nil if the Job has no TTL running.
func (c *Controller) sync(ctx context.Context, key string) (*time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil, nil
	}
	job, err := c.jobLister.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if left, err := c.timeLeft(job); err != nil || left == nil || *left > 0 {
		return left, err
	}
	// The cache may be behind a change of the TTL (or a new Job of the same
	// name): decide again on the Job as it is now.
	fresh, err := c.client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if left, err := c.timeLeft(fresh); err != nil || left == nil || *left > 0 {
		return left, err
	}
	foreground := metav1.DeletePropagationForeground
	klog.V(4).InfoS("deleting Job whose TTL after finished expired", "job", klog.KObj(fresh))
	err = c.client.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{
		PropagationPolicy: &foreground,
		Preconditions:     &metav1.Preconditions{UID: &fresh.UID},
	})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return nil, err
}

// timeLeft is how long until a finished Job's TTL runs out (zero or less:
// it has), or nil for a Job with no TTL running: unfinished, without
// ttlSecondsAfterFinished, or already being deleted.
func (c *Controller) timeLeft(job *batchv1.Job) (*time.Duration, error) {
	if job.DeletionTimestamp != nil || !needsCleanup(job) {
		return nil, nil
	}
	finishedAt, err := finishTime(job)
	if err != nil {
		return nil, err
	}
	now := c.clock.Now()
	if finishedAt.After(now) {
		klog.InfoS("Job finished in the future, likely clock skew in the cluster; its cleanup waits", "job", klog.KObj(job))
	}
	left := finishedAt.Add(time.Duration(*job.Spec.TTLSecondsAfterFinished) * time.Second).Sub(now)
	return &left, nil
}

// needsCleanup: a Job with a TTL that has finished.
func needsCleanup(job *batchv1.Job) bool {
	if job.Spec.TTLSecondsAfterFinished == nil {
		return false
	}
	_, ok := finishedCondition(job)
	return ok
}

// finishedCondition is the Job's Complete or Failed condition, if true.
func finishedCondition(job *batchv1.Job) (*batchv1.JobCondition, bool) {
	for i, cond := range job.Status.Conditions {
		if (cond.Type == batchv1.JobComplete || cond.Type == batchv1.JobFailed) && cond.Status == corev1.ConditionTrue {
			return &job.Status.Conditions[i], true
		}
	}
	return nil, false
}

// finishTime is when a finished Job finished: its condition's
// lastTransitionTime. A condition without one is an error, as upstream:
// the Job is retried with back-off rather than deleted at a guess.
func finishTime(job *batchv1.Job) (time.Time, error) {
	cond, ok := finishedCondition(job)
	if !ok {
		return time.Time{}, fmt.Errorf("job %s/%s has not finished", job.Namespace, job.Name)
	}
	if cond.LastTransitionTime.IsZero() {
		return time.Time{}, fmt.Errorf("unable to find the time when the Job %s/%s finished", job.Namespace, job.Name)
	}
	return cond.LastTransitionTime.Time, nil
}
