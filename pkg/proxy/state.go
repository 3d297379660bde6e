package proxy

import (
	"encoding/binary"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// Protocol numbers as nftables and conntrack see them.
const (
	protoTCP uint8 = 6
	protoUDP uint8 = 17
)

// endpoint is one backend address.
type endpoint struct {
	IP   [4]byte
	Port uint16
}

func (e endpoint) String() string {
	return fmt.Sprintf("%s:%d", net.IP(e.IP[:]), e.Port)
}

// ipKey is a (destination ip . protocol . port) dispatch key.
type ipKey struct {
	IP    [4]byte
	Proto uint8
	Port  uint16
}

func (k ipKey) String() string {
	return fmt.Sprintf("%s . %s . %d", net.IP(k.IP[:]), protoName(k.Proto), k.Port)
}

// epKey is the i-th endpoint of a frontend (ip . protocol . port . i).
type epKey struct {
	Front ipKey
	Index uint32
}

// npEpKey is the i-th endpoint of a NodePort (protocol . port . i).
type npEpKey struct {
	Front portKey
	Index uint32
}

// maxPick is the largest endpoint count served by the shared pick chains;
// Services with more endpoints get a chain of their own.
const maxPick = 64

// pickChain and pickNodePortChain are the shared chains that choose among
// n endpoints held in the endpoint maps.
func pickChain(n int) string         { return "pick_" + strconv.Itoa(n) }
func pickNodePortChain(n int) string { return "pick_nodeport_" + strconv.Itoa(n) }

// portKey is a (protocol . port) NodePort dispatch key.
type portKey struct {
	Proto uint8
	Port  uint16
}

func (k portKey) String() string { return fmt.Sprintf("%s . %d", protoName(k.Proto), k.Port) }

func protoName(p uint8) string {
	if p == protoUDP {
		return "udp"
	}
	return "tcp"
}

type ruleKind int

const (
	// ruleMark marks the packet for masquerade (when Src is set: only if
	// the source is outside Src, i.e. not from a pod).
	ruleMark ruleKind = iota
	// ruleAffinity DNATs to EP when the client is in the affinity set Set.
	ruleAffinity
	// ruleDNAT DNATs to EP; with Mod > 0 only when numgen random mod Mod
	// is 0; with Set, it records the client in that affinity set.
	ruleDNAT
	// ruleGotoIfPodSource jumps (goto) to Target for sources inside Src.
	ruleGotoIfPodSource
	// ruleDrop drops.
	ruleDrop
)

// rule is one rule of a Service chain, described so that it can be
// compared, printed and turned into netlink expressions.
type rule struct {
	Kind    ruleKind
	Proto   uint8
	EP      endpoint
	Mod     uint32
	Set     string
	Timeout time.Duration
	Src     *net.IPNet
	Target  string
}

// String renders the rule in nft syntax (what `nft list` would show).
func (r rule) String() string {
	switch r.Kind {
	case ruleMark:
		if r.Src != nil {
			return fmt.Sprintf("ip saddr != %s meta mark set meta mark | 0x%x", r.Src, masqMark)
		}
		return fmt.Sprintf("meta mark set meta mark | 0x%x", masqMark)
	case ruleAffinity:
		return fmt.Sprintf("ip saddr @%s meta l4proto %s dnat to %s", r.Set, protoName(r.Proto), r.EP)
	case ruleDNAT:
		var b strings.Builder
		fmt.Fprintf(&b, "meta l4proto %s ", protoName(r.Proto))
		if r.Mod > 0 {
			fmt.Fprintf(&b, "numgen random mod %d 0 ", r.Mod)
		}
		if r.Set != "" {
			fmt.Fprintf(&b, "update @%s { ip saddr } ", r.Set)
		}
		fmt.Fprintf(&b, "dnat to %s", r.EP)
		return b.String()
	case ruleGotoIfPodSource:
		return fmt.Sprintf("ip saddr %s goto %s", r.Src, r.Target)
	case ruleDrop:
		return "drop"
	}
	return "?"
}

// State is the wanted content of the minik8s table.
type State struct {
	// Chains are the per-Service-port chains by name.
	Chains map[string][]rule
	// AffinitySets are dynamic client sets by name, with their timeout.
	AffinitySets map[string]time.Duration
	// ServiceIPs dispatches ClusterIPs and LoadBalancer IPs to chains.
	ServiceIPs map[ipKey]string
	// NodePorts dispatches NodePorts (on local addresses) to chains.
	NodePorts map[portKey]string
	// Endpoints and NodePortEndpoints hold the i-th endpoint of each
	// frontend that a shared pick chain serves.
	Endpoints         map[epKey]endpoint
	NodePortEndpoints map[npEpKey]endpoint
	// RejectIPs and RejectNodePorts are Services with no endpoints.
	RejectIPs       map[ipKey]struct{}
	RejectNodePorts map[portKey]struct{}
	// LocalEndpoints are endpoint addresses on this node (hairpin masquerade).
	LocalEndpoints map[[4]byte]struct{}
	// UDPEndpoints are all UDP endpoints, to clean conntrack of removed ones.
	UDPEndpoints map[endpoint]struct{}
	// ClusterCIDR is the pod range; nil masquerades all Service traffic.
	ClusterCIDR *net.IPNet

	// refs counts, in a merged State, how many Services use each local
	// and UDP endpoint, so removing one Service keeps what others use.
	localRefs map[[4]byte]int
	udpRefs   map[endpoint]int
}

// Rules counts rules of the Service chains.
func (s *State) Rules() int {
	n := 0
	for _, rs := range s.Chains {
		n += len(rs)
	}
	return n
}

// Elements counts map and set elements.
func (s *State) Elements() int {
	return len(s.ServiceIPs) + len(s.NodePorts) + len(s.Endpoints) + len(s.NodePortEndpoints) + len(s.RejectIPs) + len(s.RejectNodePorts) + len(s.LocalEndpoints)
}

// String renders the Service part of the state in nft-like text, sorted,
// for tests and debugging.
func (s *State) String() string {
	var lines []string
	for k, c := range s.ServiceIPs {
		lines = append(lines, fmt.Sprintf("ip %s : goto %s", k, c))
	}
	for k, c := range s.NodePorts {
		lines = append(lines, fmt.Sprintf("nodeport %s : goto %s", k, c))
	}
	for k, ep := range s.Endpoints {
		lines = append(lines, fmt.Sprintf("endpoint %s . %d : %s", k.Front, k.Index, ep))
	}
	for k, ep := range s.NodePortEndpoints {
		lines = append(lines, fmt.Sprintf("endpoint nodeport %s . %d : %s", k.Front, k.Index, ep))
	}
	for k := range s.RejectIPs {
		lines = append(lines, fmt.Sprintf("reject ip %s", k))
	}
	for k := range s.RejectNodePorts {
		lines = append(lines, fmt.Sprintf("reject nodeport %s", k))
	}
	for ip := range s.LocalEndpoints {
		lines = append(lines, fmt.Sprintf("local %s", net.IP(ip[:])))
	}
	for n, t := range s.AffinitySets {
		lines = append(lines, fmt.Sprintf("set %s timeout %s", n, t))
	}
	for n, rs := range s.Chains {
		for i, r := range rs {
			lines = append(lines, fmt.Sprintf("chain %s %d: %s", n, i, r))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func newState(cidr *net.IPNet) *State {
	return &State{
		Chains:            map[string][]rule{},
		AffinitySets:      map[string]time.Duration{},
		ServiceIPs:        map[ipKey]string{},
		NodePorts:         map[portKey]string{},
		Endpoints:         map[epKey]endpoint{},
		NodePortEndpoints: map[npEpKey]endpoint{},
		RejectIPs:         map[ipKey]struct{}{},
		RejectNodePorts:   map[portKey]struct{}{},
		LocalEndpoints:    map[[4]byte]struct{}{},
		UDPEndpoints:      map[endpoint]struct{}{},
		ClusterCIDR:       cidr,
	}
}

func ip4(s string) ([4]byte, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return [4]byte{}, false
	}
	return a.As4(), true
}

// pickEndpoints returns the endpoints for a Service port: ready ones, or
// when none is ready, serving and terminating ones (as Kubernetes does).
// The second list holds those on nodeName.
func pickEndpoints(slices []*discoveryv1.EndpointSlice, sp v1.ServicePort, nodeName string) (all, local []endpoint) {
	type cand struct {
		ep    endpoint
		local bool
	}
	var ready, fallback []cand
	seen := map[endpoint]bool{}
	for _, sl := range slices {
		if sl.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		var port int32 = -1
		for _, p := range sl.Ports {
			name := ""
			if p.Name != nil {
				name = *p.Name
			}
			proto := v1.ProtocolTCP
			if p.Protocol != nil {
				proto = *p.Protocol
			}
			if name == sp.Name && proto == sp.Protocol && p.Port != nil {
				port = *p.Port
			}
		}
		if port <= 0 || port > 65535 {
			continue
		}
		for _, e := range sl.Endpoints {
			isReady := e.Conditions.Ready == nil || *e.Conditions.Ready
			serving := isReady
			if e.Conditions.Serving != nil {
				serving = *e.Conditions.Serving
			}
			terminating := e.Conditions.Terminating != nil && *e.Conditions.Terminating
			isLocal := e.NodeName != nil && *e.NodeName == nodeName
			for _, a := range e.Addresses {
				ip, ok := ip4(a)
				if !ok {
					continue
				}
				ep := endpoint{IP: ip, Port: uint16(port)}
				if seen[ep] {
					continue
				}
				switch {
				case isReady && !terminating:
					seen[ep] = true
					ready = append(ready, cand{ep, isLocal})
				case serving && terminating:
					fallback = append(fallback, cand{ep, isLocal})
				}
			}
		}
	}
	use := ready
	if len(use) == 0 {
		use = fallback
	}
	sort.Slice(use, func(i, j int) bool {
		a, b := use[i].ep, use[j].ep
		if a.IP != b.IP {
			return binary.BigEndian.Uint32(a.IP[:]) < binary.BigEndian.Uint32(b.IP[:])
		}
		return a.Port < b.Port
	})
	for i, c := range use {
		if i > 0 && c.ep == use[i-1].ep {
			continue
		}
		all = append(all, c.ep)
		if c.local {
			local = append(local, c.ep)
		}
	}
	return all, local
}

// endpointRules are the rules that spread traffic over eps: one DNAT rule
// per endpoint, the i-th taken with probability 1/(n-i), which is uniform.
// With affinity, a client seen before goes back to its endpoint.
func endpointRules(proto uint8, eps []endpoint, affPrefix string, timeout time.Duration, sets map[string]time.Duration) []rule {
	var rs []rule
	setName := func(ep endpoint) string {
		if affPrefix == "" {
			return ""
		}
		return fmt.Sprintf("%s_%s_%d", affPrefix, net.IP(ep.IP[:]), ep.Port)
	}
	if affPrefix != "" {
		for _, ep := range eps {
			n := setName(ep)
			sets[n] = timeout
			rs = append(rs, rule{Kind: ruleAffinity, Proto: proto, EP: ep, Set: n})
		}
	}
	for i, ep := range eps {
		r := rule{Kind: ruleDNAT, Proto: proto, EP: ep, Set: setName(ep), Timeout: timeout}
		if i < len(eps)-1 {
			r.Mod = uint32(len(eps) - i)
		}
		rs = append(rs, r)
	}
	return rs
}

// Compute builds the wanted table for the given objects. It is pure: the
// same input gives the same State.
func Compute(services []*v1.Service, slices []*discoveryv1.EndpointSlice, nodeName string, clusterCIDR *net.IPNet) *State {
	st := newState(clusterCIDR)
	bySvc := groupSlices(slices)
	for _, svc := range services {
		st.merge(computeService(svc, bySvc[svc.Namespace+"/"+svc.Name], nodeName, clusterCIDR))
	}
	return st
}

// groupSlices indexes EndpointSlices by "namespace/service".
func groupSlices(slices []*discoveryv1.EndpointSlice) map[string][]*discoveryv1.EndpointSlice {
	bySvc := map[string][]*discoveryv1.EndpointSlice{}
	for _, sl := range slices {
		name := sl.Labels[discoveryv1.LabelServiceName]
		if name == "" {
			continue
		}
		k := sl.Namespace + "/" + name
		bySvc[k] = append(bySvc[k], sl)
	}
	for _, g := range bySvc {
		if len(g) > 1 {
			sort.Slice(g, func(i, j int) bool { return g[i].Name < g[j].Name })
		}
	}
	return bySvc
}

// merge adds the fragment f (one Service) to s.
func (s *State) merge(f *State) {
	maps.Copy(s.Chains, f.Chains)
	maps.Copy(s.AffinitySets, f.AffinitySets)
	maps.Copy(s.ServiceIPs, f.ServiceIPs)
	maps.Copy(s.NodePorts, f.NodePorts)
	maps.Copy(s.Endpoints, f.Endpoints)
	maps.Copy(s.NodePortEndpoints, f.NodePortEndpoints)
	maps.Copy(s.RejectIPs, f.RejectIPs)
	maps.Copy(s.RejectNodePorts, f.RejectNodePorts)
	if s.localRefs == nil {
		s.localRefs, s.udpRefs = map[[4]byte]int{}, map[endpoint]int{}
	}
	addRefs(s.LocalEndpoints, s.localRefs, f.LocalEndpoints)
	addRefs(s.UDPEndpoints, s.udpRefs, f.UDPEndpoints)
}

// unmerge removes the fragment f (one Service) from s.
func (s *State) unmerge(f *State) {
	deleteKeys(s.Chains, f.Chains)
	deleteKeys(s.AffinitySets, f.AffinitySets)
	deleteKeys(s.ServiceIPs, f.ServiceIPs)
	deleteKeys(s.NodePorts, f.NodePorts)
	deleteKeys(s.Endpoints, f.Endpoints)
	deleteKeys(s.NodePortEndpoints, f.NodePortEndpoints)
	deleteKeys(s.RejectIPs, f.RejectIPs)
	deleteKeys(s.RejectNodePorts, f.RejectNodePorts)
	dropRefs(s.LocalEndpoints, s.localRefs, f.LocalEndpoints)
	dropRefs(s.UDPEndpoints, s.udpRefs, f.UDPEndpoints)
}

// deleteKeys removes from dst every key of src.
func deleteKeys[K comparable, V, W any](dst map[K]V, src map[K]W) {
	for k := range src {
		delete(dst, k)
	}
}

// addRefs adds src's members to the set dst, counting in refs how many
// Services hold each (several Services may share an endpoint).
func addRefs[K comparable](dst map[K]struct{}, refs map[K]int, src map[K]struct{}) {
	for k := range src {
		dst[k] = struct{}{}
		refs[k]++
	}
}

// dropRefs undoes addRefs: a member leaves dst with its last holder.
func dropRefs[K comparable](dst map[K]struct{}, refs map[K]int, src map[K]struct{}) {
	for k := range src {
		if refs[k]--; refs[k] <= 0 {
			delete(dst, k)
			delete(refs, k)
		}
	}
}

// computeService is the part of the table one Service owns.
func computeService(svc *v1.Service, slices []*discoveryv1.EndpointSlice, nodeName string, clusterCIDR *net.IPNet) *State {
	st := newState(clusterCIDR)
	if svc.Spec.Type == v1.ServiceTypeExternalName {
		return st
	}
	cip, ok := ip4(svc.Spec.ClusterIP)
	if !ok {
		return st // headless or not IPv4
	}
	var lbIPs [][4]byte
	if svc.Spec.Type == v1.ServiceTypeLoadBalancer {
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			if ip, ok := ip4(ing.IP); ok {
				lbIPs = append(lbIPs, ip)
			}
		}
	}
	local := svc.Spec.ExternalTrafficPolicy == v1.ServiceExternalTrafficPolicyLocal &&
		(svc.Spec.Type == v1.ServiceTypeNodePort || svc.Spec.Type == v1.ServiceTypeLoadBalancer)
	var affinity time.Duration
	if svc.Spec.SessionAffinity == v1.ServiceAffinityClientIP {
		affinity = 10800 * time.Second
		if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			affinity = time.Duration(*c.ClientIP.TimeoutSeconds) * time.Second
		}
	}
	for _, sp := range svc.Spec.Ports {
		var proto uint8
		switch sp.Protocol {
		case v1.ProtocolTCP, "":
			proto = protoTCP
			sp.Protocol = v1.ProtocolTCP
		case v1.ProtocolUDP:
			proto = protoUDP
		default:
			continue
		}
		portName := sp.Name
		if portName == "" {
			portName = strconv.Itoa(int(sp.Port))
		}
		base := svc.Namespace + "_" + svc.Name + "_" + portName + "_" + protoName(proto)
		eps, localEPs := pickEndpoints(slices, sp, nodeName)
		for _, ep := range localEPs {
			st.LocalEndpoints[ep.IP] = struct{}{}
		}
		if proto == protoUDP {
			for _, ep := range eps {
				st.UDPEndpoints[ep] = struct{}{}
			}
		}
		nodePort := portKey{Proto: proto, Port: uint16(sp.NodePort)}
		hasNodePort := sp.NodePort > 0 && svc.Spec.Type != v1.ServiceTypeClusterIP
		if len(eps) == 0 {
			st.RejectIPs[ipKey{cip, proto, uint16(sp.Port)}] = struct{}{}
			for _, ip := range lbIPs {
				st.RejectIPs[ipKey{ip, proto, uint16(sp.Port)}] = struct{}{}
			}
			if hasNodePort {
				st.RejectNodePorts[nodePort] = struct{}{}
			}
			continue
		}
		if affinity == 0 && !local && len(eps) <= maxPick {
			// The common case needs no chain or rule of its own, only map
			// elements: dispatch to the shared chain for len(eps)
			// endpoints, which looks the chosen one up by frontend.
			for _, ip := range append([][4]byte{cip}, lbIPs...) {
				front := ipKey{ip, proto, uint16(sp.Port)}
				st.ServiceIPs[front] = pickChain(len(eps))
				for i, ep := range eps {
					st.Endpoints[epKey{front, uint32(i)}] = ep
				}
			}
			if hasNodePort {
				st.NodePorts[nodePort] = pickNodePortChain(len(eps))
				for i, ep := range eps {
					st.NodePortEndpoints[npEpKey{nodePort, uint32(i)}] = ep
				}
			}
			continue
		}
		svcChain := "svc_" + base
		affPrefix := ""
		if affinity > 0 {
			affPrefix = "aff_" + base
		}
		rs := []rule{{Kind: ruleMark, Src: clusterCIDR}}
		st.Chains[svcChain] = append(rs, endpointRules(proto, eps, affPrefix, affinity, st.AffinitySets)...)
		st.ServiceIPs[ipKey{cip, proto, uint16(sp.Port)}] = svcChain
		extChain := svcChain
		if local {
			// External traffic keeps its source and only goes to
			// endpoints on this node; pods still get every endpoint.
			extChain = "ext_" + base
			var ers []rule
			if clusterCIDR != nil {
				ers = append(ers, rule{Kind: ruleGotoIfPodSource, Src: clusterCIDR, Target: svcChain})
			}
			if len(localEPs) == 0 {
				ers = append(ers, rule{Kind: ruleDrop})
			} else {
				// The same per-endpoint affinity sets as svcChain: a
				// client keeps its endpoint whichever way it came.
				ers = append(ers, endpointRules(proto, localEPs, affPrefix, affinity, st.AffinitySets)...)
			}
			st.Chains[extChain] = ers
		}
		for _, ip := range lbIPs {
			st.ServiceIPs[ipKey{ip, proto, uint16(sp.Port)}] = extChain
		}
		if hasNodePort {
			if local {
				st.NodePorts[nodePort] = extChain
			} else {
				// Policy Cluster: NodePort traffic is masqueraded
				// whatever its source (see the shared NodePort pick
				// chains), then picks as the Service's chain does.
				npChain := "np_" + base
				st.Chains[npChain] = append([]rule{{Kind: ruleMark}}, endpointRules(proto, eps, affPrefix, affinity, st.AffinitySets)...)
				st.NodePorts[nodePort] = npChain
			}
		}
	}
	return st
}
