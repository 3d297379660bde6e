package deployment

import (
	"context"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"minik8s/pkg/controllers/reconcile"
)

// rolloutRolling makes one step of a rolling update: grow the new
// ReplicaSet within maxSurge, else shrink old ones within maxUnavailable.
func (c *Controller) rolloutRolling(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (reconcile.Result, error) {
	newRS, oldRSs, err := c.allReplicaSetsAndSyncRevision(ctx, d, rsList, true)
	if err != nil {
		return reconcile.Result{}, err
	}
	all := append(append([]*appsv1.ReplicaSet(nil), oldRSs...), newRS)
	scaledUp, err := c.reconcileNewReplicaSet(ctx, all, newRS, d)
	if err != nil {
		return reconcile.Result{}, err
	}
	if scaledUp {
		return c.syncRolloutStatus(ctx, all, newRS, d)
	}
	scaledDown, err := c.reconcileOldReplicaSets(ctx, all, activeReplicaSets(oldRSs), newRS, d)
	if err != nil {
		return reconcile.Result{}, err
	}
	if scaledDown {
		return c.syncRolloutStatus(ctx, all, newRS, d)
	}
	if deploymentComplete(d, &d.Status) {
		if err := c.cleanup(ctx, d, oldRSs); err != nil {
			return reconcile.Result{}, err
		}
	}
	return c.syncRolloutStatus(ctx, all, newRS, d)
}

func (c *Controller) reconcileNewReplicaSet(ctx context.Context, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) (bool, error) {
	switch cur := replicas(newRS.Spec.Replicas); {
	case cur == dReplicas(d):
		return false, nil
	case cur > dReplicas(d):
		scaled, _, err := c.scaleReplicaSetAndRecordEvent(ctx, newRS, dReplicas(d), d)
		return scaled, err
	}
	scaled, _, err := c.scaleReplicaSetAndRecordEvent(ctx, newRS, newRSReplicas(d, all, newRS), d)
	return scaled, err
}

func (c *Controller) reconcileOldReplicaSets(ctx context.Context, all, oldRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) (bool, error) {
	if sumSpec(oldRSs) == 0 {
		return false, nil
	}
	minAvailable := dReplicas(d) - MaxUnavailable(d)
	newUnavailable := replicas(newRS.Spec.Replicas) - newRS.Status.AvailableReplicas
	maxScaledDown := sumSpec(all) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false, nil
	}
	// Unhealthy old replicas go first: removing them costs no availability.
	oldRSs, cleaned, err := c.cleanupUnhealthyReplicas(ctx, oldRSs, d, maxScaledDown)
	if err != nil {
		return false, err
	}
	all = append(append([]*appsv1.ReplicaSet(nil), oldRSs...), newRS)
	scaled, err := c.scaleDownOldForRollingUpdate(ctx, all, oldRSs, d)
	if err != nil {
		return false, err
	}
	return cleaned+scaled > 0, nil
}

func (c *Controller) cleanupUnhealthyReplicas(ctx context.Context, oldRSs []*appsv1.ReplicaSet, d *appsv1.Deployment, maxCleanup int32) ([]*appsv1.ReplicaSet, int32, error) {
	sorted := append([]*appsv1.ReplicaSet(nil), oldRSs...)
	sort.SliceStable(sorted, byCreation(sorted))
	var total int32
	for i, rs := range sorted {
		if total >= maxCleanup {
			break
		}
		spec := replicas(rs.Spec.Replicas)
		if spec == 0 || spec == rs.Status.AvailableReplicas {
			continue
		}
		down := min(maxCleanup-total, spec-rs.Status.AvailableReplicas)
		_, updated, err := c.scaleReplicaSetAndRecordEvent(ctx, rs, spec-down, d)
		if err != nil {
			return nil, 0, err
		}
		sorted[i] = updated
		total += down
	}
	return sorted, total, nil
}

func (c *Controller) scaleDownOldForRollingUpdate(ctx context.Context, all, oldRSs []*appsv1.ReplicaSet, d *appsv1.Deployment) (int32, error) {
	minAvailable := dReplicas(d) - MaxUnavailable(d)
	available := sumStatus(all, statusAvailable)
	if available <= minAvailable {
		return 0, nil
	}
	sorted := append([]*appsv1.ReplicaSet(nil), oldRSs...)
	sort.SliceStable(sorted, byCreation(sorted))
	want := available - minAvailable
	var total int32
	for _, rs := range sorted {
		if total >= want {
			break
		}
		spec := replicas(rs.Spec.Replicas)
		if spec == 0 {
			continue
		}
		down := min(spec, want-total)
		if _, _, err := c.scaleReplicaSetAndRecordEvent(ctx, rs, spec-down, d); err != nil {
			return total, err
		}
		total += down
	}
	return total, nil
}

// rolloutRecreate: all old pods gone first, then the new ReplicaSet.
func (c *Controller) rolloutRecreate(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (reconcile.Result, error) {
	newRS, oldRSs, err := c.allReplicaSetsAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return reconcile.Result{}, err
	}
	all := append(append([]*appsv1.ReplicaSet(nil), oldRSs...), newRS)
	scaledDown := false
	for _, rs := range activeReplicaSets(oldRSs) {
		scaled, _, err := c.scaleReplicaSetAndRecordEvent(ctx, rs, 0, d)
		if err != nil {
			return reconcile.Result{}, err
		}
		scaledDown = scaledDown || scaled
	}
	if scaledDown {
		return c.syncRolloutStatus(ctx, all, newRS, d)
	}
	running, err := c.oldPodsRunning(newRS, oldRSs)
	if err != nil {
		return reconcile.Result{}, err
	}
	if running {
		return c.syncRolloutStatus(ctx, all, newRS, d)
	}
	if newRS == nil {
		if newRS, oldRSs, err = c.allReplicaSetsAndSyncRevision(ctx, d, rsList, true); err != nil {
			return reconcile.Result{}, err
		}
		all = append(append([]*appsv1.ReplicaSet(nil), oldRSs...), newRS)
	}
	if _, _, err := c.scaleReplicaSetAndRecordEvent(ctx, newRS, dReplicas(d), d); err != nil {
		return reconcile.Result{}, err
	}
	if deploymentComplete(d, &d.Status) {
		if err := c.cleanup(ctx, d, oldRSs); err != nil {
			return reconcile.Result{}, err
		}
	}
	return c.syncRolloutStatus(ctx, all, newRS, d)
}

// oldPodsRunning: any pod of an old ReplicaSet not yet finished or gone.
func (c *Controller) oldPodsRunning(newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) (bool, error) {
	if sumStatus(oldRSs, statusReplicas) > 0 {
		return true, nil
	}
	old := map[string]bool{}
	for _, rs := range oldRSs {
		if newRS == nil || rs.UID != newRS.UID {
			old[string(rs.UID)] = true
		}
	}
	if len(old) == 0 {
		return false, nil
	}
	ns := oldRSs[0].Namespace
	pods, err := c.podLister.Pods(ns).List(labels.Everything())
	if err != nil {
		return false, err
	}
	for _, p := range pods {
		ref := metav1.GetControllerOf(p)
		if ref == nil || !old[string(ref.UID)] {
			continue
		}
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		return true, nil
	}
	return false, nil
}
