package resourcequota

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	resourcehelper "k8s.io/component-helpers/resource"
)

// countName is the object count resource of a core resource
// (count/<resource>); other groups are count/<resource>.<group>.
func countName(resource string) corev1.ResourceName {
	return corev1.ResourceName("count/" + resource)
}

// podCounts reports whether pod is charged for compute resources and for
// "pods": not terminal and not stuck past its deletion grace period
// (upstream's QuotaV1Pod).
func podCounts(pod *corev1.Pod, now time.Time) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	if pod.DeletionTimestamp != nil && pod.DeletionGracePeriodSeconds != nil {
		grace := time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
		if now.After(pod.DeletionTimestamp.Add(grace)) {
			return false
		}
	}
	return true
}

// podUsage is what pod uses, as upstream's pod evaluator measures it:
// count/pods for every pod, and for pods that count, "pods" and the
// requests and limits of its containers (init containers, sidecars and
// overhead included).
func podUsage(pod *corev1.Pod, now time.Time) corev1.ResourceList {
	out := corev1.ResourceList{countName("pods"): *resource.NewQuantity(1, resource.DecimalSI)}
	if !podCounts(pod, now) {
		return out
	}
	out[corev1.ResourcePods] = *resource.NewQuantity(1, resource.DecimalSI)
	requests := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	limits := resourcehelper.PodLimits(pod, resourcehelper.PodResourcesOptions{})
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		if q, ok := requests[r]; ok {
			out[r] = q
			out[corev1.ResourceName("requests."+string(r))] = q
		}
		if q, ok := limits[r]; ok {
			out[corev1.ResourceName("limits."+string(r))] = q
		}
	}
	for r, q := range requests {
		if strings.HasPrefix(string(r), corev1.ResourceHugePagesPrefix) {
			out[r] = q
			out[corev1.ResourceName("requests."+string(r))] = q
		}
	}
	return out
}

// serviceUsage counts a Service, its load balancer and its node ports
// (upstream's service evaluator).
func serviceUsage(svc *corev1.Service) corev1.ResourceList {
	one := *resource.NewQuantity(1, resource.DecimalSI)
	out := corev1.ResourceList{countName("services"): one, corev1.ResourceServices: one}
	ports := int64(len(svc.Spec.Ports))
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		out[corev1.ResourceServicesNodePorts] = *resource.NewQuantity(ports, resource.DecimalSI)
	case corev1.ServiceTypeLoadBalancer:
		out[corev1.ResourceServicesLoadBalancers] = one
		if a := svc.Spec.AllocateLoadBalancerNodePorts; a != nil && !*a {
			// Only the node ports asked for explicitly.
			ports = 0
			for _, p := range svc.Spec.Ports {
				if p.NodePort != 0 {
					ports++
				}
			}
		}
		out[corev1.ResourceServicesNodePorts] = *resource.NewQuantity(ports, resource.DecimalSI)
	}
	return out
}

// claimUsage counts a PersistentVolumeClaim and its requested storage,
// in total and per storage class (upstream's claim evaluator, which
// charges the larger of the request and what was allocated).
func claimUsage(pvc *corev1.PersistentVolumeClaim) corev1.ResourceList {
	one := *resource.NewQuantity(1, resource.DecimalSI)
	out := corev1.ResourceList{countName("persistentvolumeclaims"): one, corev1.ResourcePersistentVolumeClaims: one}
	class := ""
	if pvc.Spec.StorageClassName != nil {
		class = *pvc.Spec.StorageClassName
	} else if c, ok := pvc.Annotations[corev1.BetaStorageClassAnnotation]; ok {
		class = c
	}
	if class != "" {
		out[corev1.ResourceName(class+".storageclass.storage.k8s.io/persistentvolumeclaims")] = one
	}
	storage, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if a, aok := pvc.Status.AllocatedResources[corev1.ResourceStorage]; aok && (!ok || a.Cmp(storage) > 0) {
		storage, ok = a, true
	}
	if ok {
		out[corev1.ResourceRequestsStorage] = storage
		if class != "" {
			out[corev1.ResourceName(class+".storageclass.storage.k8s.io/requests.storage")] = storage
		}
	}
	return out
}

// podMatchesScopes reports whether pod falls under every scope of the
// quota (spec.scopes and the scope selector), as upstream's
// podMatchesScopeFunc; unknown scopes match nothing.
func podMatchesScopes(pod *corev1.Pod, rq *corev1.ResourceQuota) bool {
	reqs := scopeRequirements(rq)
	for _, r := range reqs {
		if !podMatchesScope(pod, r) {
			return false
		}
	}
	return true
}

func scopeRequirements(rq *corev1.ResourceQuota) []corev1.ScopedResourceSelectorRequirement {
	var out []corev1.ScopedResourceSelectorRequirement
	for _, s := range rq.Spec.Scopes {
		out = append(out, corev1.ScopedResourceSelectorRequirement{ScopeName: s, Operator: corev1.ScopeSelectorOpExists})
	}
	if rq.Spec.ScopeSelector != nil {
		out = append(out, rq.Spec.ScopeSelector.MatchExpressions...)
	}
	return out
}

func podMatchesScope(pod *corev1.Pod, r corev1.ScopedResourceSelectorRequirement) bool {
	terminating := pod.Spec.ActiveDeadlineSeconds != nil && *pod.Spec.ActiveDeadlineSeconds >= 0
	switch r.ScopeName {
	case corev1.ResourceQuotaScopeTerminating:
		return terminating
	case corev1.ResourceQuotaScopeNotTerminating:
		return !terminating
	case corev1.ResourceQuotaScopeBestEffort:
		return bestEffort(pod)
	case corev1.ResourceQuotaScopeNotBestEffort:
		return !bestEffort(pod)
	case corev1.ResourceQuotaScopePriorityClass:
		if r.Operator == corev1.ScopeSelectorOpExists {
			return pod.Spec.PriorityClassName != ""
		}
		if r.Operator == corev1.ScopeSelectorOpDoesNotExist {
			return pod.Spec.PriorityClassName == ""
		}
		op := map[corev1.ScopeSelectorOperator]selection.Operator{corev1.ScopeSelectorOpIn: selection.In, corev1.ScopeSelectorOpNotIn: selection.NotIn}[r.Operator]
		req, err := labels.NewRequirement(string(r.ScopeName), op, r.Values)
		if err != nil {
			return false
		}
		return labels.NewSelector().Add(*req).Matches(labels.Set{string(r.ScopeName): pod.Spec.PriorityClassName})
	}
	return false
}

// bestEffort: no container, init container included, requests or limits
// cpu or memory (the BestEffort QoS class).
func bestEffort(pod *corev1.Pod) bool {
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			for _, rl := range []corev1.ResourceList{c.Resources.Requests, c.Resources.Limits} {
				for r := range rl {
					if r == corev1.ResourceCPU || r == corev1.ResourceMemory {
						return false
					}
				}
			}
		}
	}
	return true
}
