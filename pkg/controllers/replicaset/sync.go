package replicaset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"minik8s/pkg/controllers/reconcile"
)

// sync reconciles one ReplicaSet from the cache.
func (c *Controller) sync(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return reconcile.Result{}, nil
	}
	rs, err := c.owners.get(ns, name)
	if apierrors.IsNotFound(err) {
		c.exp.Delete(key)
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	selector, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		c.recorder.Eventf(rs, corev1.EventTypeWarning, "InvalidSelector", "invalid selector: %v", err)
		return reconcile.Result{}, nil
	}
	needsSync := c.exp.Satisfied(key)
	all, err := c.podLister.Pods(ns).List(labels.Everything())
	if err != nil {
		return reconcile.Result{}, err
	}
	pods, err := c.claimPods(ctx, rs, selector, activePods(all))
	if err != nil {
		return reconcile.Result{}, err
	}
	var manageErr error
	if needsSync && rs.DeletionTimestamp == nil {
		manageErr = c.manageReplicas(ctx, pods, rs)
	}
	status := c.calculateStatus(rs, pods, manageErr)
	updated, err := c.updateStatus(ctx, rs, status)
	if err != nil {
		return reconcile.Result{}, err
	}
	if manageErr == nil && updated.Spec.MinReadySeconds > 0 &&
		updated.Status.ReadyReplicas == replicasOf(updated) &&
		updated.Status.AvailableReplicas != replicasOf(updated) {
		return reconcile.After(time.Duration(updated.Spec.MinReadySeconds) * time.Second), nil
	}
	return reconcile.Result{}, manageErr
}

func replicasOf(rs *appsv1.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}

// activePods drops pods that are terminating or finished: they do not count
// towards the replicas.
func activePods(pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		out = append(out, p)
	}
	return out
}

// claimPods returns the pods rs owns after adopting matching orphans and
// releasing owned pods that no longer match.
func (c *Controller) claimPods(ctx context.Context, rs *appsv1.ReplicaSet, sel labels.Selector, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	var (
		claimed  []*corev1.Pod
		errs     []error
		canAdopt *bool
	)
	for _, pod := range pods {
		ref := metav1.GetControllerOf(pod)
		matches := !sel.Empty() && sel.Matches(labels.Set(pod.Labels))
		if ref != nil {
			if ref.UID != rs.UID {
				continue
			}
			if matches {
				claimed = append(claimed, pod)
				continue
			}
			if rs.DeletionTimestamp != nil {
				continue
			}
			if err := c.release(ctx, rs, pod); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
			continue
		}
		if !matches || rs.DeletionTimestamp != nil || pod.DeletionTimestamp != nil {
			continue
		}
		if canAdopt == nil {
			ok, err := c.stillAlive(ctx, rs)
			if err != nil {
				return nil, err
			}
			canAdopt = &ok
		}
		if !*canAdopt {
			continue
		}
		if err := c.adopt(ctx, rs, pod); err != nil {
			if !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
			continue
		}
		claimed = append(claimed, pod)
	}
	return claimed, errors.Join(errs...)
}

// stillAlive re-reads rs from the API before adopting: a ReplicaSet that was
// deleted (or recreated under the same name) must not take pods.
func (c *Controller) stillAlive(ctx context.Context, rs *appsv1.ReplicaSet) (bool, error) {
	fresh, err := c.owners.fetch(ctx, rs.Namespace, rs.Name)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return fresh.UID == rs.UID && fresh.DeletionTimestamp == nil, nil
}

func controllerRef(kind schema.GroupVersionKind, rs *appsv1.ReplicaSet) metav1.OwnerReference {
	t := true
	return metav1.OwnerReference{
		APIVersion:         kind.GroupVersion().String(),
		Kind:               kind.Kind,
		Name:               rs.Name,
		UID:                rs.UID,
		Controller:         &t,
		BlockOwnerDeletion: &t,
	}
}

func (c *Controller) adopt(ctx context.Context, rs *appsv1.ReplicaSet, pod *corev1.Pod) error {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []metav1.OwnerReference{controllerRef(c.kind, rs)},
		"uid":             pod.UID,
	}})
	_, err := c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	return err
}

func (c *Controller) release(ctx context.Context, rs *appsv1.ReplicaSet, pod *corev1.Pod) error {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []map[string]any{{"$patch": "delete", "uid": rs.UID}},
		"uid":             pod.UID,
	}})
	_, err := c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	return err
}

// manageReplicas creates or deletes the difference between pods and
// spec.replicas, at most c.burst at a time.
func (c *Controller) manageReplicas(ctx context.Context, pods []*corev1.Pod, rs *appsv1.ReplicaSet) error {
	key := rs.Namespace + "/" + rs.Name
	diff := len(pods) - int(replicasOf(rs))
	switch {
	case diff < 0:
		diff = min(-diff, c.burst)
		c.exp.ExpectCreations(key, diff)
		ok, err := slowStartBatch(diff, 1, func() error { return c.createPod(ctx, rs) })
		// Pods never sent will never be observed.
		for i := 0; i < diff-ok; i++ {
			c.exp.CreationObserved(key)
		}
		return err
	case diff > 0:
		diff = min(diff, c.burst)
		victims := podsToDelete(pods, diff)
		keys := make([]string, len(victims))
		for i, p := range victims {
			keys[i] = podKey(p)
		}
		c.exp.ExpectDeletions(key, keys)
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			errs []error
		)
		for _, p := range victims {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{})
				if err != nil {
					c.exp.DeletionObserved(key, podKey(p))
					if apierrors.IsNotFound(err) {
						return
					}
					c.recorder.Eventf(rs, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				c.recorder.Eventf(rs, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", p.Name)
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	return nil
}

func (c *Controller) createPod(ctx context.Context, rs *appsv1.ReplicaSet) error {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    rs.Name + "-",
			Namespace:       rs.Namespace,
			Labels:          copyMap(rs.Spec.Template.Labels),
			Annotations:     copyMap(rs.Spec.Template.Annotations),
			Finalizers:      append([]string(nil), rs.Spec.Template.Finalizers...),
			OwnerReferences: []metav1.OwnerReference{controllerRef(c.kind, rs)},
		},
		Spec: *rs.Spec.Template.Spec.DeepCopy(),
	}
	created, err := c.client.CoreV1().Pods(rs.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil
		}
		c.recorder.Eventf(rs, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		return err
	}
	c.recorder.Eventf(rs, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", created.Name)
	return nil
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// slowStartBatch calls fn count times in batches of 1, 2, 4, … so that a
// template the API rejects costs one failed call, not hundreds. It stops at
// the first batch with an error and returns how many calls succeeded.
func slowStartBatch(count, initial int, fn func() error) (int, error) {
	remaining, successes := count, 0
	for batch := min(remaining, initial); batch > 0; batch = min(2*batch, remaining) {
		errCh := make(chan error, batch)
		var wg sync.WaitGroup
		for i := 0; i < batch; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := fn(); err != nil {
					errCh <- err
				}
			}()
		}
		wg.Wait()
		successes += batch - len(errCh)
		if len(errCh) > 0 {
			return successes, <-errCh
		}
		remaining -= batch
	}
	return successes, nil
}

// podsToDelete picks the n least valuable pods, in upstream's ActivePods
// order: unscheduled, then pending, then not ready, then ready for the
// shortest time, more restarts, newest.
func podsToDelete(pods []*corev1.Pod, n int) []*corev1.Pod {
	sorted := append([]*corev1.Pod(nil), pods...)
	sort.SliceStable(sorted, func(i, j int) bool { return lessValuable(sorted[i], sorted[j]) })
	if n > len(sorted) {
		n = len(sorted)
	}
	return sorted[:n]
}

var phaseRank = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

func lessValuable(a, b *corev1.Pod) bool {
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if phaseRank[a.Status.Phase] != phaseRank[b.Status.Phase] {
		return phaseRank[a.Status.Phase] < phaseRank[b.Status.Phase]
	}
	if podReady(a) != podReady(b) {
		return !podReady(a)
	}
	if podReady(a) && podReady(b) {
		ta, tb := readySince(a), readySince(b)
		if !ta.Equal(tb) {
			return tb.Before(ta)
		}
	}
	if ra, rb := restarts(a), restarts(b); ra != rb {
		return ra > rb
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		if a.CreationTimestamp.IsZero() || b.CreationTimestamp.IsZero() {
			return a.CreationTimestamp.IsZero()
		}
		return b.CreationTimestamp.Before(&a.CreationTimestamp)
	}
	return false
}

func readyCondition(pod *corev1.Pod) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodReady {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

func podReady(pod *corev1.Pod) bool {
	c := readyCondition(pod)
	return c != nil && c.Status == corev1.ConditionTrue
}

func readySince(pod *corev1.Pod) time.Time {
	if c := readyCondition(pod); c != nil {
		return c.LastTransitionTime.Time
	}
	return time.Time{}
}

func restarts(pod *corev1.Pod) int32 {
	var n int32
	for _, s := range pod.Status.ContainerStatuses {
		n = max(n, s.RestartCount)
	}
	return n
}

// podAvailable: ready for at least minReadySeconds.
func podAvailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	c := readyCondition(pod)
	if c == nil || c.Status != corev1.ConditionTrue {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	d := time.Duration(minReadySeconds) * time.Second
	return !c.LastTransitionTime.IsZero() && c.LastTransitionTime.Add(d).Before(now)
}

func (c *Controller) calculateStatus(rs *appsv1.ReplicaSet, pods []*corev1.Pod, manageErr error) appsv1.ReplicaSetStatus {
	status := *rs.Status.DeepCopy()
	templateLabels := labels.Set(rs.Spec.Template.Labels).AsSelectorPreValidated()
	var fully, ready, available int32
	now := c.clock.Now()
	for _, p := range pods {
		if templateLabels.Matches(labels.Set(p.Labels)) {
			fully++
		}
		if podReady(p) {
			ready++
			if podAvailable(p, rs.Spec.MinReadySeconds, now) {
				available++
			}
		}
	}
	idx := -1
	for i, cond := range status.Conditions {
		if cond.Type == appsv1.ReplicaSetReplicaFailure {
			idx = i
		}
	}
	switch {
	case manageErr != nil && idx < 0:
		reason := "FailedCreate"
		if len(pods) > int(replicasOf(rs)) {
			reason = "FailedDelete"
		}
		status.Conditions = append(status.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(now), Reason: reason, Message: manageErr.Error(),
		})
	case manageErr == nil && idx >= 0:
		status.Conditions = append(status.Conditions[:idx], status.Conditions[idx+1:]...)
	}
	status.Replicas = int32(len(pods))
	status.FullyLabeledReplicas = fully
	status.ReadyReplicas = ready
	status.AvailableReplicas = available
	status.ObservedGeneration = rs.Generation
	return status
}

// updateStatus writes status through /status when it changed, retrying once
// on a conflict with a fresh copy.
func (c *Controller) updateStatus(ctx context.Context, rs *appsv1.ReplicaSet, status appsv1.ReplicaSetStatus) (*appsv1.ReplicaSet, error) {
	if equality.Semantic.DeepEqual(rs.Status, status) {
		return rs, nil
	}
	cp := rs.DeepCopy()
	for attempt := 0; ; attempt++ {
		cp.Status = status
		cp.Status.ObservedGeneration = cp.Generation
		updated, err := c.owners.updateStatus(ctx, cp)
		if err == nil {
			return updated, nil
		}
		if attempt > 0 || !apierrors.IsConflict(err) {
			return nil, fmt.Errorf("updating status of %s %s/%s: %w", strings.ToLower(c.kind.Kind), rs.Namespace, rs.Name, err)
		}
		if cp, err = c.owners.fetch(ctx, rs.Namespace, rs.Name); err != nil {
			return nil, err
		}
	}
}
