package disruption

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/cache"
	pdbhelper "k8s.io/component-helpers/apps/poddisruptionbudget"

	"minik8s/pkg/controllers/reconcile"
)

// sync recomputes one budget's status. A budget whose status cannot be
// computed is written with no disruptions allowed and the reason (upstream's
// fail-safe), so evictions stop rather than trust a stale count.
func (c *Controller) sync(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return reconcile.Result{}, nil
	}
	pdb, err := c.pdbLister.PodDisruptionBudgets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	res, err := c.trySync(ctx, pdb)
	if err == nil || apierrors.IsConflict(err) {
		return res, err
	}
	return reconcile.Result{}, c.failSafe(ctx, pdb, err)
}

func (c *Controller) trySync(ctx context.Context, pdb *policyv1.PodDisruptionBudget) (reconcile.Result, error) {
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, "NoPods", "Failed to get pods: %v", err)
		return reconcile.Result{}, err
	}
	pods, err := c.podLister.Pods(pdb.Namespace).List(sel)
	if err != nil {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, "NoPods", "Failed to get pods: %v", err)
		return reconcile.Result{}, err
	}
	// The lister's order is a map's; sorted, a failure names the same
	// pod on every sync.
	slices.SortFunc(pods, func(a, b *corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	if len(pods) == 0 {
		c.recorder.Eventf(pdb, corev1.EventTypeNormal, "NoPods", "No matching pods found")
	}
	expected, desired, unmanaged, err := c.expectedPodCount(ctx, pdb, pods)
	if err != nil {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, "CalculateExpectedPodCountFailed", "Failed to calculate the number of expected pods: %v", err)
		return reconcile.Result{}, err
	}
	if len(unmanaged) > 0 {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, "UnmanagedPods", "Pods selected by this PodDisruptionBudget (selector: %v) were found "+
			"to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. "+
			"To account for these pods please set \".spec.minAvailable\" "+
			"field of the PDB to an integer value.", pdb.Spec.Selector)
	}
	now := c.clock.Now()
	disrupted, recheck := c.disruptedPods(pods, pdb, now)
	healthy := countHealthy(pods, disrupted, now)
	if err := c.updateStatus(ctx, pdb, healthy, desired, expected, disrupted); err != nil {
		return reconcile.Result{}, err
	}
	if recheck != nil {
		// A disrupted pod's entry expires then, which no event marks.
		return reconcile.After(recheck.Sub(now)), nil
	}
	return reconcile.Result{}, nil
}

// expectedPodCount is upstream's: a whole minAvailable counts the matching
// pods; a percentage or a maxUnavailable needs the scale of the pods'
// controllers.
func (c *Controller) expectedPodCount(ctx context.Context, pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod) (expected, desired int32, unmanaged []string, err error) {
	switch {
	case pdb.Spec.MaxUnavailable != nil:
		expected, unmanaged, err = c.expectedScale(ctx, pods)
		if err != nil {
			return 0, 0, nil, err
		}
		maxUnavailable, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, int(expected), true)
		if err != nil {
			return 0, 0, nil, err
		}
		desired = max(expected-int32(maxUnavailable), 0)
	case pdb.Spec.MinAvailable != nil && pdb.Spec.MinAvailable.Type == intstr.Int:
		desired = pdb.Spec.MinAvailable.IntVal
		expected = int32(len(pods))
	case pdb.Spec.MinAvailable != nil:
		expected, unmanaged, err = c.expectedScale(ctx, pods)
		if err != nil {
			return 0, 0, nil, err
		}
		minAvailable, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, int(expected), true)
		if err != nil {
			return 0, 0, nil, err
		}
		desired = int32(minAvailable)
	}
	return expected, desired, unmanaged, nil
}

// expectedScale sums the scale of the controllers of pods, each counted
// once. Pods without a controller are returned by name; a controller that
// cannot be found is an error.
func (c *Controller) expectedScale(ctx context.Context, pods []*corev1.Pod) (int32, []string, error) {
	scales := map[types.UID]int32{}
	var unmanaged []string
	for _, pod := range pods {
		ref := metav1.GetControllerOf(pod)
		if ref == nil {
			unmanaged = append(unmanaged, pod.Name)
			continue
		}
		if _, ok := scales[ref.UID]; ok {
			continue
		}
		found := false
		for _, find := range []finder{c.replicationController, c.deployment, c.replicaSet, c.statefulSet, c.scaleController} {
			uid, n, ok, err := find(ctx, ref, pod.Namespace)
			if err != nil {
				return 0, nil, err
			}
			if ok {
				scales[uid] = n
				found = true
				break
			}
		}
		if !found {
			return 0, nil, fmt.Errorf("found no controllers for pod %q", pod.Name)
		}
	}
	var sum int32
	for _, n := range scales {
		sum += n
	}
	return sum, unmanaged, nil
}

// A finder reports the UID and replicas of the controller ref names, if
// it is of the finder's kind and exists with that UID.
type finder func(ctx context.Context, ref *metav1.OwnerReference, ns string) (types.UID, int32, bool, error)

// isKind reports whether ref is kind in one of groups.
func isKind(ref *metav1.OwnerReference, kind string, groups ...string) (bool, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return false, err
	}
	if ref.Kind != kind {
		return false, nil
	}
	for _, g := range groups {
		if g == gv.Group {
			return true, nil
		}
	}
	return false, nil
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

func (c *Controller) replicationController(_ context.Context, ref *metav1.OwnerReference, ns string) (types.UID, int32, bool, error) {
	if ok, err := isKind(ref, "ReplicationController", ""); !ok || err != nil {
		return "", 0, false, err
	}
	rc, err := c.rcLister.ReplicationControllers(ns).Get(ref.Name)
	if err != nil || rc.UID != ref.UID {
		return "", 0, false, nil
	}
	return rc.UID, replicas(rc.Spec.Replicas), true, nil
}

// deployment finds the Deployment of a pod's ReplicaSet: a Deployment's
// pods count at the Deployment's scale, not their ReplicaSet's.
func (c *Controller) deployment(_ context.Context, ref *metav1.OwnerReference, ns string) (types.UID, int32, bool, error) {
	if ok, err := isKind(ref, "ReplicaSet", "apps", "extensions"); !ok || err != nil {
		return "", 0, false, err
	}
	rs, err := c.rsLister.ReplicaSets(ns).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return "", 0, false, nil
	}
	dref := metav1.GetControllerOf(rs)
	if dref == nil {
		return "", 0, false, nil
	}
	if ok, err := isKind(dref, "Deployment", "apps", "extensions"); !ok || err != nil {
		return "", 0, false, err
	}
	d, err := c.dLister.Deployments(ns).Get(dref.Name)
	if err != nil || d.UID != dref.UID {
		return "", 0, false, nil
	}
	return d.UID, replicas(d.Spec.Replicas), true, nil
}

func (c *Controller) replicaSet(_ context.Context, ref *metav1.OwnerReference, ns string) (types.UID, int32, bool, error) {
	if ok, err := isKind(ref, "ReplicaSet", "apps", "extensions"); !ok || err != nil {
		return "", 0, false, err
	}
	rs, err := c.rsLister.ReplicaSets(ns).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return "", 0, false, nil
	}
	if dref := metav1.GetControllerOf(rs); dref != nil && dref.Kind == "Deployment" {
		return "", 0, false, nil
	}
	return rs.UID, replicas(rs.Spec.Replicas), true, nil
}

func (c *Controller) statefulSet(_ context.Context, ref *metav1.OwnerReference, ns string) (types.UID, int32, bool, error) {
	if ok, err := isKind(ref, "StatefulSet", "apps"); !ok || err != nil {
		return "", 0, false, err
	}
	ss, err := c.ssLister.StatefulSets(ns).Get(ref.Name)
	if err != nil || ss.UID != ref.UID {
		return "", 0, false, nil
	}
	return ss.UID, replicas(ss.Spec.Replicas), true, nil
}

// scaleController reads any other controller's scale subresource.
func (c *Controller) scaleController(ctx context.Context, ref *metav1.OwnerReference, ns string) (types.UID, int32, bool, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return "", 0, false, err
	}
	mapping, err := c.mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: ref.Kind}, gv.Version)
	if err != nil {
		return "", 0, false, err
	}
	gr := mapping.Resource.GroupResource()
	sc, err := c.scales.Scales(ns).Get(ctx, gr, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		// Either the object is gone or its kind has no scale subresource.
		has, err := c.hasScale(mapping.Resource)
		if err != nil {
			return "", 0, false, err
		}
		if !has {
			return "", 0, false, fmt.Errorf("%s does not implement the scale subresource", gr.String())
		}
		return "", 0, false, nil
	}
	if err != nil {
		return "", 0, false, err
	}
	if sc.UID != ref.UID {
		return "", 0, false, nil
	}
	return sc.UID, sc.Spec.Replicas, true, nil
}

func (c *Controller) hasScale(gvr schema.GroupVersionResource) (bool, error) {
	list, err := c.discovery.ServerResourcesForGroupVersion(gvr.GroupVersion().String())
	if err != nil {
		return false, err
	}
	for _, r := range list.APIResources {
		if r.Name == gvr.Resource+"/scale" && r.Kind == "Scale" {
			return true, nil
		}
	}
	return false, nil
}

// disruptedPods keeps the evictions of status.disruptedPods whose pods still
// exist, are not deleting yet and were evicted less than DeletionTimeout
// ago; it returns when the first of them expires.
func (c *Controller) disruptedPods(pods []*corev1.Pod, pdb *policyv1.PodDisruptionBudget, now time.Time) (map[string]metav1.Time, *time.Time) {
	out := map[string]metav1.Time{}
	var recheck *time.Time
	if pdb.Status.DisruptedPods == nil {
		return out, nil
	}
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		at, ok := pdb.Status.DisruptedPods[pod.Name]
		if !ok {
			continue
		}
		expires := at.Add(DeletionTimeout)
		if expires.Before(now) {
			c.recorder.Eventf(pod, corev1.EventTypeWarning, "NotDeleted", "Pod was expected by PDB %s/%s to be deleted but it wasn't", pdb.Namespace, pdb.Name)
			continue
		}
		if recheck == nil || expires.Before(*recheck) {
			recheck = &expires
		}
		out[pod.Name] = at
	}
	return out, recheck
}

// countHealthy counts the ready pods that are neither deleting nor about
// to be deleted by a recent eviction.
func countHealthy(pods []*corev1.Pod, disrupted map[string]metav1.Time, now time.Time) int32 {
	var n int32
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		if at, ok := disrupted[pod.Name]; ok && at.Add(DeletionTimeout).After(now) {
			continue
		}
		if podReady(pod) {
			n++
		}
	}
	return n
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (c *Controller) updateStatus(ctx context.Context, pdb *policyv1.PodDisruptionBudget, healthy, desired, expected int32, disrupted map[string]metav1.Time) error {
	// A budget that matches no pods allows nothing, so that its first pods
	// are safe before the next sync.
	allowed := healthy - desired
	if expected <= 0 || allowed <= 0 {
		allowed = 0
	}
	s := pdb.Status
	if s.CurrentHealthy == healthy && s.DesiredHealthy == desired && s.ExpectedPods == expected &&
		s.DisruptionsAllowed == allowed && equality.Semantic.DeepEqual(s.DisruptedPods, disrupted) &&
		s.ObservedGeneration == pdb.Generation && pdbhelper.ConditionsAreUpToDate(pdb) {
		return nil
	}
	cp := pdb.DeepCopy()
	cp.Status = policyv1.PodDisruptionBudgetStatus{
		CurrentHealthy:     healthy,
		DesiredHealthy:     desired,
		ExpectedPods:       expected,
		DisruptionsAllowed: allowed,
		DisruptedPods:      disrupted,
		ObservedGeneration: pdb.Generation,
		Conditions:         cp.Status.Conditions,
	}
	pdbhelper.UpdateDisruptionAllowedCondition(cp)
	return c.writeStatus(ctx, cp)
}

// failSafe writes zero disruptions allowed and the SyncFailed condition.
func (c *Controller) failSafe(ctx context.Context, pdb *policyv1.PodDisruptionBudget, cause error) error {
	cp := pdb.DeepCopy()
	cp.Status.DisruptionsAllowed = 0
	if cp.Status.Conditions == nil {
		cp.Status.Conditions = []metav1.Condition{}
	}
	apimeta.SetStatusCondition(&cp.Status.Conditions, metav1.Condition{
		Type:               policyv1.DisruptionAllowedCondition,
		Status:             metav1.ConditionFalse,
		Reason:             policyv1.SyncFailedReason,
		Message:            cause.Error(),
		ObservedGeneration: cp.Status.ObservedGeneration,
	})
	return c.writeStatus(ctx, cp)
}

func (c *Controller) writeStatus(ctx context.Context, pdb *policyv1.PodDisruptionBudget) error {
	if _, err := c.client.PolicyV1().PodDisruptionBudgets(pdb.Namespace).UpdateStatus(ctx, pdb, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating status of poddisruptionbudget %s/%s: %w", pdb.Namespace, pdb.Name, err)
	}
	return nil
}

// staleDisruptionCondition reports whether pod carries a DisruptionTarget
// condition from an eviction that no deletion followed, and how long until
// it is StalePodDisruptionTimeout old. The kubelet's own condition and
// finished pods' are never stale.
func (c *Controller) staleDisruptionCondition(pod *corev1.Pod) (bool, time.Duration) {
	if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false, 0
	}
	for _, cond := range pod.Status.Conditions {
		if cond.Type != corev1.DisruptionTarget {
			continue
		}
		if cond.Status != corev1.ConditionTrue || cond.Reason == corev1.PodReasonTerminationByKubelet {
			return false, 0
		}
		return true, max(StalePodDisruptionTimeout-c.clock.Since(cond.LastTransitionTime.Time), 0)
	}
	return false, 0
}

// syncStalePod resets a stale DisruptionTarget condition to False.
func (c *Controller) syncStalePod(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return reconcile.Result{}, nil
	}
	pod, err := c.podLister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	stale, after := c.staleDisruptionCondition(pod)
	if !stale {
		return reconcile.Result{}, nil
	}
	if after > 0 {
		return reconcile.After(after), nil
	}
	cp := pod.DeepCopy()
	for i := range cp.Status.Conditions {
		if cp.Status.Conditions[i].Type == corev1.DisruptionTarget {
			cp.Status.Conditions[i] = corev1.PodCondition{
				Type: corev1.DisruptionTarget, Status: corev1.ConditionFalse,
				LastTransitionTime: metav1.NewTime(c.clock.Now()),
			}
		}
	}
	if _, err := c.client.CoreV1().Pods(ns).UpdateStatus(ctx, cp, metav1.UpdateOptions{}); err != nil {
		return reconcile.Result{}, fmt.Errorf("resetting the DisruptionTarget condition of pod %s: %w", key, err)
	}
	return reconcile.Result{}, nil
}
