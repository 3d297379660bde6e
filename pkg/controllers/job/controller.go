package job

import (
	"context"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"minik8s/pkg/controllers/expectations"
	"minik8s/pkg/controllers/reconcile"
)

var controllerKind = batchv1.SchemeGroupVersion.WithKind("Job")

// Tunables, upstream's values.
var (
	// SyncBatchPeriod delays the sync a pod event or a status-only Job
	// update triggers, so that a burst of them makes one sync.
	SyncBatchPeriod = time.Second
	// MaxUncountedPods caps each list of status.uncountedTerminatedPods
	// (and so the finalizers removed per sync).
	MaxUncountedPods = 500
	// MaxPodCreateDeletePerSync caps the pods one sync creates or deletes.
	MaxPodCreateDeletePerSync = 500
)

// Controller is the Job controller.
type Controller struct {
	client     kubernetes.Interface
	jobLister  batchlisters.JobLister
	podLister  corelisters.PodLister
	synced     []cache.InformerSynced
	queue      workqueue.TypedRateLimitingInterface[string]
	orphans    workqueue.TypedRateLimitingInterface[string]
	recorder   record.EventRecorder
	exp        *expectations.Counter // any deletion of a Job's pod counts, as upstream's
	finalizers *finalizerExpectations
	backoff    *backoffStore
	clock      clock.Clock
	// written holds, per Job key, the resourceVersion of the last status
	// the controller wrote (see behindOwnWrite).
	written sync.Map
}

// New wires the controller to the factory's Job and Pod informers.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) *Controller {
	return NewWithClock(client, factory, recorder, clock.RealClock{})
}

// NewWithClock is New with an injected clock (deadlines, back-off,
// condition times).
func NewWithClock(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, clk clock.WithTicker) *Controller {
	jobInf := factory.Batch().V1().Jobs()
	podInf := factory.Core().V1().Pods()
	// Upstream's API back-off: 1 s doubling to a minute per key.
	limiter := func() workqueue.TypedRateLimiter[string] {
		return workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Second, time.Minute)
	}
	c := &Controller{
		client:     client,
		jobLister:  jobInf.Lister(),
		podLister:  podInf.Lister(),
		synced:     []cache.InformerSynced{jobInf.Informer().HasSynced, podInf.Informer().HasSynced},
		queue:      workqueue.NewTypedRateLimitingQueueWithConfig(limiter(), workqueue.TypedRateLimitingQueueConfig[string]{Name: "job", Clock: clk}),
		orphans:    workqueue.NewTypedRateLimitingQueueWithConfig(limiter(), workqueue.TypedRateLimitingQueueConfig[string]{Name: "job_orphan_pod", Clock: clk}),
		recorder:   recorder,
		exp:        expectations.NewCounter(clk),
		finalizers: newFinalizerExpectations(),
		backoff:    newBackoffStore(),
		clock:      clk,
	}
	jobInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { reconcile.Enqueue(c.queue, obj) },
		UpdateFunc: c.updateJob,
		DeleteFunc: c.deleteJob,
	})
	podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: func(obj any) { c.deletePod(obj, true) },
	})
	return c
}

// Run starts workers (and one for orphaned pods' finalizers) and blocks
// until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	var wg sync.WaitGroup
	wg.Go(func() {
		reconcile.Run(ctx, "job-orphan-pods", c.orphans, 1, c.synced, reconcile.Plain(c.syncOrphanPod), reconcile.Quiet(apierrors.IsConflict))
	})
	reconcile.Run(ctx, "job", c.queue, workers, c.synced, c.sync, reconcile.Quiet(apierrors.IsConflict))
	wg.Wait()
}

func keyOf(obj metav1.Object) string { return obj.GetNamespace() + "/" + obj.GetName() }

func (c *Controller) enqueueBatched(job *batchv1.Job) {
	c.queue.AddAfter(keyOf(job), SyncBatchPeriod)
}

func (c *Controller) updateJob(oldObj, curObj any) {
	old, cur := oldObj.(*batchv1.Job), curObj.(*batchv1.Job)
	if cur.Generation == old.Generation {
		c.enqueueBatched(cur)
	} else {
		c.queue.Add(keyOf(cur))
	}
	// Finished: syncing stops, so pods still holding the finalizer are
	// handed to the orphan worker.
	if isFinished(cur) {
		c.cleanupPodFinalizers(cur)
	}
	if cur.Status.StartTime != nil && cur.Spec.ActiveDeadlineSeconds != nil &&
		(old.Spec.ActiveDeadlineSeconds == nil || *old.Spec.ActiveDeadlineSeconds != *cur.Spec.ActiveDeadlineSeconds) {
		total := time.Duration(*cur.Spec.ActiveDeadlineSeconds) * time.Second
		c.queue.AddAfter(keyOf(cur), total-c.clock.Since(cur.Status.StartTime.Time))
	}
}

func (c *Controller) deleteJob(obj any) {
	reconcile.Enqueue(c.queue, obj)
	if job, ok := reconcile.Object[*batchv1.Job](obj); ok {
		c.cleanupPodFinalizers(job)
	}
}

func (c *Controller) cleanupPodFinalizers(job *batchv1.Job) {
	sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return
	}
	pods, _ := c.podLister.Pods(job.Namespace).List(sel)
	for _, p := range pods {
		if metav1.IsControlledBy(p, job) && hasTrackingFinalizer(p) {
			c.orphans.Add(keyOf(p))
		}
	}
}

// resolveControllerRef returns the Job a controller reference names, if it
// is in the cache with the same UID.
func (c *Controller) resolveControllerRef(ns string, ref *metav1.OwnerReference) *batchv1.Job {
	if ref == nil || ref.Kind != controllerKind.Kind {
		return nil
	}
	job, err := c.jobLister.Jobs(ns).Get(ref.Name)
	if err != nil || job.UID != ref.UID {
		return nil
	}
	return job
}

// matchingJobs are the Jobs whose selector matches an orphan pod.
func (c *Controller) matchingJobs(pod *corev1.Pod) []*batchv1.Job {
	jobs, err := c.jobLister.Jobs(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*batchv1.Job
	for _, j := range jobs {
		sel, err := metav1.LabelSelectorAsSelector(j.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		out = append(out, j)
	}
	return out
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		// A controller restarting may find pods already being deleted:
		// not a creation it waits for.
		c.deletePod(pod, false)
		return
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if job := c.resolveControllerRef(pod.Namespace, ref); job != nil {
			c.exp.Lower(keyOf(job), 1, 0)
			c.enqueueBatched(job)
		}
		return
	}
	if hasTrackingFinalizer(pod) {
		c.orphans.Add(keyOf(pod))
	}
	for _, j := range c.matchingJobs(pod) {
		c.enqueueBatched(j)
	}
}

func (c *Controller) updatePod(oldObj, curObj any) {
	old, cur := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	if cur.DeletionTimestamp != nil {
		// A graceful deletion: replace the pod now rather than once the
		// agent has removed it.
		c.deletePod(cur, false)
		return
	}
	finalizerRemoved := !hasTrackingFinalizer(cur)
	curRef, oldRef := metav1.GetControllerOf(cur), metav1.GetControllerOf(old)
	refChanged := !equality.Semantic.DeepEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if job := c.resolveControllerRef(old.Namespace, oldRef); job != nil {
			if finalizerRemoved {
				c.finalizers.observed(keyOf(job), cur.UID)
			}
			c.enqueueBatched(job)
		}
	}
	if curRef != nil {
		if job := c.resolveControllerRef(cur.Namespace, curRef); job != nil {
			if finalizerRemoved {
				c.finalizers.observed(keyOf(job), cur.UID)
			}
			c.enqueueBatched(job)
		}
		return
	}
	if hasTrackingFinalizer(cur) {
		c.orphans.Add(keyOf(cur))
	}
	if refChanged || !equality.Semantic.DeepEqual(old.Labels, cur.Labels) {
		for _, j := range c.matchingJobs(cur) {
			c.enqueueBatched(j)
		}
	}
}

// deletePod handles a deletion (final) or a pod that got a deletion
// timestamp.
func (c *Controller) deletePod(obj any, final bool) {
	pod, ok := reconcile.Object[*corev1.Pod](obj)
	if !ok {
		return
	}
	ref := metav1.GetControllerOf(pod)
	hasFinalizer := hasTrackingFinalizer(pod)
	if ref == nil {
		if hasFinalizer {
			c.orphans.Add(keyOf(pod))
		}
		return
	}
	job := c.resolveControllerRef(pod.Namespace, ref)
	if job == nil || isFinished(job) {
		if hasFinalizer {
			c.orphans.Add(keyOf(pod))
		}
		return
	}
	key := keyOf(job)
	c.exp.Lower(key, 0, 1)
	if final || !hasFinalizer {
		c.finalizers.observed(key, pod.UID)
	}
	c.enqueueBatched(job)
}

// syncOrphanPod removes the tracking finalizer of a pod no unfinished Job
// of ours controls any more.
func (c *Controller) syncOrphanPod(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := c.podLister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if ref.Kind != controllerKind.Kind || ref.APIVersion != batchv1.SchemeGroupVersion.String() {
			return nil
		}
		job := c.resolveControllerRef(ns, ref)
		if job != nil && managedByOther(job) {
			return nil
		}
		if job != nil && !isFinished(job) {
			return nil
		}
	}
	return c.removeFinalizer(ctx, pod)
}
