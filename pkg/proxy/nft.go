package proxy

import (
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// The nftables side of the proxy is in three files: this one is the
// table's layout (names, set types, key encodings, the base chains and
// the expressions of each rule kind); nftwriter.go writes a State into
// the kernel, whole or as the difference from the last one; nftverify.go
// reads the table back and compares it with what was written.

const (
	// TableName is the nftables table (family ip) the proxy owns.
	TableName = "minik8s"
	// masqMark is the packet mark bit that asks postrouting to masquerade.
	masqMark = 0x4000

	mapServiceIPs     = "service_ips"
	mapNodePorts      = "service_nodeports"
	mapEndpoints      = "endpoints"
	mapNodePortEPs    = "nodeport_endpoints"
	setRejectIPs      = "reject_ips"
	setRejectPorts    = "reject_nodeports"
	setLocalEPs       = "local_endpoints"
	chainServices     = "services"
	chainReject       = "reject_no_endpoints"
	chainRejectPacket = "reject_packet"
	elementsPerMsg    = 400
	netlinkBufBytes   = 512 << 20
	ipsDstNAT         = 0x20 // IPS_DST_NAT conntrack status bit
	icmpPortUnreach   = 3
)

var table = &nftables.Table{Name: TableName, Family: nftables.TableFamilyIPv4}

func ipKeyType() nftables.SetDatatype {
	t, _ := nftables.ConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)
	return t
}

func portKeyType() nftables.SetDatatype {
	t, _ := nftables.ConcatSetType(nftables.TypeInetProto, nftables.TypeInetService)
	return t
}

func endpointType() nftables.SetDatatype {
	t, _ := nftables.ConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService)
	return t
}

func fixedSets() []*nftables.Set {
	epKeyType, _ := nftables.ConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService, nftables.TypeMark)
	npEpKeyType, _ := nftables.ConcatSetType(nftables.TypeInetProto, nftables.TypeInetService, nftables.TypeMark)
	return []*nftables.Set{
		{Table: table, Name: mapEndpoints, IsMap: true, KeyType: epKeyType, DataType: endpointType(), Concatenation: true},
		{Table: table, Name: mapNodePortEPs, IsMap: true, KeyType: npEpKeyType, DataType: endpointType(), Concatenation: true},
		{Table: table, Name: mapServiceIPs, IsMap: true, KeyType: ipKeyType(), DataType: nftables.TypeVerdict, Concatenation: true},
		{Table: table, Name: mapNodePorts, IsMap: true, KeyType: portKeyType(), DataType: nftables.TypeVerdict, Concatenation: true},
		{Table: table, Name: setRejectIPs, KeyType: ipKeyType(), Concatenation: true},
		{Table: table, Name: setRejectPorts, KeyType: portKeyType(), Concatenation: true},
		{Table: table, Name: setLocalEPs, KeyType: nftables.TypeIPAddr},
	}
}

func setRef(name string) *nftables.Set {
	for _, s := range fixedSets() {
		if s.Name == name {
			return s
		}
	}
	return &nftables.Set{Table: table, Name: name}
}

func affinitySet(name string, timeout time.Duration) *nftables.Set {
	return &nftables.Set{Table: table, Name: name, KeyType: nftables.TypeIPAddr, Dynamic: true, HasTimeout: true, Timeout: timeout}
}

func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func ne32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

func ipKeyBytes(k ipKey) []byte {
	b := append([]byte{}, k.IP[:]...)
	b = append(b, pad4([]byte{k.Proto})...)
	return append(b, pad4(be16(k.Port))...)
}

func portKeyBytes(k portKey) []byte {
	return append(pad4([]byte{k.Proto}), pad4(be16(k.Port))...)
}

func endpointBytes(ep endpoint) []byte {
	return append(append([]byte{}, ep.IP[:]...), pad4(be16(ep.Port))...)
}

func gotoElem(key []byte, chain string) nftables.SetElement {
	return nftables.SetElement{Key: key, VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: chain}}
}

// loadDispatchKey loads ip daddr . meta l4proto . th dport into reg 1.
func loadDispatchKey() []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 9},
		&expr.Payload{DestRegister: 10, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
	}
}

// loadPortKey loads meta l4proto . th dport into reg 1 (NodePort keys).
func loadPortKey() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Payload{DestRegister: 9, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
	}
}

func matchProto(p uint8) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
	}
}

func matchSaddrNet(n *net.IPNet, op expr.CmpOp) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte(n.Mask), Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: op, Register: 1, Data: []byte(n.IP.To4())},
	}
}

func setMark() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: ne32(^uint32(masqMark)), Xor: ne32(masqMark)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
	}
}

func dnatTo(ep endpoint) []expr.Any {
	return []expr.Any{
		&expr.Immediate{Register: 1, Data: ep.IP[:]},
		&expr.Immediate{Register: 2, Data: be16(ep.Port)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegAddrMax: 1, RegProtoMin: 2, RegProtoMax: 2, Specified: true},
	}
}

// exprs turns a Service chain rule into netlink expressions.
func (r rule) exprs() []expr.Any {
	var e []expr.Any
	switch r.Kind {
	case ruleMark:
		if r.Src != nil {
			e = append(e, matchSaddrNet(r.Src, expr.CmpOpNeq)...)
		}
		e = append(e, setMark()...)
	case ruleAffinity:
		e = append(e,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Lookup{SourceRegister: 1, SetName: r.Set})
		e = append(e, matchProto(r.Proto)...)
		e = append(e, dnatTo(r.EP)...)
	case ruleDNAT:
		e = append(e, matchProto(r.Proto)...)
		if r.Mod > 0 {
			e = append(e,
				&expr.Numgen{Register: 1, Modulus: r.Mod, Type: unix.NFT_NG_RANDOM},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ne32(0)})
		}
		if r.Set != "" {
			e = append(e,
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
				&expr.Dynset{SrcRegKey: 1, SetName: r.Set, Operation: uint32(unix.NFT_DYNSET_OP_UPDATE), Timeout: r.Timeout})
		}
		e = append(e, dnatTo(r.EP)...)
	case ruleGotoIfPodSource:
		e = append(e, matchSaddrNet(r.Src, expr.CmpOpEq)...)
		e = append(e, &expr.Verdict{Kind: expr.VerdictGoto, Chain: r.Target})
	case ruleDrop:
		e = append(e, &expr.Verdict{Kind: expr.VerdictDrop})
	}
	return e
}

// baseChain is a chain of the fixed part of the table with its rules.
type baseChain struct {
	chain *nftables.Chain
	rules [][]expr.Any
}

// baseChains is the fixed part of the table: hooks, dispatch, the shared
// pick chains and the reject chains. Every rule here runs for the first
// packet of every connection the node sees, Service or not, so the
// cheapest test that rules most packets out comes first.
func baseChains(cidr *net.IPNet) []baseChain {
	pol := nftables.ChainPolicyAccept
	hook := func(name string, typ nftables.ChainType, h *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
		return &nftables.Chain{Table: table, Name: name, Type: typ, Hooknum: h, Priority: prio, Policy: &pol}
	}
	// A NodePort is looked up in its map (a hash lookup, which most
	// packets miss) before fib checks that the address is local.
	nodePort := append(loadPortKey(),
		&expr.Lookup{SourceRegister: 1, SetName: mapNodePorts},
		&expr.Fib{Register: 2, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 2, Data: ne32(unix.RTN_LOCAL)},
		&expr.Lookup{SourceRegister: 1, DestRegister: 0, IsDestRegSet: true, SetName: mapNodePorts})
	chains := []baseChain{{chainRef(chainServices), [][]expr.Any{
		append(loadDispatchKey(), &expr.Lookup{SourceRegister: 1, DestRegister: 0, IsDestRegSet: true, SetName: mapServiceIPs}),
		nodePort,
	}}}
	// The shared pick chains: mark for masquerade, then DNAT to entry
	// (frontend . numgen random mod n) of the endpoint map.
	for n := 1; n <= maxPick; n++ {
		for _, np := range []bool{false, true} {
			name, key, set, next := pickChain(n), loadDispatchKey(), mapEndpoints, uint32(11)
			if np {
				name, key, set, next = pickNodePortChain(n), loadPortKey(), mapNodePortEPs, 10
			}
			var index expr.Any = &expr.Numgen{Register: next, Modulus: uint32(n), Type: unix.NFT_NG_RANDOM}
			if n == 1 {
				index = &expr.Immediate{Register: next, Data: ne32(0)}
			}
			// NodePort traffic is masqueraded whatever its source, as
			// kube-proxy masquerades external traffic of policy Cluster:
			// a pod reaching another node's NodePort would otherwise get
			// the endpoint's reply straight from the endpoint's node,
			// past the node that DNATed it. Service IPs only for sources
			// outside the cluster (a pod's packet is DNATed on its own
			// node, where the reply comes back anyway).
			mark := rule{Kind: ruleMark, Src: cidr}
			if np {
				mark.Src = nil
			}
			chains = append(chains, baseChain{chainRef(name), [][]expr.Any{
				mark.exprs(),
				append(key, index,
					&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: set},
					&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegAddrMax: 1, RegProtoMin: 9, RegProtoMax: 9, Specified: true}),
			}})
		}
	}
	jumpServices := []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: chainServices}}
	chains = append(chains,
		baseChain{hook("nat_prerouting", nftables.ChainTypeNAT, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest), [][]expr.Any{jumpServices}},
		baseChain{hook("nat_output", nftables.ChainTypeNAT, nftables.ChainHookOutput, nftables.ChainPriorityNATDest), [][]expr.Any{jumpServices}})

	// Masquerade what the Service chains marked, and clear the mark.
	post := [][]expr.Any{{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: ne32(masqMark), Xor: ne32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ne32(0)},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: ne32(^uint32(masqMark)), Xor: ne32(0)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
		&expr.Masq{},
	}}
	if cidr != nil {
		// Hairpin: a local pod DNATed to an endpoint on this node's bridge
		// (itself included) would get the reply straight from the
		// endpoint, bypassing conntrack; masquerade so it comes back here.
		e := []expr.Any{
			&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: ne32(ipsDstNAT), Xor: ne32(0)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ne32(0)},
		}
		e = append(e, matchSaddrNet(cidr, expr.CmpOpEq)...)
		e = append(e,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Lookup{SourceRegister: 1, SetName: setLocalEPs},
			&expr.Masq{})
		post = append(post, e)
	}
	chains = append(chains, baseChain{hook("nat_postrouting", nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource), post})

	// Services without endpoints: refuse at once instead of timing out.
	// Only a connection's first packet is looked at: one set lookup for
	// ClusterIPs, one for NodePorts (then fib), and only a hit goes on
	// to the reject rules.
	gotoReject := &expr.Verdict{Kind: expr.VerdictGoto, Chain: chainRejectPacket}
	chains = append(chains,
		baseChain{chainRef(chainReject), [][]expr.Any{
			append(loadDispatchKey(), &expr.Lookup{SourceRegister: 1, SetName: setRejectIPs}, gotoReject),
			append(loadPortKey(),
				&expr.Lookup{SourceRegister: 1, SetName: setRejectPorts},
				&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ne32(unix.RTN_LOCAL)},
				gotoReject),
		}},
		baseChain{chainRef(chainRejectPacket), [][]expr.Any{
			append(matchProto(protoTCP), &expr.Reject{Type: unix.NFT_REJECT_TCP_RST}),
			{&expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: icmpPortUnreach}},
		}})
	for _, h := range []struct {
		name string
		hook *nftables.ChainHook
	}{{"filter_input", nftables.ChainHookInput}, {"filter_forward", nftables.ChainHookForward}, {"filter_output", nftables.ChainHookOutput}} {
		prio := nftables.ChainPriorityRef(*nftables.ChainPriorityFilter - 1)
		chains = append(chains, baseChain{hook(h.name, nftables.ChainTypeFilter, h.hook, prio), [][]expr.Any{{
			&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: ne32(expr.CtStateBitNEW), Xor: ne32(0)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ne32(0)},
			&expr.Verdict{Kind: expr.VerdictJump, Chain: chainReject},
		}}})
	}
	return chains
}

// addBase adds the fixed part of the table: sets, then every chain before
// any rule (a rule may jump to a chain defined after it), then the rules.
func addBase(c *nftables.Conn, cidr *net.IPNet) error {
	for _, s := range fixedSets() {
		if err := c.AddSet(s, nil); err != nil {
			return fmt.Errorf("adding set %s: %w", s.Name, err)
		}
	}
	chains := baseChains(cidr)
	for _, bc := range chains {
		c.AddChain(bc.chain)
	}
	for _, bc := range chains {
		for _, e := range bc.rules {
			c.AddRule(&nftables.Rule{Table: table, Chain: bc.chain, Exprs: e})
		}
	}
	return nil
}

func addElems(c *nftables.Conn, s *nftables.Set, els []nftables.SetElement, del bool) error {
	for len(els) > 0 {
		n := min(elementsPerMsg, len(els))
		var err error
		if del {
			err = c.SetDeleteElements(s, els[:n])
		} else {
			err = c.SetAddElements(s, els[:n])
		}
		if err != nil {
			return err
		}
		els = els[n:]
	}
	return nil
}

// localElem is a local endpoint's element of setLocalEPs.
func localElem(ip [4]byte) nftables.SetElement {
	return nftables.SetElement{Key: append([]byte{}, ip[:]...)}
}

func chainRef(name string) *nftables.Chain { return &nftables.Chain{Table: table, Name: name} }

func addRules(c *nftables.Conn, chain string, rs []rule) {
	ch := chainRef(chain)
	for _, r := range rs {
		c.AddRule(&nftables.Rule{Table: table, Chain: ch, Exprs: r.exprs()})
	}
}

func rulesEqual(a, b []rule) bool { return slices.Equal(a, b) }
