package api

import (
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Deployment and ReplicaSet validation after k8s.io/kubernetes
// pkg/apis/apps/validation.

var statusPath = field.NewPath("status")

func validateDeployment(d *appsv1.Deployment) field.ErrorList {
	errs := validateMeta(&d.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	return append(errs, validateDeploymentSpec(&d.Spec)...)
}

func validateDeploymentSpec(spec *appsv1.DeploymentSpec) field.ErrorList {
	errs := validateWorkload(spec.Replicas, spec.Selector, &spec.Template, spec.MinReadySeconds)
	errs = append(errs, validateDeploymentStrategy(&spec.Strategy, specPath.Child("strategy"))...)
	if spec.RevisionHistoryLimit != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*spec.RevisionHistoryLimit), specPath.Child("revisionHistoryLimit"))...)
	}
	if spec.ProgressDeadlineSeconds != nil {
		p := specPath.Child("progressDeadlineSeconds")
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*spec.ProgressDeadlineSeconds), p)...)
		if *spec.ProgressDeadlineSeconds <= spec.MinReadySeconds {
			errs = append(errs, field.Invalid(p, *spec.ProgressDeadlineSeconds, "must be greater than minReadySeconds"))
		}
	}
	return errs
}

// validateWorkload holds the rules Deployments and ReplicaSets share:
// replicas, a non-empty selector that matches the template's labels, and
// a pod template that may run forever.
func validateWorkload(replicas *int32, selector *metav1.LabelSelector, template *corev1.PodTemplateSpec, minReadySeconds int32) field.ErrorList {
	var errs field.ErrorList
	if replicas != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*replicas), specPath.Child("replicas"))...)
	}
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(minReadySeconds), specPath.Child("minReadySeconds"))...)

	selPath := specPath.Child("selector")
	if selector == nil {
		errs = append(errs, field.Required(selPath, ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(selector, metav1validation.LabelSelectorValidationOptions{}, selPath)...)
		if len(selector.MatchLabels)+len(selector.MatchExpressions) == 0 {
			errs = append(errs, field.Invalid(selPath, selector, "empty selector is invalid for deployment"))
		}
	}

	tplPath := specPath.Child("template")
	if selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(selector)
		if err != nil {
			errs = append(errs, field.Invalid(selPath, selector, "invalid label selector"))
		} else if !sel.Empty() && !sel.Matches(labels.Set(template.Labels)) {
			errs = append(errs, field.Invalid(tplPath.Child("metadata", "labels"), template.Labels, "`selector` does not match template `labels`"))
		}
	}
	errs = append(errs, validatePodTemplate(template, tplPath)...)
	if template.Spec.RestartPolicy != "" && template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(tplPath.Child("spec", "restartPolicy"), template.Spec.RestartPolicy, []string{string(corev1.RestartPolicyAlways)}))
	}
	if template.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(tplPath.Child("spec", "activeDeadlineSeconds"), "activeDeadlineSeconds in ReplicaSet is not Supported"))
	}
	return errs
}

func validateDeploymentStrategy(s *appsv1.DeploymentStrategy, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch s.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if s.RollingUpdate != nil {
			errs = append(errs, field.Forbidden(fldPath.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'"))
		}
	case appsv1.RollingUpdateDeploymentStrategyType:
		if s.RollingUpdate == nil {
			errs = append(errs, field.Required(fldPath.Child("rollingUpdate"), "this should be defaulted and never be nil"))
			break
		}
		errs = append(errs, validateRollingUpdate(s.RollingUpdate, fldPath.Child("rollingUpdate"))...)
	case "":
		errs = append(errs, field.Required(fldPath.Child("type"), ""))
	default:
		errs = append(errs, field.NotSupported(fldPath.Child("type"), s.Type,
			[]string{string(appsv1.RecreateDeploymentStrategyType), string(appsv1.RollingUpdateDeploymentStrategyType)}))
	}
	return errs
}

func validateRollingUpdate(ru *appsv1.RollingUpdateDeployment, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	unavailPath, surgePath := fldPath.Child("maxUnavailable"), fldPath.Child("maxSurge")
	errs = append(errs, validateIntOrPercent(ru.MaxUnavailable, unavailPath)...)
	errs = append(errs, validateIntOrPercent(ru.MaxSurge, surgePath)...)
	if isZeroIntOrPercent(ru.MaxUnavailable) && isZeroIntOrPercent(ru.MaxSurge) {
		errs = append(errs, field.Invalid(unavailPath, ru.MaxUnavailable.String(), "may not be 0 when `maxSurge` is 0"))
	}
	if v := ru.MaxUnavailable; v != nil && v.Type == intstr.String {
		if pct, ok := percentValue(v.StrVal); ok && pct > 100 {
			errs = append(errs, field.Invalid(unavailPath, v.StrVal, "must not be greater than 100%"))
		}
	}
	return errs
}

func validateIntOrPercent(v *intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	if v.Type == intstr.String {
		var errs field.ErrorList
		for _, msg := range validation.IsValidPercent(v.StrVal) {
			errs = append(errs, field.Invalid(fldPath, v.StrVal, msg))
		}
		return errs
	}
	return apivalidation.ValidateNonnegativeField(int64(v.IntVal), fldPath)
}

func isZeroIntOrPercent(v *intstr.IntOrString) bool {
	if v == nil {
		return false
	}
	if v.Type == intstr.String {
		pct, ok := percentValue(v.StrVal)
		return ok && pct == 0
	}
	return v.IntVal == 0
}

func percentValue(s string) (int, bool) {
	if !strings.HasSuffix(s, "%") {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSuffix(s, "%"))
	return n, err == nil
}

func validateDeploymentUpdate(d, old *appsv1.Deployment) field.ErrorList {
	errs := validateMetaUpdate(&d.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, validateDeploymentSpec(&d.Spec)...)
	return append(errs, apivalidation.ValidateImmutableField(d.Spec.Selector, old.Spec.Selector, specPath.Child("selector"))...)
}

func validateDeploymentStatusUpdate(d, old *appsv1.Deployment) field.ErrorList {
	errs := validateMetaUpdate(&d.ObjectMeta, &old.ObjectMeta)
	s := &d.Status
	errs = append(errs, nonNegative(statusPath, map[string]int64{
		"observedGeneration":  s.ObservedGeneration,
		"replicas":            int64(s.Replicas),
		"updatedReplicas":     int64(s.UpdatedReplicas),
		"readyReplicas":       int64(s.ReadyReplicas),
		"availableReplicas":   int64(s.AvailableReplicas),
		"unavailableReplicas": int64(s.UnavailableReplicas),
	})...)
	if s.CollisionCount != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*s.CollisionCount), statusPath.Child("collisionCount"))...)
	}
	if s.UpdatedReplicas > s.Replicas {
		errs = append(errs, field.Invalid(statusPath.Child("updatedReplicas"), s.UpdatedReplicas, "cannot be greater than status.replicas"))
	}
	return append(errs, validateReadyReplicas(s.Replicas, s.ReadyReplicas, s.AvailableReplicas)...)
}

// validateReadyReplicas holds the status rules Deployments and ReplicaSets
// share: no more ready than existing replicas, no more available than ready.
func validateReadyReplicas(replicas, ready, available int32) field.ErrorList {
	var errs field.ErrorList
	if ready > replicas {
		errs = append(errs, field.Invalid(statusPath.Child("readyReplicas"), ready, "cannot be greater than status.replicas"))
	}
	if available > replicas {
		errs = append(errs, field.Invalid(statusPath.Child("availableReplicas"), available, "cannot be greater than status.replicas"))
	}
	if available > ready {
		errs = append(errs, field.Invalid(statusPath.Child("availableReplicas"), available, "cannot be greater than readyReplicas"))
	}
	return errs
}

// nonNegative checks each named counter under fldPath, in name order so
// the errors come out in a stable order.
func nonNegative(fldPath *field.Path, counters map[string]int64) field.ErrorList {
	var errs field.ErrorList
	for _, name := range sortedKeys(counters) {
		errs = append(errs, apivalidation.ValidateNonnegativeField(counters[name], fldPath.Child(name))...)
	}
	return errs
}

func validateReplicaSet(rs *appsv1.ReplicaSet) field.ErrorList {
	errs := validateMeta(&rs.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	return append(errs, validateWorkload(rs.Spec.Replicas, rs.Spec.Selector, &rs.Spec.Template, rs.Spec.MinReadySeconds)...)
}

func validateReplicaSetUpdate(rs, old *appsv1.ReplicaSet) field.ErrorList {
	errs := validateMetaUpdate(&rs.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, validateWorkload(rs.Spec.Replicas, rs.Spec.Selector, &rs.Spec.Template, rs.Spec.MinReadySeconds)...)
	return append(errs, apivalidation.ValidateImmutableField(rs.Spec.Selector, old.Spec.Selector, specPath.Child("selector"))...)
}

func validateReplicaSetStatusUpdate(rs, old *appsv1.ReplicaSet) field.ErrorList {
	errs := validateMetaUpdate(&rs.ObjectMeta, &old.ObjectMeta)
	s := &rs.Status
	errs = append(errs, nonNegative(statusPath, map[string]int64{
		"observedGeneration":   s.ObservedGeneration,
		"replicas":             int64(s.Replicas),
		"fullyLabeledReplicas": int64(s.FullyLabeledReplicas),
		"readyReplicas":        int64(s.ReadyReplicas),
		"availableReplicas":    int64(s.AvailableReplicas),
	})...)
	if s.FullyLabeledReplicas > s.Replicas {
		errs = append(errs, field.Invalid(statusPath.Child("fullyLabeledReplicas"), s.FullyLabeledReplicas, "cannot be greater than status.replicas"))
	}
	return append(errs, validateReadyReplicas(s.Replicas, s.ReadyReplicas, s.AvailableReplicas)...)
}
