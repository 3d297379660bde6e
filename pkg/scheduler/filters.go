package scheduler

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/klog/v2"
)

// Reasons a node is rejected, worded as upstream kube-scheduler words them
// so that messages read the same to a Kubernetes user.
const (
	ReasonNotReady      = "node(s) were not ready"
	ReasonUnschedulable = "node(s) were unschedulable"
	ReasonNodeAffinity  = "node(s) didn't match Pod's node affinity/selector"
	ReasonNodePorts     = "node(s) didn't have free ports for the requested pod ports"
	ReasonTooManyPods   = "Too many pods"
)

// ReasonUntoleratedTaint is the reason for a taint the pod does not tolerate.
func ReasonUntoleratedTaint(t v1.Taint) string {
	return fmt.Sprintf("node(s) had untolerated taint {%s: %s}", t.Key, t.Value)
}

// ReasonInsufficient is the reason for a resource that does not fit.
func ReasonInsufficient(name v1.ResourceName) string { return "Insufficient " + string(name) }

// A Filter says whether the pod may run on the node: nil if it may,
// otherwise the reasons it may not. Filters only read their arguments.
type Filter func(p *PodInfo, n *NodeInfo) []string

// DefaultFilters are run in this order; a node is rejected by the first
// filter that fails (cheap checks first, as upstream orders its plugins).
var DefaultFilters = []Filter{
	FilterReady,
	FilterUnschedulable,
	FilterTaints,
	FilterNodeAffinity,
	FilterHostPorts,
	FilterResources,
	FilterVolumeBinding,
	FilterTopologySpread,
	FilterInterPodAffinity,
}

// One slice per constant reason, so that rejecting a node does not allocate.
var (
	reasonsNotReady      = []string{ReasonNotReady}
	reasonsUnschedulable = []string{ReasonUnschedulable}
	reasonsNodeAffinity  = []string{ReasonNodeAffinity}
	reasonsNodePorts     = []string{ReasonNodePorts}
)

var (
	notReadyTaint      = v1.Taint{Key: v1.TaintNodeNotReady, Effect: v1.TaintEffectNoSchedule}
	unschedulableTaint = v1.Taint{Key: v1.TaintNodeUnschedulable, Effect: v1.TaintEffectNoSchedule}
	logger             = klog.Background()
)

// FilterReady rejects a node whose Ready condition is not True, unless the
// pod tolerates the not-ready taint (as DaemonSet pods do).
func FilterReady(p *PodInfo, n *NodeInfo) []string {
	if n.Ready || corev1helpers.TolerationsTolerateTaint(logger, p.Pod.Spec.Tolerations, &notReadyTaint, false) {
		return nil
	}
	return reasonsNotReady
}

// FilterUnschedulable rejects a cordoned node (spec.unschedulable), unless
// the pod tolerates node.kubernetes.io/unschedulable:NoSchedule.
func FilterUnschedulable(p *PodInfo, n *NodeInfo) []string {
	if !n.Unschedulable || corev1helpers.TolerationsTolerateTaint(logger, p.Pod.Spec.Tolerations, &unschedulableTaint, false) {
		return nil
	}
	return reasonsUnschedulable
}

func hardTaint(t *v1.Taint) bool {
	return t.Effect == v1.TaintEffectNoSchedule || t.Effect == v1.TaintEffectNoExecute
}

// FilterTaints rejects a node with a NoSchedule or NoExecute taint the pod
// does not tolerate. PreferNoSchedule taints do not filter.
func FilterTaints(p *PodInfo, n *NodeInfo) []string {
	if len(n.Taints) == 0 {
		return nil
	}
	t, found := findUntolerated(p, n)
	if !found {
		return nil
	}
	return []string{ReasonUntoleratedTaint(t)}
}

// FilterNodeAffinity rejects a node that does not match the pod's
// nodeSelector and required node affinity (matchExpressions with In, NotIn,
// Exists, DoesNotExist, Gt, Lt; matchFields on metadata.name).
func FilterNodeAffinity(p *PodInfo, n *NodeInfo) []string {
	if !p.hasRequired {
		return nil
	}
	if ok, _ := p.required.Match(n.Node); ok {
		return nil
	}
	return reasonsNodeAffinity
}

// FilterHostPorts rejects a node where one of the pod's host ports (port,
// protocol and address; 0.0.0.0 overlaps every address) is already taken.
func FilterHostPorts(p *PodInfo, n *NodeInfo) []string {
	for _, want := range p.Ports {
		for _, used := range n.ports {
			if want.Conflicts(used) {
				return reasonsNodePorts
			}
		}
	}
	return nil
}

// FilterResources rejects a node where the pod's requests do not fit in
// allocatable minus what the pods counted there request. Every short
// resource is a reason, as upstream reports them.
func FilterResources(p *PodInfo, n *NodeInfo) []string {
	var reasons []string
	if n.Pods+1 > n.AllowedPods {
		reasons = append(reasons, ReasonTooManyPods)
	}
	r, a, u := &p.Requests, &n.Allocatable, &n.Requested
	if r.MilliCPU > 0 && r.MilliCPU > a.MilliCPU-u.MilliCPU {
		reasons = append(reasons, ReasonInsufficient(v1.ResourceCPU))
	}
	if r.Memory > 0 && r.Memory > a.Memory-u.Memory {
		reasons = append(reasons, ReasonInsufficient(v1.ResourceMemory))
	}
	if r.EphemeralStorage > 0 && r.EphemeralStorage > a.EphemeralStorage-u.EphemeralStorage {
		reasons = append(reasons, ReasonInsufficient(v1.ResourceEphemeralStorage))
	}
	for name, q := range r.Scalar {
		if q > 0 && q > a.Scalar[name]-u.Scalar[name] {
			reasons = append(reasons, ReasonInsufficient(name))
		}
	}
	return reasons
}

func findUntolerated(p *PodInfo, n *NodeInfo) (v1.Taint, bool) {
	return corev1helpers.FindMatchingUntoleratedTaint(logger, n.Taints, p.Pod.Spec.Tolerations, hardTaint, false)
}
