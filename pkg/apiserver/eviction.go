package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
)

// evictionsRetry is upstream's: how often an eviction retries a conflict.
var evictionsRetry = wait.Backoff{Steps: 20, Duration: 500 * time.Millisecond, Factor: 1.0, Jitter: 0.1}

// maxDisruptedPods is the most evictions a PDB may have pending before
// its controller confirms them (upstream's MaxDisruptedPodSize).
const maxDisruptedPods = 2000

var evictionGVK = policyv1.SchemeGroupVersion.WithKind("Eviction")

// evict is POST pods/{name}/eviction, upstream's eviction REST: a pod
// that is terminal, pending or already deleting is deleted; otherwise the
// one PodDisruptionBudget that selects it must allow a disruption, which
// is taken from its status (429 when it cannot, in upstream's words)
// before the pod is marked DisruptionTarget and deleted.
func (s *Server) evict(k *call) {
	obj, err := s.decodeRequest(k.c, evictionGVK, func() runtime.Object { return &policyv1.Eviction{} })
	if err != nil {
		writeError(k.c, err)
		return
	}
	ev := obj.(*policyv1.Eviction)
	if ev.Name != k.name {
		writeError(k.c, apierrors.NewBadRequest("name in URL does not match name in Eviction object"))
		return
	}
	if err := s.admitSubresourceCreate(k, ev); err != nil {
		writeError(k.c, err)
		return
	}
	opts := ev.DeleteOptions
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	if k.dryRun() {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	status, err := s.evictPod(k, opts)
	if err != nil {
		writeError(k.c, err)
		return
	}
	writeJSON(k.c, int(status.Code), status)
}

func (s *Server) evictPod(k *call, opts *metav1.DeleteOptions) (*metav1.Status, error) {
	success := &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated}
	ctx := k.ctx()
	var pod *corev1.Pod
	deleted := false
	shouldRetry := apierrors.IsConflict
	if !rvUnset(opts) {
		shouldRetry = func(error) bool { return false }
	}
	err := retry.OnError(evictionsRetry, shouldRetry, func() error {
		var err error
		if pod, err = s.storedPod(ctx, k); err != nil {
			return err
		}
		if !ignoresPDB(pod) {
			return nil
		}
		do := opts
		if enforcesRV(pod) && rvUnset(opts) {
			do = withRV(opts, pod.ResourceVersion)
		}
		if err := s.markAndDelete(ctx, k, do); err != nil {
			return err
		}
		deleted = true
		return nil
	})
	switch {
	case err != nil:
		return nil, err
	case deleted:
		return success, nil
	}

	pdbs, err := s.podBudgets(ctx, pod)
	if err != nil {
		return nil, err
	}
	if len(pdbs) > 1 {
		return &metav1.Status{
			TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status:   metav1.StatusFailure,
			Message:  "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
			Code:     http.StatusInternalServerError,
		}, nil
	}
	do := opts
	if len(pdbs) == 1 {
		pdb := &pdbs[0]
		unhealthyOK := false
		if !podReady(pod) {
			if p := pdb.Spec.UnhealthyPodEvictionPolicy; p != nil && *p == policyv1.AlwaysAllow {
				unhealthyOK = true
			} else if pdb.Status.CurrentHealthy >= pdb.Status.DesiredHealthy && pdb.Status.DesiredHealthy > 0 {
				unhealthyOK = true
			}
		}
		if unhealthyOK {
			// The unready pod does not count towards the budget; the delete
			// must not race it becoming ready.
			do = withRV(opts, pod.ResourceVersion)
		} else {
			refresh := false
			err := retry.RetryOnConflict(evictionsRetry, func() error {
				if refresh {
					p, err := s.loopback.policy.PodDisruptionBudgets(k.ns).Get(ctx, pdb.Name, metav1.GetOptions{})
					if err != nil {
						return err
					}
					pdb = p
				}
				refresh = true
				return s.takeDisruption(ctx, pod.Name, pdb, isDryRun(opts))
			})
			if wait.Interrupted(err) {
				err = apierrors.NewTimeoutError(fmt.Sprintf("couldn't update PodDisruptionBudget %q due to conflicts", pdb.Name), 10)
			}
			if err != nil {
				return nil, err
			}
		}
		if err := s.markAndDelete(ctx, k, do); err != nil {
			if apierrors.IsConflict(err) && unhealthyOK && rvUnset(opts) {
				return nil, budgetBusy(pdb.Name)
			}
			return nil, err
		}
		return success, nil
	}
	if err := s.markAndDelete(ctx, k, do); err != nil {
		return nil, err
	}
	return success, nil
}

// markAndDelete adds the DisruptionTarget condition to the pod, as
// upstream's eviction does, then deletes it with opts.
func (s *Server) markAndDelete(ctx context.Context, k *call, opts *metav1.DeleteOptions) error {
	if !isDryRun(opts) {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			pod, err := s.storedPod(ctx, k)
			if err != nil {
				return err
			}
			if p := opts.Preconditions; p != nil {
				if p.UID != nil && *p.UID != pod.UID {
					return apierrors.NewConflict(podsResource, k.name, fmt.Errorf("the UID in the precondition (%s) does not match the UID in record (%s). The object might have been deleted and then recreated", *p.UID, pod.UID))
				}
				if p.ResourceVersion != nil && *p.ResourceVersion != pod.ResourceVersion {
					return apierrors.NewConflict(podsResource, k.name, fmt.Errorf("the ResourceVersion in the precondition (%s) does not match the ResourceVersion in record (%s). The object might have been modified", *p.ResourceVersion, pod.ResourceVersion))
				}
			}
			for _, c := range pod.Status.Conditions {
				if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue {
					return nil
				}
			}
			pod.Status.Conditions = append(pod.Status.Conditions, corev1.PodCondition{
				Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now(),
				Reason: "EvictionByEvictionAPI", Message: "Eviction API: evicting",
			})
			updated, err := s.loopback.core.Pods(k.ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
			if err != nil {
				return err
			}
			// The delete's resourceVersion precondition was the pod before
			// the condition: it moves with the pod.
			if opts.Preconditions != nil && opts.Preconditions.ResourceVersion != nil {
				opts = withRV(opts, updated.ResourceVersion)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	_, err := s.deleteObject(k, opts)
	return err
}

// storedPod reads the pod of k from the store.
func (s *Server) storedPod(ctx context.Context, k *call) (*corev1.Pod, error) {
	pod := &corev1.Pod{}
	if err := s.store.Get(ctx, k.key(), pod); err != nil {
		return nil, storageError(k.r, k.name, err)
	}
	return pod, nil
}

// takeDisruption checks that pdb allows a disruption and records it:
// disruptionsAllowed down by one, the pod in disruptedPods.
func (s *Server) takeDisruption(ctx context.Context, podName string, pdb *policyv1.PodDisruptionBudget, dryRun bool) error {
	if pdb.Status.ObservedGeneration < pdb.Generation {
		return budgetBusy(pdb.Name)
	}
	if pdb.Status.DisruptionsAllowed < 0 {
		return budgetForbidden(pdb.Name, "pdb disruptions allowed is negative", "pdb disruptions allowed is negative")
	}
	if len(pdb.Status.DisruptedPods) > maxDisruptedPods {
		return budgetForbidden(pdb.Name, "DisruptedPods map too big - too many evictions not confirmed by PDB controller", "too many pending evictions not confirmed by PDB controller")
	}
	if pdb.Status.DisruptionsAllowed == 0 {
		err := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
		cond := apimeta.FindStatusCondition(pdb.Status.Conditions, policyv1.DisruptionAllowedCondition)
		var msg string
		switch {
		case cond != nil && cond.Status == metav1.ConditionFalse && cond.Message != "" && cond.Reason == policyv1.SyncFailedReason:
			msg = fmt.Sprintf("The disruption budget %s does not allow evicting pods currently because it failed sync: %s", pdb.Name, cond.Message)
		case pdb.Status.CurrentHealthy <= pdb.Status.DesiredHealthy:
			msg = fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently", pdb.Name, pdb.Status.DesiredHealthy, pdb.Status.CurrentHealthy)
		case cond != nil && cond.Status == metav1.ConditionFalse && cond.Message != "":
			msg = fmt.Sprintf("The disruption budget %s does not allow evicting pods currently (%s): %s", pdb.Name, cond.Reason, cond.Message)
		default:
			msg = fmt.Sprintf("The disruption budget %s does not allow evicting pods currently", pdb.Name)
		}
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{Type: policyv1.DisruptionBudgetCause, Message: msg})
		return err
	}
	pdb = pdb.DeepCopy()
	pdb.Status.DisruptionsAllowed--
	if pdb.Status.DisruptionsAllowed == 0 {
		apimeta.SetStatusCondition(&pdb.Status.Conditions, metav1.Condition{
			Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionFalse,
			Reason: policyv1.InsufficientPodsReason, ObservedGeneration: pdb.Status.ObservedGeneration,
		})
	}
	if dryRun {
		return nil
	}
	if pdb.Status.DisruptedPods == nil {
		pdb.Status.DisruptedPods = map[string]metav1.Time{}
	}
	pdb.Status.DisruptedPods[podName] = metav1.Now()
	_, err := s.loopback.policy.PodDisruptionBudgets(pdb.Namespace).UpdateStatus(ctx, pdb, metav1.UpdateOptions{})
	return err
}

// podBudgets are the PodDisruptionBudgets whose selector matches pod.
func (s *Server) podBudgets(ctx context.Context, pod *corev1.Pod) ([]policyv1.PodDisruptionBudget, error) {
	list, err := s.loopback.policy.PodDisruptionBudgets(pod.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []policyv1.PodDisruptionBudget
	for _, pdb := range list.Items {
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		out = append(out, pdb)
	}
	return out, nil
}

func budgetBusy(name string) error {
	err := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 10)
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{Type: policyv1.DisruptionBudgetCause, Message: fmt.Sprintf("The disruption budget %s is still being processed by the server.", name)})
	return err
}

func budgetForbidden(name, reason, detail string) error {
	err := apierrors.NewForbidden(policyv1.Resource("poddisruptionbudget"), name, errors.New(reason))
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
		Type:    policyv1.DisruptionBudgetCause,
		Message: fmt.Sprintf("The disruption budget %s does not allow evicting pods currently: %s", name, detail),
	})
	return err
}

// ignoresPDB: a pod that is terminal, pending or already deleting has
// disrupted nothing more by going; it is deleted without a budget.
func ignoresPDB(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed ||
		pod.Status.Phase == corev1.PodPending || pod.DeletionTimestamp != nil
}

func enforcesRV(pod *corev1.Pod) bool {
	return pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed && pod.DeletionTimestamp == nil
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func rvUnset(opts *metav1.DeleteOptions) bool {
	return opts.Preconditions == nil || opts.Preconditions.ResourceVersion == nil
}

func isDryRun(opts *metav1.DeleteOptions) bool {
	for _, d := range opts.DryRun {
		if d == metav1.DryRunAll {
			return true
		}
	}
	return false
}

// withRV is opts with a resourceVersion precondition.
func withRV(opts *metav1.DeleteOptions, rv string) *metav1.DeleteOptions {
	out := opts.DeepCopy()
	if out.Preconditions == nil {
		out.Preconditions = &metav1.Preconditions{}
	}
	out.Preconditions.ResourceVersion = &rv
	return out
}
