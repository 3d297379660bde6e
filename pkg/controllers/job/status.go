package job

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// trackStatus counts finished pods without losing any, as upstream:
//  1. their UIDs go to status.uncountedTerminatedPods (written first);
//  2. their tracking finalizers are removed;
//  3. the UIDs of pods whose finalizer is gone move into the counters;
//  4. a finished Job gets its interim condition (FailureTarget,
//     SuccessCriteriaMet) before the finalizers go, and Failed or Complete
//     once nothing is uncounted and no pod is terminating.
func (c *Controller) trackStatus(ctx context.Context, sc *syncCtx, needsFlush bool) error {
	job := sc.job
	indexed := isIndexed(job)
	uncounted := job.Status.UncountedTerminatedPods
	if indexed {
		// Completed indexes enter in order.
		sort.SliceStable(sc.pods, func(i, j int) bool { return completionIndex(sc.pods[i]) < completionIndex(sc.pods[j]) })
	}
	withFinalizer := map[types.UID]bool{}
	for _, p := range sc.pods {
		if hasTrackingFinalizer(p) && !sc.expectedRmFinalizers[p.UID] {
			withFinalizer[p.UID] = true
		}
	}
	if moveUncounted(&job.Status, withFinalizer) {
		needsFlush = true
	}
	var toRelease []*corev1.Pod
	var newSucceededIdx []int
	reachedMax := false
	for _, p := range sc.pods {
		if !hasTrackingFinalizer(p) || sc.expectedRmFinalizers[p.UID] {
			continue // counted by an earlier sync
		}
		failed := isPodFailed(p, job)
		if !canRemoveFinalizer(sc, p, failed) {
			continue
		}
		toRelease = append(toRelease, p)
		switch {
		case p.Status.Phase == corev1.PodSucceeded && !sc.uncountedFailed[p.UID]:
			if indexed {
				// The index alone keeps a success from counting twice.
				if ix := completionIndex(p); validIndex(job, p) && !sc.prevSucceededIdx.has(ix) {
					newSucceededIdx = append(newSucceededIdx, ix)
					needsFlush = true
				}
			} else if !sc.uncountedSucceeded[p.UID] {
				uncounted.Succeeded = append(uncounted.Succeeded, p.UID)
				needsFlush = true
			}
		case failed || (sc.finished != nil && sc.finished.Type != batchv1.JobSuccessCriteriaMet):
			// A failing Job counts every unfinished pod as failed.
			if sc.uncountedFailed[p.UID] || (indexed && !validIndex(job, p)) {
				break
			}
			if _, count, _ := matchPodFailurePolicy(job.Spec.PodFailurePolicy, p); count {
				uncounted.Failed = append(uncounted.Failed, p.UID)
				needsFlush = true
			}
		}
		if len(newSucceededIdx)+len(uncounted.Succeeded)+len(uncounted.Failed) >= MaxUncountedPods {
			// Keep the status small; status and pod updates bring the
			// Job back for the rest.
			reachedMax = true
			break
		}
	}
	if indexed {
		sc.succeededIdx = sc.succeededIdx.with(newSucceededIdx...)
		s := sc.succeededIdx.String()
		if s != job.Status.CompletedIndexes {
			needsFlush = true
		}
		job.Status.Succeeded = int32(sc.succeededIdx.total())
		job.Status.CompletedIndexes = s
		var failedIdx *string
		if hasBackoffLimitPerIndex(job) {
			failedIdx = ptr.To(sc.failedIdx.String())
		}
		if !ptr.Equal(job.Status.FailedIndexes, failedIdx) {
			job.Status.FailedIndexes = failedIdx
			needsFlush = true
		}
	}
	switch {
	case sc.finished != nil && sc.finished.Type == batchv1.JobFailureTarget:
		job.Status.Conditions = append(job.Status.Conditions, *sc.finished)
		needsFlush = true
		sc.finished = c.newCondition(batchv1.JobFailed, sc.finished.Reason, sc.finished.Message)
	case sc.finished != nil && sc.finished.Type == batchv1.JobSuccessCriteriaMet && sc.finished.Status == corev1.ConditionTrue:
		if successCriteriaMet(job) == nil {
			job.Status.Conditions = append(job.Status.Conditions, *sc.finished)
			needsFlush = true
		}
		sc.finished = c.newCondition(batchv1.JobComplete, sc.finished.Reason, sc.finished.Message)
	}
	var err error
	if needsFlush, err = c.flushAndRemoveFinalizers(ctx, sc, toRelease, withFinalizer, needsFlush); err != nil {
		return err
	}
	finished := !reachedMax && c.enactFinished(sc)
	if finished {
		needsFlush = true
	}
	if !needsFlush {
		return nil
	}
	if err := c.updateStatus(ctx, sc); err != nil {
		return fmt.Errorf("removing uncounted pods from status: %w", err)
	}
	if finished {
		c.recordFinished(sc.job, sc.finished)
	}
	return nil
}

// canRemoveFinalizer: the Job is going away or finished, the pod succeeded,
// or it failed (unless, with backoffLimitPerIndex, it is the pod whose
// failure count its replacement has yet to carry forward).
func canRemoveFinalizer(sc *syncCtx, p *corev1.Pod, failed bool) bool {
	if sc.job.DeletionTimestamp != nil || sc.finished != nil || p.Status.Phase == corev1.PodSucceeded {
		return true
	}
	if !failed {
		return false
	}
	if hasBackoffLimitPerIndex(sc.job) {
		if last, ok := sc.lastFailedPerIndex[completionIndex(p)]; ok && last.UID == p.UID {
			return false
		}
	}
	return true
}

// flushAndRemoveFinalizers writes the new uncounted UIDs (and interim
// condition), removes the finalizers, and moves the released UIDs into the
// counters; it returns whether status changes are still unwritten.
func (c *Controller) flushAndRemoveFinalizers(ctx context.Context, sc *syncCtx, pods []*corev1.Pod, withFinalizer map[types.UID]bool, needsFlush bool) (bool, error) {
	if needsFlush {
		if err := c.updateStatus(ctx, sc); err != nil {
			return needsFlush, fmt.Errorf("adding uncounted pods to status: %w", err)
		}
		c.backoff.set(sc.key, sc.newBackoff)
		needsFlush = false
	}
	var rmErr error
	if len(pods) > 0 {
		var released []bool
		released, rmErr = c.removeFinalizers(ctx, sc.key, pods)
		for i, p := range pods {
			if released[i] {
				delete(withFinalizer, p.UID)
			}
		}
	}
	if moveUncounted(&sc.job.Status, withFinalizer) {
		needsFlush = true
	}
	if rmErr != nil && needsFlush {
		// Save the partial progress.
		if err := c.updateStatus(ctx, sc); err != nil {
			return needsFlush, fmt.Errorf("removing uncounted pods from status: %w", err)
		}
	}
	return needsFlush, rmErr
}

// moveUncounted moves the uncounted UIDs of pods that no longer hold the
// finalizer into the succeeded and failed counters.
func moveUncounted(status *batchv1.JobStatus, withFinalizer map[types.UID]bool) bool {
	u := status.UncountedTerminatedPods
	keep := func(uids []types.UID) []types.UID {
		var out []types.UID
		for _, uid := range uids {
			if withFinalizer[uid] {
				out = append(out, uid)
			}
		}
		return out
	}
	changed := false
	if s := keep(u.Succeeded); len(s) != len(u.Succeeded) {
		status.Succeeded += int32(len(u.Succeeded) - len(s))
		u.Succeeded = s
		changed = true
	}
	if f := keep(u.Failed); len(f) != len(u.Failed) {
		status.Failed += int32(len(u.Failed) - len(f))
		u.Failed = f
		changed = true
	}
	return changed
}

// removeFinalizers removes the tracking finalizer from pods at once; the
// i-th result says whether pods[i] is released (a pod already gone is).
func (c *Controller) removeFinalizers(ctx context.Context, key string, pods []*corev1.Pod) ([]bool, error) {
	uids := make([]types.UID, len(pods))
	for i, p := range pods {
		uids[i] = p.UID
	}
	c.finalizers.expectRemoved(key, uids)
	released := make([]bool, len(pods))
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for i, p := range pods {
		wg.Go(func() {
			if err := c.removeFinalizer(ctx, p); err != nil {
				// No update will show it removed.
				c.finalizers.observed(key, p.UID)
				if !apierrors.IsNotFound(err) {
					mu.Lock()
					errs = append(errs, fmt.Errorf("removing tracking finalizer of pod %s: %w", p.Name, err))
					mu.Unlock()
					return
				}
			}
			released[i] = true
		})
	}
	wg.Wait()
	return released, errors.Join(errs...)
}

// enactFinished sets the terminal condition once no pod is uncounted or
// terminating.
func (c *Controller) enactFinished(sc *syncCtx) bool {
	if sc.finished == nil {
		return false
	}
	job := sc.job
	if u := job.Status.UncountedTerminatedPods; u != nil && len(u.Succeeded)+len(u.Failed) > 0 {
		return false
	}
	if sc.terminating > 0 {
		return false
	}
	f := sc.finished
	job.Status.Conditions, _ = c.ensureCondition(job.Status.Conditions, f.Type, f.Status, f.Reason, f.Message)
	if f.Type == batchv1.JobComplete {
		t := f.LastTransitionTime
		job.Status.CompletionTime = &t
	}
	return true
}

func (c *Controller) recordFinished(job *batchv1.Job, cond *batchv1.JobCondition) {
	if cond.Type != batchv1.JobComplete {
		c.recorder.Event(job, corev1.EventTypeWarning, cond.Reason, cond.Message)
		return
	}
	if job.Spec.Completions != nil && job.Status.Succeeded > *job.Spec.Completions {
		c.recorder.Event(job, corev1.EventTypeWarning, "TooManySucceededPods", "Too many succeeded pods running after completion count reached")
	}
	c.recorder.Event(job, corev1.EventTypeNormal, "Completed", "Job completed")
}

// updateStatus writes sc.job's status (a conflict sends the key back to
// the queue: the cache was behind) and keeps the written object.
func (c *Controller) updateStatus(ctx context.Context, sc *syncCtx) error {
	updated, err := c.client.BatchV1().Jobs(sc.job.Namespace).UpdateStatus(ctx, sc.job, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	if rv, err := strconv.ParseUint(updated.ResourceVersion, 10, 64); err == nil {
		c.written.Store(sc.key, writtenVersion{uid: updated.UID, rv: rv})
	}
	sc.job = updated
	if sc.job.Status.UncountedTerminatedPods == nil {
		sc.job.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	return nil
}
