package deployment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"minik8s/pkg/controllers/reconcile"
)

// sync reconciles one Deployment from the cache.
func (c *Controller) sync(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return reconcile.Result{}, nil
	}
	cached, err := c.dLister.Deployments(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	d := cached.DeepCopy()
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		c.recorder.Eventf(d, corev1.EventTypeWarning, "InvalidSelector", "invalid selector: %v", err)
		return reconcile.Result{}, nil
	}
	if selector.Empty() {
		c.recorder.Eventf(d, corev1.EventTypeWarning, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.")
		if d.Status.ObservedGeneration < d.Generation {
			d.Status.ObservedGeneration = d.Generation
			_, err := c.client.AppsV1().Deployments(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{})
			return reconcile.Result{}, err
		}
		return reconcile.Result{}, nil
	}
	rsList, err := c.claimReplicaSets(ctx, d, selector)
	if err != nil {
		return reconcile.Result{}, err
	}
	if d.DeletionTimestamp != nil {
		newRS, oldRSs, err := c.allReplicaSetsAndSyncRevision(ctx, d, rsList, false)
		if err != nil {
			return reconcile.Result{}, err
		}
		return reconcile.Result{}, c.syncStatus(ctx, append(oldRSs, newRS), newRS, d)
	}
	if err := c.checkPausedConditions(ctx, d); err != nil {
		return reconcile.Result{}, err
	}
	if d.Spec.Paused {
		return reconcile.Result{}, c.syncScaleAndCleanup(ctx, d, rsList)
	}
	if c.isScalingEvent(d, rsList) {
		return reconcile.Result{}, c.syncScaleAndCleanup(ctx, d, rsList)
	}
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		return c.rolloutRecreate(ctx, d, rsList)
	}
	return c.rolloutRolling(ctx, d, rsList)
}

func ownerRef(d *appsv1.Deployment) metav1.OwnerReference {
	t := true
	return metav1.OwnerReference{
		APIVersion: controllerKind.GroupVersion().String(), Kind: controllerKind.Kind,
		Name: d.Name, UID: d.UID, Controller: &t, BlockOwnerDeletion: &t,
	}
}

// claimReplicaSets returns the ReplicaSets d owns, adopting matching orphans
// and releasing owned ones that stopped matching.
func (c *Controller) claimReplicaSets(ctx context.Context, d *appsv1.Deployment, sel labels.Selector) ([]*appsv1.ReplicaSet, error) {
	all, err := c.rsLister.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var (
		out  []*appsv1.ReplicaSet
		errs []error
	)
	rsClient := c.client.AppsV1().ReplicaSets(d.Namespace)
	// As upstream's RecheckDeletionTimestamp: the cached d may not show a
	// deletion the garbage collector already acts on (orphaning removes
	// the references this would put back), so adoption asks the API once.
	var alive *bool
	canAdopt := func() (bool, error) {
		if alive == nil {
			fresh, err := c.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return false, err
			}
			ok := err == nil && fresh.UID == d.UID && fresh.DeletionTimestamp == nil
			alive = &ok
		}
		return *alive, nil
	}
	for _, rs := range all {
		ref := metav1.GetControllerOf(rs)
		matches := sel.Matches(labels.Set(rs.Labels))
		switch {
		case ref != nil && ref.UID != d.UID:
		case ref != nil && matches:
			out = append(out, rs)
		case ref != nil:
			if d.DeletionTimestamp != nil {
				continue
			}
			patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
				"ownerReferences": []map[string]any{{"$patch": "delete", "uid": d.UID}}, "uid": rs.UID}})
			if _, err := rsClient.Patch(ctx, rs.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
		case matches && d.DeletionTimestamp == nil && rs.DeletionTimestamp == nil:
			if ok, err := canAdopt(); err != nil || !ok {
				if err != nil {
					errs = append(errs, err)
				}
				continue
			}
			patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
				"ownerReferences": []metav1.OwnerReference{ownerRef(d)}, "uid": rs.UID}})
			adopted, err := rsClient.Patch(ctx, rs.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			if err != nil {
				if !apierrors.IsNotFound(err) {
					errs = append(errs, err)
				}
				continue
			}
			out = append(out, adopted)
		}
	}
	return out, errors.Join(errs...)
}

// findNewReplicaSet is the oldest ReplicaSet whose template is the
// Deployment's.
func findNewReplicaSet(d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	sorted := append([]*appsv1.ReplicaSet(nil), rsList...)
	sort.SliceStable(sorted, byCreation(sorted))
	for _, rs := range sorted {
		if equalIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			return rs
		}
	}
	return nil
}

// allReplicaSetsAndSyncRevision splits rsList into the new ReplicaSet (made
// when createIfMissing) and the old ones, keeping the new one's revision
// above every old one's.
func (c *Controller) allReplicaSetsAndSyncRevision(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet, createIfMissing bool) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet, error) {
	existing := findNewReplicaSet(d, rsList)
	var oldRSs []*appsv1.ReplicaSet
	for _, rs := range rsList {
		if existing == nil || rs.UID != existing.UID {
			oldRSs = append(oldRSs, rs)
		}
	}
	newRS, err := c.newReplicaSet(ctx, d, existing, oldRSs, createIfMissing)
	if err != nil {
		return nil, nil, err
	}
	return newRS, oldRSs, nil
}

func (c *Controller) newReplicaSet(ctx context.Context, d *appsv1.Deployment, existing *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, error) {
	newRevision := strconv.FormatInt(maxRevision(oldRSs)+1, 10)
	rsClient := c.client.AppsV1().ReplicaSets(d.Namespace)
	if existing != nil {
		rs := existing.DeepCopy()
		annotationsChanged := setNewReplicaSetAnnotations(d, rs, newRevision, true)
		minReadyChanged := rs.Spec.MinReadySeconds != d.Spec.MinReadySeconds
		if annotationsChanged || minReadyChanged {
			rs.Spec.MinReadySeconds = d.Spec.MinReadySeconds
			updated, err := rsClient.Update(ctx, rs, metav1.UpdateOptions{})
			if err != nil {
				return nil, err
			}
			rs = updated
		}
		if err := c.syncDeploymentRevision(ctx, d, rs.Annotations[RevisionAnnotation]); err != nil {
			return nil, err
		}
		if hasProgressDeadline(d) && getCondition(d.Status, appsv1.DeploymentProgressing) == nil {
			setCondition(&d.Status, c.newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, FoundNewRSReason,
				fmt.Sprintf("Found new replica set %q", rs.Name)))
			updated, err := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
			if err != nil {
				return nil, err
			}
			*d = *updated
		}
		return rs, nil
	}
	if !create {
		return nil, nil
	}
	hash := ComputeHash(&d.Spec.Template, d.Status.CollisionCount)
	template := *d.Spec.Template.DeepCopy()
	if template.Labels == nil {
		template.Labels = map[string]string{}
	}
	template.Labels[PodTemplateHashLabel] = hash
	selector := d.Spec.Selector.DeepCopy()
	if selector.MatchLabels == nil {
		selector.MatchLabels = map[string]string{}
	}
	selector.MatchLabels[PodTemplateHashLabel] = hash
	rsLabels := map[string]string{}
	for k, v := range d.Spec.Template.Labels {
		rsLabels[k] = v
	}
	rsLabels[PodTemplateHashLabel] = hash
	zero := int32(0)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            d.Name + "-" + hash,
			Namespace:       d.Namespace,
			OwnerReferences: []metav1.OwnerReference{ownerRef(d)},
			Labels:          rsLabels,
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        &zero,
			MinReadySeconds: d.Spec.MinReadySeconds,
			Selector:        selector,
			Template:        template,
		},
	}
	all := append(append([]*appsv1.ReplicaSet(nil), oldRSs...), rs)
	n := newRSReplicas(d, all, rs)
	rs.Spec.Replicas = &n
	setNewReplicaSetAnnotations(d, rs, newRevision, false)
	created, err := rsClient.Create(ctx, rs, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		found, getErr := c.rsLister.ReplicaSets(d.Namespace).Get(rs.Name)
		if getErr != nil {
			if found, getErr = rsClient.Get(ctx, rs.Name, metav1.GetOptions{}); getErr != nil {
				return nil, getErr
			}
		}
		ctrl := metav1.GetControllerOf(found)
		if ctrl != nil && ctrl.UID == d.UID && equalIgnoreHash(&d.Spec.Template, &found.Spec.Template) {
			// Ours, made by an earlier sync the cache has not shown yet.
			return found, nil
		}
		// A hash collision: bump collisionCount so the next hash differs.
		if d.Status.CollisionCount == nil {
			d.Status.CollisionCount = new(int32)
		}
		*d.Status.CollisionCount++
		if _, uerr := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{}); uerr != nil {
			return nil, uerr
		}
		return nil, fmt.Errorf("replicaset %s exists with another template: hash collision, retrying", rs.Name)
	case err != nil:
		msg := fmt.Sprintf("Failed to create new replica set %q: %v", rs.Name, err)
		c.recorder.Event(d, corev1.EventTypeWarning, FailedRSCreateReason, msg)
		if hasProgressDeadline(d) {
			setCondition(&d.Status, c.newCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse, FailedRSCreateReason, msg))
			_, _ = c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
		}
		return nil, err
	}
	if n > 0 {
		c.recorder.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled up replica set %s to %d", created.Name, n)
	}
	if err := c.syncDeploymentRevision(ctx, d, newRevision); err != nil {
		return nil, err
	}
	if hasProgressDeadline(d) {
		setCondition(&d.Status, c.newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, NewReplicaSetReason,
			fmt.Sprintf("Created new replica set %q", created.Name)))
		updated, err := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
		if err != nil {
			return nil, err
		}
		*d = *updated
	}
	return created, nil
}

// syncDeploymentRevision copies the new ReplicaSet's revision onto the
// Deployment's own annotation, as kubectl shows it.
func (c *Controller) syncDeploymentRevision(ctx context.Context, d *appsv1.Deployment, revision string) error {
	if revision == "" || d.Annotations[RevisionAnnotation] == revision {
		return nil
	}
	cp := d.DeepCopy()
	if cp.Annotations == nil {
		cp.Annotations = map[string]string{}
	}
	cp.Annotations[RevisionAnnotation] = revision
	updated, err := c.client.AppsV1().Deployments(d.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	// Keep the in-memory status we are building; take the new metadata.
	status := d.Status
	*d = *updated
	d.Status = status
	return nil
}

// isScalingEvent: some active ReplicaSet was sized for another replica count.
func (c *Controller) isScalingEvent(d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) bool {
	for _, rs := range activeReplicaSets(rsList) {
		desired, ok := intAnnotation(rs, DesiredReplicasAnnotation)
		if ok && desired != dReplicas(d) {
			return true
		}
	}
	return false
}

// syncScaleAndCleanup is the paused / resized path: resize without rolling.
func (c *Controller) syncScaleAndCleanup(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, oldRSs, err := c.allReplicaSetsAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	if err := c.scale(ctx, d, newRS, oldRSs); err != nil {
		return err
	}
	if d.Spec.Paused {
		if err := c.cleanup(ctx, d, oldRSs); err != nil {
			return err
		}
	}
	return c.syncStatus(ctx, append(oldRSs, newRS), newRS, d)
}

// scale resizes ReplicaSets for a changed spec.replicas: all of it to the
// one active ReplicaSet, or proportionally across several mid-rollout.
func (c *Controller) scale(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) error {
	if rs := findActiveOrLatest(newRS, oldRSs); rs != nil {
		if replicas(rs.Spec.Replicas) == dReplicas(d) {
			return nil
		}
		_, _, err := c.scaleReplicaSetAndRecordEvent(ctx, rs, dReplicas(d), d)
		return err
	}
	if isSaturated(d, newRS) {
		for _, old := range activeReplicaSets(oldRSs) {
			if _, _, err := c.scaleReplicaSetAndRecordEvent(ctx, old, 0, d); err != nil {
				return err
			}
		}
		return nil
	}
	if !isRollingUpdate(d) {
		return nil
	}
	all := activeReplicaSets(append(append([]*appsv1.ReplicaSet(nil), oldRSs...), newRS))
	allowed := int32(0)
	if dReplicas(d) > 0 {
		allowed = dReplicas(d) + MaxSurge(d)
	}
	toAdd := allowed - sumSpec(all)
	op := ""
	switch {
	case toAdd > 0:
		sortBySizeNewer(all)
		op = "up"
	case toAdd < 0:
		sortBySizeOlder(all)
		op = "down"
	}
	sizes := make(map[string]int32, len(all))
	added := int32(0)
	for _, rs := range all {
		if toAdd != 0 {
			p := proportion(rs, d, toAdd, added)
			sizes[rs.Name] = replicas(rs.Spec.Replicas) + p
			added += p
		} else {
			sizes[rs.Name] = replicas(rs.Spec.Replicas)
		}
	}
	for i, rs := range all {
		if i == 0 && toAdd != 0 {
			sizes[rs.Name] = max(sizes[rs.Name]+toAdd-added, 0)
		}
		if _, _, err := c.scaleReplicaSet(ctx, rs, sizes[rs.Name], d, op); err != nil {
			return err
		}
	}
	return nil
}

func (c *Controller) scaleReplicaSetAndRecordEvent(ctx context.Context, rs *appsv1.ReplicaSet, n int32, d *appsv1.Deployment) (bool, *appsv1.ReplicaSet, error) {
	if replicas(rs.Spec.Replicas) == n {
		return false, rs, nil
	}
	op := "down"
	if replicas(rs.Spec.Replicas) < n {
		op = "up"
	}
	return c.scaleReplicaSet(ctx, rs, n, d, op)
}

func (c *Controller) scaleReplicaSet(ctx context.Context, rs *appsv1.ReplicaSet, n int32, d *appsv1.Deployment, op string) (bool, *appsv1.ReplicaSet, error) {
	sizeChanged := replicas(rs.Spec.Replicas) != n
	desired, maxR := dReplicas(d), dReplicas(d)+MaxSurge(d)
	if !sizeChanged && !replicasAnnotationsNeedUpdate(rs, desired, maxR) {
		return false, rs, nil
	}
	cp := rs.DeepCopy()
	cp.Spec.Replicas = &n
	setReplicasAnnotations(cp, desired, maxR)
	updated, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return false, nil, err
	}
	if sizeChanged {
		c.recorder.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled %s replica set %s to %d", op, rs.Name, n)
	}
	return sizeChanged, updated, nil
}

// cleanup deletes the oldest scaled-down ReplicaSets beyond
// revisionHistoryLimit.
func (c *Controller) cleanup(ctx context.Context, d *appsv1.Deployment, oldRSs []*appsv1.ReplicaSet) error {
	if d.Spec.RevisionHistoryLimit == nil {
		return nil
	}
	var alive []*appsv1.ReplicaSet
	for _, rs := range oldRSs {
		if rs != nil && rs.DeletionTimestamp == nil {
			alive = append(alive, rs)
		}
	}
	diff := len(alive) - int(*d.Spec.RevisionHistoryLimit)
	if diff <= 0 {
		return nil
	}
	sort.SliceStable(alive, func(i, j int) bool {
		ri, rj := Revision(alive[i]), Revision(alive[j])
		if ri == rj {
			return byCreation(alive)(i, j)
		}
		return ri < rj
	})
	for _, rs := range alive[:diff] {
		if rs.Status.Replicas != 0 || replicas(rs.Spec.Replicas) != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue
		}
		err := c.client.AppsV1().ReplicaSets(rs.Namespace).Delete(ctx, rs.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &rs.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// checkPausedConditions keeps the Progressing condition honest about pause:
// a paused Deployment never times out.
func (c *Controller) checkPausedConditions(ctx context.Context, d *appsv1.Deployment) error {
	if !hasProgressDeadline(d) {
		return nil
	}
	cond := getCondition(d.Status, appsv1.DeploymentProgressing)
	if cond != nil && cond.Reason == TimedOutReason {
		return nil
	}
	pausedCond := cond != nil && cond.Reason == PausedDeployReason
	changed := false
	switch {
	case d.Spec.Paused && !pausedCond:
		setCondition(&d.Status, c.newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, PausedDeployReason, "Deployment is paused"))
		changed = true
	case !d.Spec.Paused && pausedCond:
		setCondition(&d.Status, c.newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, ResumedDeployReason, "Deployment is resumed"))
		changed = true
	}
	if !changed {
		return nil
	}
	updated, err := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	*d = *updated
	return nil
}
