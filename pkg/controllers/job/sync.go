package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"minik8s/pkg/controllers/reconcile"
)

// syncCtx is what one sync of a Job observed and decided.
type syncCtx struct {
	job                  *batchv1.Job
	key                  string
	pods                 []*corev1.Pod
	active               []*corev1.Pod
	finished             *batchv1.JobCondition
	succeeded, failed    int32
	prevSucceededIdx     intervals
	succeededIdx         intervals
	failedIdx            intervals
	newBackoff           backoffRecord
	expectedRmFinalizers map[types.UID]bool
	uncountedSucceeded   map[types.UID]bool
	uncountedFailed      map[types.UID]bool
	lastFailedPerIndex   map[int]*corev1.Pod
	terminating          int32
	ready                int32
	// requeue is the soonest moment the sync found to come back at: the
	// active deadline, the end of a pod failure back-off.
	requeue reconcile.Result
}

// sync reconciles one Job from the cache.
func (c *Controller) sync(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil || ns == "" || name == "" {
		return reconcile.Result{}, nil
	}
	shared, err := c.jobLister.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Delete(key)
		c.finalizers.forget(key)
		c.backoff.remove(key)
		c.written.Delete(key)
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if managedByOther(shared) {
		return reconcile.Result{}, nil
	}
	if c.behindOwnWrite(key, shared) {
		// The Job's update event will bring it back.
		return reconcile.Result{}, nil
	}
	if isFinished(shared) {
		c.backoff.remove(key)
		c.written.Delete(key)
		return reconcile.Result{}, nil
	}
	job := shared.DeepCopy()
	if m := job.Spec.CompletionMode; m != nil && *m != batchv1.NonIndexedCompletion && *m != batchv1.IndexedCompletion {
		c.recorder.Event(job, corev1.EventTypeWarning, "UnknownCompletionMode", "Skipped Job sync because completion mode is unknown")
		return reconcile.Result{}, nil
	}
	if job.Status.UncountedTerminatedPods == nil {
		job.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	// Read before listing pods: a pod created after the check is seen next
	// time, never counted missing.
	satisfied := c.exp.Satisfied(key)
	pods, err := c.podsForJob(ctx, job)
	if err != nil {
		return reconcile.Result{}, err
	}
	sc := &syncCtx{
		job:                  job,
		key:                  key,
		pods:                 pods,
		active:               activePods(pods),
		expectedRmFinalizers: c.finalizers.expected(key),
		uncountedSucceeded:   uidSet(job.Status.UncountedTerminatedPods.Succeeded),
		uncountedFailed:      uidSet(job.Status.UncountedTerminatedPods.Failed),
		terminating:          int32(len(terminatingPods(pods))),
	}
	sc.ready = countReady(sc.active)
	active := int32(len(sc.active))
	newSucceeded, newFailed := newFinishedPods(sc)
	sc.succeeded = job.Status.Succeeded + int32(len(newSucceeded)) + int32(len(sc.uncountedSucceeded))
	sc.failed = job.Status.Failed + countedFailures(job, newFailed) + int32(len(sc.uncountedFailed))

	if job.Status.StartTime == nil && !suspended(job) {
		now := metav1.NewTime(c.clock.Now())
		job.Status.StartTime = &now
	}
	sc.newBackoff = c.backoff.next(key, newSucceeded, newFailed)

	// The end state, in upstream's order: a condition set by an earlier
	// sync, then failures (pod failure policy, backoff limit, deadline),
	// then success.
	sc.finished = successCriteriaMet(job)
	if sc.finished == nil {
		if ft := findCondition(job.Status.Conditions, batchv1.JobFailureTarget); ft != nil && ft.Status == corev1.ConditionTrue {
			sc.finished = c.newCondition(batchv1.JobFailed, ft.Reason, ft.Message)
		} else if msg := failJobMessage(job, pods); msg != nil {
			sc.finished = c.newCondition(batchv1.JobFailureTarget, batchv1.JobReasonPodFailurePolicy, *msg)
		}
	}
	if sc.finished == nil {
		switch {
		case sc.failed > backoffLimit(job) || pastBackoffLimitOnFailure(job, pods):
			sc.finished = c.newCondition(batchv1.JobFailureTarget, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit")
		case c.pastActiveDeadline(job):
			sc.finished = c.newCondition(batchv1.JobFailureTarget, batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline")
		case job.Spec.ActiveDeadlineSeconds != nil && !suspended(job):
			left := time.Duration(*job.Spec.ActiveDeadlineSeconds)*time.Second - c.clock.Since(job.Status.StartTime.Time)
			sc.requeue = sc.requeue.Sooner(left)
		}
	}
	if isIndexed(job) {
		sc.prevSucceededIdx, sc.succeededIdx = succeededIndexes(job, pods)
		sc.succeeded = int32(sc.succeededIdx.total())
		if hasBackoffLimitPerIndex(job) {
			sc.failedIdx = failedIndexes(job, pods)
			if sc.finished == nil {
				nFailed := sc.failedIdx.total()
				switch {
				case job.Spec.MaxFailedIndexes != nil && nFailed > int(*job.Spec.MaxFailedIndexes):
					sc.finished = c.newCondition(batchv1.JobFailureTarget, batchv1.JobReasonMaxFailedIndexesExceeded, "Job has exceeded the specified maximal number of failed indexes")
				case nFailed > 0 && nFailed+sc.succeededIdx.total() >= int(completions(job)):
					sc.finished = c.newCondition(batchv1.JobFailureTarget, batchv1.JobReasonFailedIndexes, "Job has failed indexes")
				}
			}
			sc.lastFailedPerIndex = lastFailedPerIndex(sc)
		}
		if sc.finished == nil {
			if msg, ok := matchSuccessPolicy(job.Spec.SuccessPolicy, completions(job), sc.succeededIdx); ok {
				sc.finished = c.newCondition(batchv1.JobSuccessCriteriaMet, batchv1.JobReasonSuccessPolicy, msg)
			}
		}
	}

	var manageErr error
	suspendChanged := false
	if sc.finished != nil {
		deletedReady, deleted, err := c.deleteActivePods(ctx, job, sc.active)
		if deleted != active || !satisfied {
			// Pods may remain, or be in flight: not finished yet.
			sc.finished = nil
		}
		active -= deleted
		sc.terminating += deleted
		sc.ready -= deletedReady
		manageErr = err
	} else {
		managed := false
		if satisfied && job.DeletionTimestamp == nil {
			active, manageErr = c.manageJob(ctx, sc)
			managed = true
		}
		complete := sc.succeeded > 0 && active == 0
		if job.Spec.Completions != nil {
			complete = sc.succeeded >= *job.Spec.Completions && active == 0
		}
		switch {
		case complete:
			sc.finished = c.newCondition(batchv1.JobSuccessCriteriaMet, batchv1.JobReasonCompletionsReached, "Reached expected number of succeeded pods")
		case managed && suspended(job):
			var changed bool
			job.Status.Conditions, changed = c.ensureCondition(job.Status.Conditions, batchv1.JobSuspended, corev1.ConditionTrue, "JobSuspended", "Job suspended")
			if changed {
				suspendChanged = true
				c.recorder.Event(job, corev1.EventTypeNormal, "Suspended", "Job suspended")
				// MutableSchedulingDirectivesForSuspendedJobs (on by
				// default since v1.36).
				job.Status.StartTime = nil
			}
		case managed:
			var changed bool
			job.Status.Conditions, changed = c.ensureCondition(job.Status.Conditions, batchv1.JobSuspended, corev1.ConditionFalse, "JobResumed", "Job resumed")
			if changed {
				suspendChanged = true
				c.recorder.Event(job, corev1.EventTypeNormal, "Resumed", "Job resumed")
				// activeDeadlineSeconds counts continuous activity.
				now := metav1.NewTime(c.clock.Now())
				job.Status.StartTime = &now
			}
		}
	}

	needsFlush := suspendChanged || active != job.Status.Active ||
		!ptr.Equal(&sc.ready, job.Status.Ready) || !ptr.Equal(&sc.terminating, job.Status.Terminating)
	job.Status.Active = active
	job.Status.Ready = ptr.To(sc.ready)
	job.Status.Terminating = ptr.To(sc.terminating)
	if err := c.trackStatus(ctx, sc, needsFlush); err != nil {
		return reconcile.Result{}, fmt.Errorf("tracking status of job %s: %w", key, err)
	}
	if manageErr != nil {
		return reconcile.Result{}, manageErr
	}
	return sc.requeue, nil
}

// behindOwnWrite reports whether the cached Job is older than the last
// status this controller wrote for it (upstream's consistency store): a
// stale status would count finished pods whose finalizers are gone as
// never having run.
func (c *Controller) behindOwnWrite(key string, job *batchv1.Job) bool {
	v, ok := c.written.Load(key)
	if !ok {
		return false
	}
	w := v.(writtenVersion)
	if w.uid != job.UID {
		c.written.Delete(key)
		return false
	}
	cached, err := strconv.ParseUint(job.ResourceVersion, 10, 64)
	if err != nil {
		return false
	}
	if cached >= w.rv {
		c.written.Delete(key)
		return false
	}
	return true
}

type writtenVersion struct {
	uid types.UID
	rv  uint64
}

func (c *Controller) newCondition(t batchv1.JobConditionType, reason, message string) *batchv1.JobCondition {
	now := metav1.NewTime(c.clock.Now())
	return &batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: message, LastProbeTime: now, LastTransitionTime: now}
}

// ensureCondition sets a condition's status, reason and message, appending
// it unless it would be a new False one; it reports whether anything
// changed.
func (c *Controller) ensureCondition(list []batchv1.JobCondition, t batchv1.JobConditionType, status corev1.ConditionStatus, reason, message string) ([]batchv1.JobCondition, bool) {
	cond := c.newCondition(t, reason, message)
	cond.Status = status
	if existing := findCondition(list, t); existing != nil {
		if existing.Status == status && existing.Reason == reason && existing.Message == message {
			return list, false
		}
		*existing = *cond
		return list, true
	}
	if status == corev1.ConditionFalse {
		return list, false
	}
	return append(list, *cond), true
}

func findCondition(list []batchv1.JobCondition, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range list {
		if list[i].Type == t {
			return &list[i]
		}
	}
	return nil
}

func successCriteriaMet(job *batchv1.Job) *batchv1.JobCondition {
	if c := findCondition(job.Status.Conditions, batchv1.JobSuccessCriteriaMet); c != nil && c.Status == corev1.ConditionTrue {
		return c
	}
	return nil
}

func isFinished(job *batchv1.Job) bool {
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// managedByOther: spec.managedBy names a controller other than this one.
func managedByOther(job *batchv1.Job) bool {
	return job.Spec.ManagedBy != nil && *job.Spec.ManagedBy != batchv1.JobControllerName
}

func suspended(job *batchv1.Job) bool { return ptr.Deref(job.Spec.Suspend, false) }

func completions(job *batchv1.Job) int32 { return ptr.Deref(job.Spec.Completions, 0) }

func backoffLimit(job *batchv1.Job) int32 { return ptr.Deref(job.Spec.BackoffLimit, 6) }

func parallelism(job *batchv1.Job) int32 { return ptr.Deref(job.Spec.Parallelism, 1) }

func onlyReplaceFailedPods(job *batchv1.Job) bool {
	return ptr.Deref(job.Spec.PodReplacementPolicy, batchv1.TerminatingOrFailed) == batchv1.Failed
}

func hasTrackingFinalizer(pod *corev1.Pod) bool {
	return slices.Contains(pod.Finalizers, batchv1.JobTrackingFinalizer)
}

// isPodFailed: Failed, or (unless only failed pods are replaced) deleted
// before it succeeded, which covers pods that never reach a phase.
func isPodFailed(p *corev1.Pod, job *batchv1.Job) bool {
	if p.Status.Phase == corev1.PodFailed {
		return true
	}
	if onlyReplaceFailedPods(job) {
		return false
	}
	return p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded
}

func activePods(pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			out = append(out, p)
		}
	}
	return out
}

func terminatingPods(pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			out = append(out, p)
		}
	}
	return out
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func countReady(pods []*corev1.Pod) int32 {
	var n int32
	for _, p := range pods {
		if podReady(p) {
			n++
		}
	}
	return n
}

func uidSet(uids []types.UID) map[types.UID]bool {
	m := make(map[types.UID]bool, len(uids))
	for _, u := range uids {
		m[u] = true
	}
	return m
}

// newFinishedPods are the finished pods not counted yet: they still hold
// the finalizer, are not in uncountedTerminatedPods and, for an Indexed
// Job, have a valid index.
func newFinishedPods(sc *syncCtx) (succeeded, failed []*corev1.Pod) {
	for _, p := range sc.pods {
		if !hasTrackingFinalizer(p) || sc.expectedRmFinalizers[p.UID] {
			continue
		}
		if isIndexed(sc.job) && !validIndex(sc.job, p) {
			continue
		}
		switch {
		case p.Status.Phase == corev1.PodSucceeded && !sc.uncountedSucceeded[p.UID]:
			succeeded = append(succeeded, p)
		case isPodFailed(p, sc.job) && !sc.uncountedFailed[p.UID]:
			failed = append(failed, p)
		}
	}
	return succeeded, failed
}

// countedFailures leaves out failures an Ignore rule matches.
func countedFailures(job *batchv1.Job, failed []*corev1.Pod) int32 {
	n := int32(0)
	for _, p := range failed {
		if _, count, _ := matchPodFailurePolicy(job.Spec.PodFailurePolicy, p); count {
			n++
		}
	}
	return n
}

// pastBackoffLimitOnFailure: with restartPolicy OnFailure, failures are
// container restarts of running pods.
func pastBackoffLimitOnFailure(job *batchv1.Job, pods []*corev1.Pod) bool {
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		return false
	}
	var restarts int32
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning && p.Status.Phase != corev1.PodPending {
			continue
		}
		for _, s := range p.Status.InitContainerStatuses {
			restarts += s.RestartCount
		}
		for _, s := range p.Status.ContainerStatuses {
			restarts += s.RestartCount
		}
	}
	if backoffLimit(job) == 0 {
		return restarts > 0
	}
	return restarts >= backoffLimit(job)
}

func (c *Controller) pastActiveDeadline(job *batchv1.Job) bool {
	if job.Spec.ActiveDeadlineSeconds == nil || job.Status.StartTime == nil || suspended(job) {
		return false
	}
	return c.clock.Since(job.Status.StartTime.Time) >= time.Duration(*job.Spec.ActiveDeadlineSeconds)*time.Second
}

// podsForJob returns the pods the Job owns after adopting matching orphans
// (with the tracking finalizer) and releasing owned pods that no longer
// match. Finished pods are included: they are counted.
func (c *Controller) podsForJob(ctx context.Context, job *batchv1.Job) ([]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("converting selector of job %s/%s: %w", job.Namespace, job.Name, err)
	}
	all, err := c.podLister.Pods(job.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var (
		out      []*corev1.Pod
		errs     []error
		canAdopt *bool
	)
	for _, pod := range all {
		matches := !sel.Empty() && sel.Matches(labels.Set(pod.Labels))
		if ref := metav1.GetControllerOf(pod); ref != nil {
			if ref.UID != job.UID {
				continue
			}
			if matches {
				out = append(out, pod)
			} else if job.DeletionTimestamp == nil {
				if err := c.patchPod(ctx, pod, map[string]any{"metadata": map[string]any{
					"ownerReferences": []map[string]any{{"$patch": "delete", "uid": job.UID}},
					"uid":             pod.UID,
				}}); err != nil && !apierrors.IsNotFound(err) {
					errs = append(errs, err)
				}
			}
			continue
		}
		if !matches || job.DeletionTimestamp != nil || pod.DeletionTimestamp != nil {
			continue
		}
		if canAdopt == nil {
			ok, err := c.stillAlive(ctx, job)
			if err != nil {
				return nil, err
			}
			canAdopt = &ok
		}
		if !*canAdopt {
			continue
		}
		err := c.patchPod(ctx, pod, map[string]any{"metadata": map[string]any{
			"ownerReferences": []metav1.OwnerReference{*metav1.NewControllerRef(job, controllerKind)},
			"finalizers":      []string{batchv1.JobTrackingFinalizer},
			"uid":             pod.UID,
		}})
		if err != nil {
			if !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
			continue
		}
		adopted := pod.DeepCopy()
		if !hasTrackingFinalizer(adopted) {
			adopted.Finalizers = append(adopted.Finalizers, batchv1.JobTrackingFinalizer)
		}
		out = append(out, adopted)
	}
	return out, errors.Join(errs...)
}

// stillAlive re-reads the Job before adopting: a Job deleted or recreated
// under the same name must not take pods.
func (c *Controller) stillAlive(ctx context.Context, job *batchv1.Job) (bool, error) {
	fresh, err := c.client.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return fresh.UID == job.UID && fresh.DeletionTimestamp == nil, nil
}

func (c *Controller) patchPod(ctx context.Context, pod *corev1.Pod, patch map[string]any) error {
	data, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, data, metav1.PatchOptions{})
	return err
}

func (c *Controller) removeFinalizer(ctx context.Context, pod *corev1.Pod) error {
	if !hasTrackingFinalizer(pod) {
		return nil
	}
	err := c.patchPod(ctx, pod, map[string]any{"metadata": map[string]any{
		"$deleteFromPrimitiveList/finalizers": []string{batchv1.JobTrackingFinalizer},
	}})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// manageJob creates or deletes pods towards the wanted number of active
// ones; it returns the number active afterwards.
func (c *Controller) manageJob(ctx context.Context, sc *syncCtx) (int32, error) {
	job := sc.job
	active := int32(len(sc.active))
	if suspended(job) {
		rm := podsForRemoval(job, sc.active, len(sc.active))
		c.exp.Expect(sc.key, 0, len(rm))
		removedReady, removed, err := c.deleteJobPods(ctx, sc.key, job, rm)
		sc.terminating += removed
		sc.ready -= removedReady
		return active - removed, err
	}
	var want int32
	switch {
	case job.Spec.Completions == nil && sc.succeeded > 0:
		// A work-queue Job: once one pod succeeded, let the rest finish.
		want = active
	case job.Spec.Completions == nil:
		want = parallelism(job)
	default:
		want = max(0, min(completions(job)-sc.succeeded, parallelism(job)))
	}
	rm := podsForRemoval(job, sc.active, int(max(0, active-want)))
	if len(rm) > MaxPodCreateDeletePerSync {
		rm = rm[:MaxPodCreateDeletePerSync]
	}
	if len(rm) > 0 {
		// Deleting takes precedence; creating waits for the next sync.
		c.exp.Expect(sc.key, 0, len(rm))
		removedReady, removed, err := c.deleteJobPods(ctx, sc.key, job, rm)
		sc.terminating += removed
		sc.ready -= removedReady
		return active - removed, err
	}
	var terminating int32
	if onlyReplaceFailedPods(job) {
		terminating = sc.terminating
	}
	diff := want - terminating - active
	if diff <= 0 {
		return active, nil
	}
	if !hasBackoffLimitPerIndex(job) {
		if left := sc.newBackoff.remaining(c.clock); left > 0 {
			sc.requeue = sc.requeue.Sooner(max(left, SyncBatchPeriod))
			return active, nil
		}
	}
	diff = min(diff, int32(MaxPodCreateDeletePerSync))
	var indexes []int
	if isIndexed(job) {
		indexes = pendingIndexes(sc, int(diff))
		if hasBackoffLimitPerIndex(job) {
			var wait time.Duration
			indexes, wait = c.indexesReadyNow(indexes, sc.lastFailedPerIndex)
			if wait > 0 {
				sc.requeue = sc.requeue.Sooner(max(wait, SyncBatchPeriod))
				return active, nil
			}
		}
		diff = int32(len(indexes))
	}
	template := job.Spec.Template.DeepCopy()
	if isIndexed(job) {
		addIndexEnv(template)
	}
	if !slices.Contains(template.Finalizers, batchv1.JobTrackingFinalizer) {
		template.Finalizers = append(template.Finalizers, batchv1.JobTrackingFinalizer)
	}
	c.exp.Expect(sc.key, int(diff), 0)
	created, err := slowStartBatch(int(diff), func(i int) error {
		t, generateName := template, job.Name+"-"
		if indexes != nil {
			ix := indexes[i]
			t = template.DeepCopy()
			addIndex(t, job.Name, ix)
			generateName = generateNameWithIndex(job.Name, ix)
			if hasBackoffLimitPerIndex(job) {
				failures, ignored := indexFailureCounts(job, sc.lastFailedPerIndex[ix])
				t.Annotations[batchv1.JobIndexFailureCountAnnotation] = strconv.Itoa(int(failures))
				if ignored > 0 {
					t.Annotations[batchv1.JobIndexIgnoredFailureCountAnnotation] = strconv.Itoa(int(ignored))
				}
			}
		}
		return c.createPod(ctx, job, t, generateName)
	})
	// Pods that failed or were never sent will never be observed.
	c.exp.Lower(sc.key, int(diff)-created, 0)
	return active + int32(created), err
}

// indexesReadyNow keeps the indexes whose per-index back-off has passed; if
// none has, it returns the shortest wait.
func (c *Controller) indexesReadyNow(indexes []int, lastFailed map[int]*corev1.Pod) ([]int, time.Duration) {
	var ready []int
	var wait time.Duration
	for _, ix := range indexes {
		var left time.Duration
		if p := lastFailed[ix]; p != nil {
			t := finishedTime(p)
			left = remainingBackoff(c.clock, absoluteIndexFailures(p)+1, &t)
		}
		if left == 0 {
			ready = append(ready, ix)
		} else if wait == 0 || left < wait {
			wait = left
		}
	}
	if len(ready) > 0 {
		return ready, 0
	}
	return nil, wait
}

func (c *Controller) createPod(ctx context.Context, job *batchv1.Job, t *corev1.PodTemplateSpec, generateName string) error {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    generateName,
			Namespace:       job.Namespace,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, controllerKind)},
		},
		Spec: t.Spec,
	}
	created, err := c.client.CoreV1().Pods(job.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			// Every later create fails the same way; nothing to report.
			return nil
		}
		c.recorder.Eventf(job, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		return err
	}
	c.recorder.Eventf(job, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %v", created.Name)
	return nil
}

// deletePodWithEvent deletes one pod with upstream's events; a pod already gone is
// an error the callers ignore.
func (c *Controller) deletePodWithEvent(ctx context.Context, job *batchv1.Job, pod *corev1.Pod) error {
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return err
	}
	if err != nil {
		c.recorder.Eventf(job, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
		return fmt.Errorf("deleting pod %s: %w", pod.Name, err)
	}
	c.recorder.Eventf(job, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %v", pod.Name)
	return nil
}

// deleteActivePods deletes a finished Job's active pods keeping their
// finalizers: they are counted as failed once gone.
func (c *Controller) deleteActivePods(ctx context.Context, job *batchv1.Job, pods []*corev1.Pod) (ready, deleted int32, err error) {
	return parallelDelete(pods, func(p *corev1.Pod) error {
		if err := c.deletePodWithEvent(ctx, job, p); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		return nil
	})
}

// deleteJobPods deletes surplus (or suspended) pods after removing their
// finalizers: they do not count as failures.
func (c *Controller) deleteJobPods(ctx context.Context, key string, job *batchv1.Job, pods []*corev1.Pod) (ready, deleted int32, err error) {
	return parallelDelete(pods, func(p *corev1.Pod) error {
		err := c.removeFinalizer(ctx, p)
		if err == nil {
			err = c.deletePodWithEvent(ctx, job, p)
		}
		if err != nil {
			// The informer will not observe this deletion.
			c.exp.Lower(key, 0, 1)
			if !apierrors.IsNotFound(err) {
				return err
			}
		}
		return nil
	})
}

// parallelDelete runs del for every pod at once and counts the pods (and
// ready pods) it did not fail for.
func parallelDelete(pods []*corev1.Pod, del func(*corev1.Pod) error) (ready, deleted int32, err error) {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, p := range pods {
		wg.Go(func() {
			err := del(p)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			deleted++
			if podReady(p) {
				ready++
			}
		})
	}
	wg.Wait()
	return ready, deleted, errors.Join(errs...)
}

// slowStartBatch calls fn(0..count-1) in batches of 1, 2, 4, … so that a
// template the API rejects costs one failed call, not hundreds; it stops
// after the first batch with an error and returns how many calls succeeded.
func slowStartBatch(count int, fn func(i int) error) (int, error) {
	done, successes := 0, 0
	for batch := min(count, 1); batch > 0; batch = min(2*batch, count-done) {
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			errs []error
		)
		for i := done; i < done+batch; i++ {
			wg.Go(func() {
				if err := fn(i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		successes += batch - len(errs)
		done += batch
		if len(errs) > 0 {
			return successes, errs[0]
		}
	}
	return successes, nil
}

// podsForRemoval picks at least rmAtLeast active pods to delete: for an
// Indexed Job, first those with an invalid or repeated index; then the
// least valuable.
func podsForRemoval(job *batchv1.Job, pods []*corev1.Pod, rmAtLeast int) []*corev1.Pod {
	var rm, left []*corev1.Pod
	if isIndexed(job) {
		rm, left = duplicateIndexPods(job, pods)
	} else {
		left = slices.Clone(pods)
	}
	if len(rm) < rmAtLeast {
		sortLeastValuableFirst(left)
		rm = append(rm, left[:min(len(left), rmAtLeast-len(rm))]...)
	}
	return rm
}

var phaseRank = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

// sortLeastValuableFirst orders pods as upstream's ActivePods: unscheduled,
// pending, not ready, ready for less time, more restarts, newer first.
func sortLeastValuableFirst(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
			return a.Spec.NodeName == ""
		}
		if phaseRank[a.Status.Phase] != phaseRank[b.Status.Phase] {
			return phaseRank[a.Status.Phase] < phaseRank[b.Status.Phase]
		}
		if podReady(a) != podReady(b) {
			return !podReady(a)
		}
		if ra, rb := restarts(a), restarts(b); ra != rb {
			return ra > rb
		}
		return b.CreationTimestamp.Before(&a.CreationTimestamp)
	})
}

func restarts(p *corev1.Pod) int32 {
	var n int32
	for _, s := range p.Status.ContainerStatuses {
		n = max(n, s.RestartCount)
	}
	return n
}
