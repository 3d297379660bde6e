package api

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Validation of the core/v1 kinds other than pods and services:
// namespaces, nodes, endpoints and events.

// standardFinalizers are the finalizer names Kubernetes accepts without a
// domain prefix.
var standardFinalizers = sets.New(string(corev1.FinalizerKubernetes), metav1.FinalizerOrphanDependents, metav1.FinalizerDeleteDependents)

func validateNamespace(ns *corev1.Namespace) field.ErrorList {
	errs := validateMeta(&ns.ObjectMeta, false, apivalidation.ValidateNamespaceName)
	return append(errs, validateNamespaceFinalizers(ns.Spec.Finalizers)...)
}

func validateNamespaceFinalizers(finalizers []corev1.FinalizerName) field.ErrorList {
	var errs field.ErrorList
	p := specPath.Child("finalizers")
	for i, f := range finalizers {
		errs = append(errs, validateFinalizerName(string(f), p.Index(i))...)
	}
	return errs
}

func validateFinalizerName(name string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsQualifiedName(name) {
		errs = append(errs, field.Invalid(fldPath, name, msg))
	}
	if len(errs) == 0 && !strings.Contains(name, "/") && !standardFinalizers.Has(name) {
		errs = append(errs, field.Invalid(fldPath, name, "name is neither a standard finalizer name nor is it fully qualified"))
	}
	return errs
}

func validateNamespaceUpdate(ns, old *corev1.Namespace) field.ErrorList {
	return validateMetaUpdate(&ns.ObjectMeta, &old.ObjectMeta)
}

func validateNamespaceStatusUpdate(ns, old *corev1.Namespace) field.ErrorList {
	errs := validateMetaUpdate(&ns.ObjectMeta, &old.ObjectMeta)
	p := field.NewPath("status", "phase")
	if ns.DeletionTimestamp.IsZero() {
		if ns.Status.Phase != corev1.NamespaceActive {
			errs = append(errs, field.Invalid(p, ns.Status.Phase, "may only be 'Active' if `deletionTimestamp` is empty"))
		}
	} else if ns.Status.Phase != corev1.NamespaceTerminating {
		errs = append(errs, field.Invalid(p, ns.Status.Phase, "may only be 'Terminating' if `deletionTimestamp` is not empty"))
	}
	return errs
}

// PrepareNamespaceFinalize is the strategy of namespaces/{name}/finalize:
// from the request only spec.finalizers is taken, everything else stays
// as stored in old.
func PrepareNamespaceFinalize(ns, old *corev1.Namespace) {
	finalizers := ns.Spec.Finalizers
	rv := ns.ResourceVersion
	*ns = *old.DeepCopy()
	ns.Spec.Finalizers = finalizers
	ns.ResourceVersion = rv
}

// ValidateNamespaceFinalize validates a write to namespaces/{name}/finalize.
func ValidateNamespaceFinalize(ns, old *corev1.Namespace) field.ErrorList {
	errs := validateMetaUpdate(&ns.ObjectMeta, &old.ObjectMeta)
	return append(errs, validateNamespaceFinalizers(ns.Spec.Finalizers)...)
}

func validateNode(node *corev1.Node) field.ErrorList {
	errs := validateMeta(&node.ObjectMeta, false, apivalidation.NameIsDNSSubdomain)
	return append(errs, validateNodeSpecStatus(node)...)
}

func validateNodeSpecStatus(node *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	if node.Spec.PodCIDR != "" {
		errs = append(errs, validation.IsValidCIDR(specPath.Child("podCIDR"), node.Spec.PodCIDR)...)
	}
	for i, cidr := range node.Spec.PodCIDRs {
		errs = append(errs, validation.IsValidCIDR(specPath.Child("podCIDRs").Index(i), cidr)...)
	}
	if len(node.Spec.PodCIDRs) > 0 && node.Spec.PodCIDR != node.Spec.PodCIDRs[0] {
		errs = append(errs, field.Invalid(specPath.Child("podCIDRs").Index(0), node.Spec.PodCIDRs[0], "must match `podCIDR`"))
	}
	if len(node.Spec.PodCIDRs) > 2 {
		errs = append(errs, field.Invalid(specPath.Child("podCIDRs"), node.Spec.PodCIDRs, "may specify no more than one CIDR for each IP family"))
	}
	errs = append(errs, validateTaints(node.Spec.Taints, specPath.Child("taints"))...)
	for name, q := range node.Status.Capacity {
		errs = append(errs, validateResourceQuantity(name, q, statusPath.Child("capacity").Key(string(name)))...)
	}
	for name, q := range node.Status.Allocatable {
		errs = append(errs, validateResourceQuantity(name, q, statusPath.Child("allocatable").Key(string(name)))...)
	}
	return errs
}

func validateTaints(taints []corev1.Taint, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	type keyEffect struct{ key, effect string }
	seen := map[keyEffect]bool{}
	for i, t := range taints {
		p := fldPath.Index(i)
		errs = append(errs, metav1validation.ValidateLabelName(t.Key, p.Child("key"))...)
		if t.Value != "" {
			for _, msg := range validation.IsValidLabelValue(t.Value) {
				errs = append(errs, field.Invalid(p.Child("value"), t.Value, msg))
			}
		}
		switch {
		case t.Effect == "":
			errs = append(errs, field.Required(p.Child("effect"), ""))
		case !supportedTaintEffects.Has(string(t.Effect)):
			errs = append(errs, field.NotSupported(p.Child("effect"), t.Effect, sets.List(supportedTaintEffects)))
		}
		k := keyEffect{t.Key, string(t.Effect)}
		if seen[k] {
			errs = append(errs, field.Duplicate(p, fmt.Sprintf("taints must be unique by key and effect pair, %s:%s", t.Key, t.Effect)))
		}
		seen[k] = true
	}
	return errs
}

func validateNodeUpdate(node, old *corev1.Node) field.ErrorList {
	errs := validateMetaUpdate(&node.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, validateNodeSpecStatus(node)...)
	if len(old.Spec.PodCIDRs) > 0 && !sets.New(old.Spec.PodCIDRs...).Equal(sets.New(node.Spec.PodCIDRs...)) {
		errs = append(errs, field.Forbidden(specPath.Child("podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
	}
	if old.Spec.ProviderID != "" && node.Spec.ProviderID != old.Spec.ProviderID {
		errs = append(errs, field.Forbidden(specPath.Child("providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	return errs
}

func validateEndpoints(ep *corev1.Endpoints) field.ErrorList {
	errs := validateMeta(&ep.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	return append(errs, validateEndpointSubsets(ep.Subsets)...)
}

func validateEndpointSubsets(subsets []corev1.EndpointSubset) field.ErrorList {
	var errs field.ErrorList
	path := field.NewPath("subsets")
	for i, ss := range subsets {
		p := path.Index(i)
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			errs = append(errs, field.Required(p, "must specify `addresses` or `notReadyAddresses`"))
		}
		for j, a := range ss.Addresses {
			errs = append(errs, validateEndpointAddress(&a, p.Child("addresses").Index(j))...)
		}
		for j, a := range ss.NotReadyAddresses {
			errs = append(errs, validateEndpointAddress(&a, p.Child("notReadyAddresses").Index(j))...)
		}
		names := sets.New[string]()
		for j, port := range ss.Ports {
			errs = append(errs, validatePort(port.Name, port.Port, port.Protocol, len(ss.Ports) > 1, names, p.Child("ports").Index(j))...)
		}
	}
	return errs
}

func validateEndpointAddress(a *corev1.EndpointAddress, fldPath *field.Path) field.ErrorList {
	errs := validation.IsValidIP(fldPath.Child("ip"), a.IP)
	if a.Hostname != "" {
		for _, msg := range validation.IsDNS1123Label(a.Hostname) {
			errs = append(errs, field.Invalid(fldPath.Child("hostname"), a.Hostname, msg))
		}
	}
	if a.NodeName != nil {
		for _, msg := range apivalidation.NameIsDNSSubdomain(*a.NodeName, false) {
			errs = append(errs, field.Invalid(fldPath.Child("nodeName"), *a.NodeName, msg))
		}
	}
	return errs
}

func validateEndpointsUpdate(ep, old *corev1.Endpoints) field.ErrorList {
	errs := validateMetaUpdate(&ep.ObjectMeta, &old.ObjectMeta)
	return append(errs, validateEndpointSubsets(ep.Subsets)...)
}

// Length limits of new-style event fields.
const (
	eventFieldMaxLength = 128
	eventNoteMaxLength  = 1024
)

// validateEvent is Kubernetes' validation of core/v1 events: the event's
// namespace agrees with the involved object's; events that carry an
// eventTime (written by the events API recorder) name their reporting
// component.
func validateEvent(ev *corev1.Event) field.ErrorList {
	errs := validateMeta(&ev.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	return append(errs, validateEventFields(ev)...)
}

func validateEventFields(ev *corev1.Event) field.ErrorList {
	var errs field.ErrorList
	nsPath := field.NewPath("involvedObject", "namespace")
	if ev.EventTime.IsZero() {
		if ev.InvolvedObject.Namespace == "" {
			if ev.Namespace != metav1.NamespaceNone && ev.Namespace != metav1.NamespaceDefault {
				errs = append(errs, field.Invalid(nsPath, ev.InvolvedObject.Namespace, "does not match event.namespace"))
			}
		} else if ev.Namespace != ev.InvolvedObject.Namespace {
			errs = append(errs, field.Invalid(nsPath, ev.InvolvedObject.Namespace, "does not match event.namespace"))
		}
	} else {
		if ev.InvolvedObject.Namespace == "" && ev.Namespace != metav1.NamespaceDefault && ev.Namespace != metav1.NamespaceSystem {
			errs = append(errs, field.Invalid(nsPath, ev.InvolvedObject.Namespace, "does not match event.namespace"))
		}
		rcPath := field.NewPath("reportingComponent")
		if ev.ReportingController == "" {
			errs = append(errs, field.Required(rcPath, ""))
		} else {
			for _, msg := range validation.IsQualifiedName(ev.ReportingController) {
				errs = append(errs, field.Invalid(rcPath, ev.ReportingController, msg))
			}
		}
		for name, v := range map[string]string{"reportingComponent": ev.ReportingController, "reportingInstance": ev.ReportingInstance, "action": ev.Action, "reason": ev.Reason} {
			if len(v) > eventFieldMaxLength {
				errs = append(errs, field.TooLong(field.NewPath(name), "", eventFieldMaxLength))
			}
		}
		if len(ev.Message) > eventNoteMaxLength {
			errs = append(errs, field.TooLong(field.NewPath("message"), "", eventNoteMaxLength))
		}
	}
	if ev.Type != "" && ev.Type != corev1.EventTypeNormal && ev.Type != corev1.EventTypeWarning {
		errs = append(errs, field.NotSupported(field.NewPath("type"), ev.Type, []string{corev1.EventTypeNormal, corev1.EventTypeWarning}))
	}
	return errs
}

func validateEventUpdate(ev, old *corev1.Event) field.ErrorList {
	errs := validateMetaUpdate(&ev.ObjectMeta, &old.ObjectMeta)
	return append(errs, validateEventFields(ev)...)
}
