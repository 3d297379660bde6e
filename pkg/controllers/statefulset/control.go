package statefulset

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// maxBatch caps the concurrent writes of one Parallel step.
const maxBatch = 500

// update brings set's pods, claims and revisions one step towards its spec
// and writes the status it observed. set has its defaults filled in.
func (c *Controller) update(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod) (*appsv1.StatefulSetStatus, error) {
	sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil {
		return nil, err
	}
	revs, err := c.listRevisions(set, sel)
	if err != nil {
		return nil, err
	}
	sortRevisions(revs)
	current, update, status, err := c.performUpdate(ctx, set, pods, revs)
	if err != nil {
		return nil, errors.Join(err, c.truncateHistory(ctx, set, pods, revs, current, update))
	}
	return status, c.truncateHistory(ctx, set, pods, revs, current, update)
}

func (c *Controller) performUpdate(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod, revs []*appsv1.ControllerRevision) (current, update *appsv1.ControllerRevision, status *appsv1.StatefulSetStatus, err error) {
	current, update, collisionCount, err := c.revisions(ctx, set, revs)
	if err != nil {
		return current, update, nil, err
	}
	status, err = c.updatePods(ctx, set, current, update, collisionCount, pods)
	if err != nil && status == nil {
		return current, update, nil, err
	}
	// The status is written even when a step failed: it is what we saw.
	statusErr := c.writeStatus(ctx, set, status)
	if err != nil {
		return current, update, status, err
	}
	return current, update, status, statusErr
}

// updatePods creates, updates and deletes pods towards set's spec: missing
// ordinals first (in order, each Running, Ready and available before the
// next under OrderedReady; all at once under Parallel), then condemned pods
// above the range from the highest ordinal down, then one rolling-update
// step.
func (c *Controller) updatePods(ctx context.Context, set *appsv1.StatefulSet, currentRev, updateRev *appsv1.ControllerRevision, collisionCount int32, pods []*corev1.Pod) (*appsv1.StatefulSetStatus, error) {
	currentSet, err := applyRevision(set, currentRev)
	if err != nil {
		return nil, err
	}
	updateSet, err := applyRevision(set, updateRev)
	if err != nil {
		return nil, err
	}
	currentSet, updateSet = withDefaults(currentSet), withDefaults(updateSet)
	if set.Spec.UpdateStrategy.Type == appsv1.RecreateStatefulSetStrategyType {
		// Recreate is alpha in Kubernetes 1.37 and off by default there.
		err := fmt.Errorf("statefulset %s/%s uses Recreate strategy but feature gate StatefulSetRecreateStrategy is disabled", set.Namespace, set.Name)
		c.recorder.Event(set, corev1.EventTypeWarning, "UnknownStrategy", err.Error())
		return nil, err
	}
	now := c.clock.Now()
	minReady := set.Spec.MinReadySeconds

	status := &appsv1.StatefulSetStatus{
		ObservedGeneration: set.Generation,
		CurrentRevision:    currentRev.Name,
		UpdateRevision:     updateRev.Name,
		CollisionCount:     ptr(collisionCount),
		Conditions:         append([]appsv1.StatefulSetCondition(nil), set.Status.Conditions...),
	}
	countReplicas(status, minReady, currentRev, updateRev, now, pods)

	start, end := startOrdinal(set), endOrdinal(set)
	replicas := make([]*corev1.Pod, int(*set.Spec.Replicas))
	var condemned []*corev1.Pod
	for _, pod := range pods {
		switch o := ordinalOf(pod); {
		case inOrdinalRange(pod, set):
			replicas[o-start] = pod
		case o >= 0:
			condemned = append(condemned, pod)
		}
	}
	for o := start; o <= end; o++ {
		if replicas[o-start] == nil {
			replicas[o-start] = newVersionedPod(currentSet, updateSet, currentRev.Name, updateRev.Name, o)
		}
	}
	// Highest ordinal first.
	sort.SliceStable(condemned, func(i, j int) bool { return ordinalOf(condemned[i]) > ordinalOf(condemned[j]) })

	var firstUnavailable *corev1.Pod
	for _, p := range replicas {
		if isUnavailable(p, minReady, now) {
			firstUnavailable = p
			break
		}
	}
	if firstUnavailable == nil {
		for i := len(condemned) - 1; i >= 0; i-- {
			if isUnavailable(condemned[i], minReady, now) {
				firstUnavailable = condemned[i]
				break
			}
		}
	}

	if set.DeletionTimestamp != nil {
		return status, nil
	}
	monotonic := set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement
	recount := func() { countReplicas(status, minReady, currentRev, updateRev, now, replicas, condemned) }

	if stop, err := runForAll(len(replicas), monotonic, func(i int) (bool, error) {
		return c.processReplica(ctx, set, updateSet, monotonic, replicas, i, now)
	}); stop || err != nil {
		recount()
		return status, err
	}
	if stop, err := runForAll(len(condemned), monotonic, func(i int) (bool, error) {
		match, err := c.claimsMatchRetention(updateSet, condemned[i])
		if err != nil {
			return true, err
		}
		if !match {
			if err := c.updateClaimsForRetention(ctx, updateSet, condemned[i]); err != nil {
				return true, err
			}
		}
		return false, nil
	}); stop || err != nil {
		recount()
		return status, err
	}
	if stop, err := runForAll(len(condemned), monotonic, func(i int) (bool, error) {
		return c.processCondemned(ctx, set, firstUnavailable, monotonic, condemned[i], now)
	}); stop || err != nil {
		recount()
		return status, err
	}
	recount()

	if set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return status, nil
	}
	return c.rollingUpdate(ctx, set, replicas, updateRev, status, now)
}

// processReplica handles the pod at replicas[i]; true means stop this sync
// (in order mode, a later ordinal must wait).
func (c *Controller) processReplica(ctx context.Context, set, updateSet *appsv1.StatefulSet, monotonic bool, replicas []*corev1.Pod, i int, now time.Time) (bool, error) {
	pod := replicas[i]
	// Failed and Succeeded pods alike are deleted; the next sync, once the
	// old pod is gone from the API, creates it again under the same name.
	if isTerminalPhase(pod) {
		if pod.DeletionTimestamp == nil {
			if err := c.deletePod(ctx, set, pod); err != nil {
				return true, err
			}
		}
		return true, nil
	}
	if !isCreated(pod) {
		if stale, err := c.claimIsStale(set, pod); err != nil || stale {
			return true, err
		}
		if err := c.createPod(ctx, set, pod); err != nil {
			return true, err
		}
		if monotonic {
			return true, nil
		}
	}
	if isPending(pod) {
		if err := c.createClaims(ctx, set, pod); err != nil {
			return true, err
		}
		if err := c.updateClaimsForRetention(ctx, set, pod); err != nil {
			c.recordPodEvent("update", set, pod, err)
			return true, err
		}
	}
	if monotonic && (isTerminating(pod) || !isRunningAndReady(pod) || !isAvailable(pod, set.Spec.MinReadySeconds, now)) {
		return true, nil
	}
	retentionMatch, err := c.claimsMatchRetention(updateSet, pod)
	if err != nil {
		retentionMatch = true
	}
	if identityMatches(set, pod) && storageMatches(set, pod) && retentionMatch {
		return false, nil
	}
	if err := c.updatePod(ctx, updateSet, pod.DeepCopy()); err != nil {
		return true, err
	}
	return false, nil
}

// processCondemned deletes one pod above the range; in order mode only once
// every lower pod is Running, Ready and available (or it is the first pod
// that is not) and the previous deletion has finished.
func (c *Controller) processCondemned(ctx context.Context, set *appsv1.StatefulSet, firstUnavailable *corev1.Pod, monotonic bool, pod *corev1.Pod, now time.Time) (bool, error) {
	if isTerminating(pod) {
		return monotonic, nil
	}
	if monotonic && pod != firstUnavailable && (!isRunningAndReady(pod) || !isAvailable(pod, set.Spec.MinReadySeconds, now)) {
		return true, nil
	}
	return true, c.deletePod(ctx, set, pod)
}

// rollingUpdate deletes pods not at the update revision from the highest
// ordinal down to the partition, keeping at most maxUnavailable pods
// unavailable (upstream's MaxUnavailableStatefulSet, on by default in 1.37).
func (c *Controller) rollingUpdate(ctx context.Context, set *appsv1.StatefulSet, replicas []*corev1.Pod, updateRev *appsv1.ControllerRevision, status *appsv1.StatefulSetStatus, now time.Time) (*appsv1.StatefulSetStatus, error) {
	minReady := set.Spec.MinReadySeconds
	updateMin, maxUnavail := 0, 1
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		updateMin = int(*ru.Partition)
		var err error
		if maxUnavail, err = maxUnavailable(ru.MaxUnavailable, int(*set.Spec.Replicas)); err != nil {
			return status, err
		}
	}
	parallel := set.Spec.PodManagementPolicy == appsv1.ParallelPodManagement
	unavailable, unavailableOld := 0, 0
	for _, p := range replicas {
		if isUnavailable(p, minReady, now) {
			unavailable++
			if parallel && podRevision(p) != updateRev.Name && !isTerminating(p) {
				unavailableOld++
			}
		}
	}
	if unavailable >= maxUnavail && unavailableOld == 0 {
		return status, nil
	}
	del := func(p *corev1.Pod) error {
		if err := c.deletePod(ctx, set, p); err != nil {
			return err
		}
		status.CurrentReplicas--
		return nil
	}
	if parallel {
		// Old pods that are unavailable anyway go first, so the budget is
		// not spent on good pods while broken ones wait.
		for t := len(replicas) - 1; t >= updateMin; t-- {
			p := replicas[t]
			if podRevision(p) != updateRev.Name && !isAvailable(p, minReady, now) && !isTerminating(p) {
				if err := del(p); err != nil {
					return status, err
				}
			}
		}
		budget := maxUnavail - unavailable
		for t := len(replicas) - 1; t >= updateMin && budget > 0; t-- {
			p := replicas[t]
			if podRevision(p) != updateRev.Name && !isUnavailable(p, minReady, now) {
				if err := del(p); err != nil {
					return status, err
				}
				budget--
			}
		}
		return status, nil
	}
	toDelete := maxUnavail - unavailable
	for t := len(replicas) - 1; t >= updateMin && toDelete > 0; t-- {
		p := replicas[t]
		if podRevision(p) != updateRev.Name && !isTerminating(p) {
			if err := del(p); err != nil {
				return status, err
			}
			toDelete--
		}
	}
	return status, nil
}

// runForAll calls fn for 0..n-1: in order, stopping at the first that asks
// to (or fails), or else concurrently in slow-start batches of 1, 2, 4, ….
func runForAll(n int, monotonic bool, fn func(i int) (bool, error)) (bool, error) {
	if monotonic {
		for i := 0; i < n; i++ {
			if stop, err := fn(i); stop || err != nil {
				return true, err
			}
		}
		return false, nil
	}
	next := 0
	for batch := min(n, 1); batch > 0; batch = min(2*batch, n-next, maxBatch) {
		errCh := make(chan error, batch)
		var wg sync.WaitGroup
		for k := next; k < next+batch; k++ {
			wg.Go(func() {
				if _, err := fn(k); err != nil {
					errCh <- err
				}
			})
		}
		wg.Wait()
		close(errCh)
		var errs []error
		for err := range errCh {
			errs = append(errs, err)
		}
		if len(errs) > 0 {
			return true, errors.Join(errs...)
		}
		next += batch
	}
	return false, nil
}

// countReplicas recounts the status's replica fields from the pod lists.
func countReplicas(status *appsv1.StatefulSetStatus, minReady int32, currentRev, updateRev *appsv1.ControllerRevision, now time.Time, lists ...[]*corev1.Pod) {
	status.Replicas, status.ReadyReplicas, status.AvailableReplicas = 0, 0, 0
	status.CurrentReplicas, status.UpdatedReplicas = 0, 0
	for _, list := range lists {
		for _, p := range list {
			if isCreated(p) {
				status.Replicas++
			}
			if isRunningAndReady(p) {
				status.ReadyReplicas++
				if isAvailable(p, minReady, now) {
					status.AvailableReplicas++
				}
			}
			if isCreated(p) && !isTerminating(p) {
				switch rev := podRevision(p); {
				case rev == currentRev.Name && rev == updateRev.Name:
					status.CurrentReplicas++
					status.UpdatedReplicas++
				case rev == currentRev.Name:
					status.CurrentReplicas++
				case rev == updateRev.Name:
					status.UpdatedReplicas++
				}
			}
		}
	}
}

// writeStatus completes a finished update (the update revision becomes the
// current one) and writes status when it differs from the set's.
func (c *Controller) writeStatus(ctx context.Context, set *appsv1.StatefulSet, status *appsv1.StatefulSetStatus) error {
	replicas := *set.Spec.Replicas
	if status.UpdatedReplicas == replicas && status.ReadyReplicas == replicas && status.Replicas == replicas {
		status.CurrentReplicas = status.UpdatedReplicas
		status.CurrentRevision = status.UpdateRevision
	}
	if !statusChanged(set, status) {
		return nil
	}
	client := c.client.AppsV1().StatefulSets(set.Namespace)
	cp := set.DeepCopy()
	for attempt := 0; ; attempt++ {
		cp.Status = *status
		updated, err := client.UpdateStatus(ctx, cp, metav1.UpdateOptions{})
		if err == nil {
			c.wrote(set, setResource, updated.ResourceVersion)
			return nil
		}
		if attempt > 3 || !apierrors.IsConflict(err) {
			return fmt.Errorf("updating status of statefulset %s/%s: %w", set.Namespace, set.Name, err)
		}
		fresh, gerr := c.setLister.StatefulSets(set.Namespace).Get(set.Name)
		if gerr != nil {
			return fmt.Errorf("updating status of statefulset %s/%s: %w", set.Namespace, set.Name, err)
		}
		cp = fresh.DeepCopy()
	}
}

// statusChanged is upstream's inconsistentStatus.
func statusChanged(set *appsv1.StatefulSet, s *appsv1.StatefulSetStatus) bool {
	o := &set.Status
	return s.ObservedGeneration > o.ObservedGeneration || s.Replicas != o.Replicas ||
		s.CurrentReplicas != o.CurrentReplicas || s.ReadyReplicas != o.ReadyReplicas ||
		s.UpdatedReplicas != o.UpdatedReplicas || s.CurrentRevision != o.CurrentRevision ||
		s.AvailableReplicas != o.AvailableReplicas || s.UpdateRevision != o.UpdateRevision ||
		!reflect.DeepEqual(o.Conditions, s.Conditions)
}
