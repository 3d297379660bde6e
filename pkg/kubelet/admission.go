package kubelet

import (
	v1 "k8s.io/api/core/v1"

	"minik8s/pkg/hostports"
)

// The kubelet's admission of a pod bound to this node, on what the
// scheduler did not judge (a pod with spec.nodeName set goes past it): its
// host ports against those of the pods admitted before it, as the
// kubelet's predicate admit handler runs the scheduler's NodePorts
// filter. A refused pod fails at once ("Pod was rejected: …"), nothing of
// it started; its controller makes another (a StatefulSet's pod is
// recreated until the port is free).

const (
	nodePortsReason  = "NodePorts"
	nodePortsMessage = "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports"
)

// admit admits pod (its worker w) against the host ports of the pods the
// agent admitted before, serialized with their admissions by the agent's
// lock, so two pods arriving together cannot both take one port.
func (a *Agent) admit(w *podWorker, pod *v1.Pod) string {
	want := hostports.Of(pod)
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(want) > 0 {
		for uid, other := range a.workers {
			if uid == pod.UID || !other.holdsPorts.Load() {
				continue
			}
			if op, _ := other.latest(); op != nil {
				if _, taken := hostports.Conflict(want, hostports.Of(op)); taken {
					return nodePortsMessage
				}
			}
		}
	}
	w.holdsPorts.Store(true)
	return ""
}
