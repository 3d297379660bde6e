// Package hostports is the hostPorts a pod claims on its node and when two
// claims conflict, as the scheduler's NodePorts plugin and the kubelet's
// admission judge them: the scheduler places pods by it, the node agent
// refuses a pod bound past the scheduler onto ports already taken.
package hostports

import v1 "k8s.io/api/core/v1"

// HostPort is one hostPort a pod claims on its node.
type HostPort struct {
	IP       string // "" and "0.0.0.0" mean every address
	Protocol v1.Protocol
	Port     int32
}

// Conflicts tells whether a and b cannot both be held on one node.
func (a HostPort) Conflicts(b HostPort) bool {
	if a.Port != b.Port || a.Protocol != b.Protocol {
		return false
	}
	return a.IP == b.IP || wildcard(a.IP) || wildcard(b.IP)
}

func wildcard(ip string) bool { return ip == "" || ip == "0.0.0.0" || ip == "::" }

// Of are the hostPorts pod claims: its containers' and its sidecars'
// (restartable init containers keep running, so their ports stay taken).
func Of(pod *v1.Pod) []HostPort {
	var ports []HostPort
	add := func(c *v1.Container) {
		for _, p := range c.Ports {
			if p.HostPort <= 0 {
				continue
			}
			proto := p.Protocol
			if proto == "" {
				proto = v1.ProtocolTCP
			}
			ports = append(ports, HostPort{IP: p.HostIP, Protocol: proto, Port: p.HostPort})
		}
	}
	for i := range pod.Spec.Containers {
		add(&pod.Spec.Containers[i])
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways {
			add(c)
		}
	}
	return ports
}

// Conflict is the first of want that conflicts with one of used.
func Conflict(want, used []HostPort) (HostPort, bool) {
	for _, w := range want {
		for _, u := range used {
			if w.Conflicts(u) {
				return w, true
			}
		}
	}
	return HostPort{}, false
}
