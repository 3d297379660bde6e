package scheduler

import (
	"slices"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"minik8s/pkg/hostports"
)

// HostPort is one hostPort a pod claims on its node.
type HostPort = hostports.HostPort

// PodInfo is what the filters and scores need to know about the pod being
// placed, computed once per scheduling attempt rather than once per node.
type PodInfo struct {
	Pod *v1.Pod
	// Priority is spec.priority (0 when unset), as the apiserver's
	// Priority admission resolved it from the PriorityClass.
	Priority int32
	// Requests are the pod's requests as the fit check counts them.
	Requests Resource
	// NonZero are the requests with upstream's scoring defaults for
	// containers that ask for nothing.
	NonZero Resource
	Ports   []HostPort
	// Owner is the UID of the pod's controller (e.g. its ReplicaSet), empty
	// for a bare pod.
	Owner types.UID
	// Siblings counts the pods of the same controller on each node, for
	// spreading. Cache.Decide sets it from its index; nil means none
	// anywhere.
	Siblings OwnerCounts
	// Volumes are the pod's PersistentVolumeClaims as the volume filter
	// sees them; nil for a pod without claims.
	Volumes *PodVolumes

	required    nodeaffinity.RequiredNodeAffinity
	hasRequired bool
	preferred   *nodeaffinity.PreferredSchedulingTerms

	// meta and terms are the pod as its neighbours see it; hardSpread and
	// softSpread its DoNotSchedule and ScheduleAnyway constraints.
	meta                   podMeta
	terms                  *podTerms
	hardSpread, softSpread []spreadConstraint
	// nominated, when set (by Cache.Decide), is the node preemption
	// nominated this pod for: it is tried first.
	nominated *NodeInfo
	// cluster, when set (by Cache.Decide), says how many pods in the
	// cluster have pod (anti-)affinity; nil means look at the nodes.
	cluster *podsWithAffinity
	// Per-decision state of the inter-pod and spread filters and scores.
	filter         *filterState
	affinityScores topologyCounts
	spreadScores   *spreadScoreState
}

// NewPodInfo precomputes the pod's requests, ports, owner and affinity.
// It does not copy the pod; nothing here writes to it.
func NewPodInfo(pod *v1.Pod) *PodInfo {
	pi := &PodInfo{Pod: pod, Priority: corev1helpers.PodPriority(pod), Ports: hostports.Of(pod), Owner: controllerUID(pod)}
	pi.Requests, pi.NonZero = podRequests(pod)
	pi.required = nodeaffinity.GetRequiredNodeAffinity(pod)
	a := pod.Spec.Affinity
	pi.hasRequired = len(pod.Spec.NodeSelector) > 0 || (a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil)
	if a != nil && a.NodeAffinity != nil && len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0 {
		// An invalid term (already rejected by validation upstream) scores
		// nothing rather than failing the pod.
		pi.preferred, _ = nodeaffinity.NewPreferredSchedulingTerms(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
	}
	pi.terms = newPodTerms(pod)
	pi.meta = newPodMeta(pod, pi.terms)
	if len(pod.Spec.TopologySpreadConstraints) > 0 {
		pi.hardSpread = newSpreadConstraints(pod, v1.DoNotSchedule)
		pi.softSpread = newSpreadConstraints(pod, v1.ScheduleAnyway)
	}
	return pi
}

func controllerUID(pod *v1.Pod) types.UID {
	for i := range pod.OwnerReferences {
		if r := &pod.OwnerReferences[i]; r.Controller != nil && *r.Controller {
			return r.UID
		}
	}
	return ""
}

// OwnerCounts is how many pods of one controller are counted on each node.
// The Cache keeps one per controller rather than a count per controller on
// every node, so that spreading reads one small map per decision instead
// of a map on each of the hundreds of nodes it scores.
type OwnerCounts map[*NodeInfo]int32

// podRecord is what a node remembers of a pod counted on it.
type podRecord struct {
	Requests Resource
	NonZero  Resource
	Ports    []HostPort
	Owner    types.UID
	Meta     podMeta
	// Pod is the last version of the pod seen (never written), and
	// Priority its priority: what preemption weighs a victim by.
	Pod      *v1.Pod
	Priority int32
	// preempted: chosen as a victim, its eviction not yet seen (or being
	// sent): the preemptor waits for it rather than preempting again.
	preempted bool
}

func newPodRecord(pi *PodInfo) podRecord {
	return podRecord{Requests: pi.Requests, NonZero: pi.NonZero, Ports: pi.Ports, Owner: pi.Owner, Meta: pi.meta, Pod: pi.Pod, Priority: pi.Priority}
}

// NodeInfo is one node as the scheduler sees it: the Node object plus the
// aggregate of the pods bound or assumed there. Filters and scores only
// read it.
type NodeInfo struct {
	Node *v1.Node
	// Allocatable is the node's allocatable resources (its capacity when
	// it reports no allocatable).
	Allocatable Resource
	// AllowedPods is the node's allocatable pod count.
	AllowedPods int64
	// Requested is the sum of the requests of the pods counted here.
	Requested Resource
	// NonZeroRequested is the same with scoring defaults.
	NonZeroRequested Resource
	// Pods is how many pods are counted here.
	Pods int64
	// Ready is the node's Ready condition being True.
	Ready bool
	// Unschedulable and Taints are copied from the spec so the filters read
	// them without touching the Node object (fewer cache misses per node).
	Unschedulable bool
	Taints        []v1.Taint

	name string

	ports []HostPort
	// pods are the pods counted here as the inter-pod filters and scores
	// see them; affinityPods of them have pod (anti-)affinity terms,
	// antiPods required anti-affinity.
	pods                   []podMeta
	affinityPods, antiPods int
	// nominated are the pods preemption nominated for this node that are
	// not bound yet: their requests are held for them against pods of
	// lower priority (upstream's nominator).
	nominated []*podRecord
}

// NewNodeInfo returns a NodeInfo for node with no pods, then adds pods.
// Their controllers are not indexed: spreading reads PodInfo.Siblings.
func NewNodeInfo(node *v1.Node, pods ...*v1.Pod) *NodeInfo {
	ni := &NodeInfo{}
	ni.SetNode(node)
	for _, p := range pods {
		ni.addPod(newPodRecord(NewPodInfo(p)))
	}
	return ni
}

// Name is the node's name.
func (n *NodeInfo) Name() string { return n.name }

// SetNode replaces the node object, keeping the pods counted.
func (n *NodeInfo) SetNode(node *v1.Node) {
	n.Node = node
	n.name = node.Name
	n.Unschedulable = node.Spec.Unschedulable
	n.Taints = node.Spec.Taints
	rl := node.Status.Allocatable
	if len(rl) == 0 {
		rl = node.Status.Capacity
	}
	n.Allocatable = NewResource(rl)
	n.AllowedPods = rl.Pods().Value()
	n.Ready = false
	for _, c := range node.Status.Conditions {
		if c.Type == v1.NodeReady {
			n.Ready = c.Status == v1.ConditionTrue
		}
	}
}

func (n *NodeInfo) addPod(r podRecord) {
	n.Requested.Add(r.Requests)
	n.NonZeroRequested.Add(r.NonZero)
	n.Pods++
	n.ports = append(n.ports, r.Ports...)
	n.pods = append(n.pods, r.Meta)
	if t := r.Meta.terms; t != nil {
		n.affinityPods++
		if len(t.antiAffinity) > 0 {
			n.antiPods++
		}
	}
}

func (n *NodeInfo) removePod(r podRecord) {
	n.Requested.Sub(r.Requests)
	n.NonZeroRequested.Sub(r.NonZero)
	n.Pods--
	for _, p := range r.Ports {
		for i, q := range n.ports {
			if q == p {
				n.ports = append(n.ports[:i], n.ports[i+1:]...)
				break
			}
		}
	}
	for i := range n.pods {
		if n.pods[i].uid == r.Meta.uid {
			last := len(n.pods) - 1
			n.pods[i] = n.pods[last]
			n.pods[last] = podMeta{}
			n.pods = n.pods[:last]
			break
		}
	}
	if t := r.Meta.terms; t != nil {
		n.affinityPods--
		if len(t.antiAffinity) > 0 {
			n.antiPods--
		}
	}
}

func (n *NodeInfo) updateMeta(m podMeta) {
	for i := range n.pods {
		if n.pods[i].uid == m.uid {
			n.pods[i] = m
			return
		}
	}
}

// simulation returns a copy of n for preemption's what-ifs: what the fit
// and host-port checks read, copied so that simRemove and simAdd leave n
// alone. Inter-pod state is not copied; those filters do not run on it.
func (n *NodeInfo) simulation() *NodeInfo {
	return &NodeInfo{
		Node: n.Node, name: n.name, Allocatable: n.Allocatable, AllowedPods: n.AllowedPods,
		Requested: n.Requested.clone(), Pods: n.Pods, ports: slices.Clone(n.ports),
		Ready: n.Ready, Unschedulable: n.Unschedulable, Taints: n.Taints,
	}
}

// simAdd counts r's requests, pod slot and ports on a simulation.
func (n *NodeInfo) simAdd(r *podRecord) {
	n.Requested.Add(r.Requests)
	n.Pods++
	n.ports = append(n.ports, r.Ports...)
}

// simRemove undoes simAdd (or the pod's being counted on the node).
func (n *NodeInfo) simRemove(r *podRecord) {
	n.Requested.Sub(r.Requests)
	n.Pods--
	for _, p := range r.Ports {
		if i := slices.Index(n.ports, p); i >= 0 {
			n.ports = slices.Delete(n.ports, i, i+1)
		}
	}
}
