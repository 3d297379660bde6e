package proxy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

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

// writer applies States to the kernel, one netlink batch per call.
type writer struct {
	// netnsFd, when non-zero, is the network namespace to program.
	netnsFd int
	applied *State
	// appliedLocal is the local endpoint set as written.
	appliedLocal map[[4]byte]struct{}
	// verifiedGen is the netns's ruleset generation when Verify last
	// found the table as applied (valid if verified is set).
	verifiedGen uint32
	verified    bool
}

// netlinkHandle is a vishvananda/netlink handle in the writer's netns.
func (w *writer) netlinkHandle() (*vnl.Handle, error) {
	if w.netnsFd != 0 {
		return vnl.NewHandleAt(netns.NsHandle(w.netnsFd))
	}
	return vnl.NewHandle()
}

func (w *writer) conn() (*nftables.Conn, error) {
	opts := []nftables.ConnOption{nftables.WithSockOptions(bigBuffers)}
	if w.netnsFd != 0 {
		opts = append(opts, nftables.WithNetNSFd(w.netnsFd))
	}
	return nftables.New(opts...)
}

// bigBuffers lets one batch of a large ruleset and its acks fit in the
// socket buffers (the cause of "no buffer space" on large batches).
func bigBuffers(c *netlink.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, netlinkBufBytes); serr != nil {
			return
		}
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, netlinkBufBytes)
	}); err != nil {
		return err
	}
	return serr
}

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
			chains = append(chains, baseChain{chainRef(name), [][]expr.Any{
				rule{Kind: ruleMark, Src: cidr}.exprs(),
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

// elemDiff lists elements of a map/set to delete and to add going from old
// to new (a changed value is a delete and an add).
func elemDiff[K comparable, V comparable](old, new map[K]V, key func(K) []byte, val func(K, V) nftables.SetElement) (del, add []nftables.SetElement) {
	for k, v := range old {
		if nv, ok := new[k]; !ok || nv != v {
			del = append(del, nftables.SetElement{Key: key(k)})
		}
	}
	for k, v := range new {
		if ov, ok := old[k]; !ok || ov != v {
			add = append(add, val(k, v))
		}
	}
	return del, add
}

// Apply makes the kernel table equal to st in one batch: the whole table
// when nothing was applied before (or full is set), else only what
// changed since the last successful Apply.
func (w *writer) Apply(st *State, full bool) error { return w.apply(st, full, nil) }

// change is one Service's part of the table before and after (nil: none).
type change struct{ old, new *State }

// ApplyChanges writes only the given per-Service differences; st is the
// whole State after them. Without a previous Apply it writes st whole.
func (w *writer) ApplyChanges(st *State, changes []change) error {
	if changes == nil {
		changes = []change{}
	}
	return w.apply(st, false, changes)
}

func (w *writer) apply(st *State, full bool, changes []change) error {
	c, err := w.conn()
	if err != nil {
		return fmt.Errorf("opening netlink: %w", err)
	}
	old := w.applied
	replaced := false
	if full || old == nil || !sameCIDR(old.ClusterCIDR, st.ClusterCIDR) {
		changes, replaced = nil, true
		// Replace the table in the same batch: there is never a moment
		// without rules, and leftovers of a crashed run go away.
		c.AddTable(table)
		c.DelTable(table)
		c.AddTable(table)
		if err := addBase(c, st.ClusterCIDR); err != nil {
			return err
		}
		old = newState(st.ClusterCIDR)
	}
	if changes == nil {
		changes = []change{{old, st}}
	}
	for _, ch := range changes {
		o, n := ch.old, ch.new
		if o == nil {
			o = newState(st.ClusterCIDR)
		}
		if n == nil {
			n = newState(st.ClusterCIDR)
		}
		if err := diff(c, o, n); err != nil {
			return err
		}
	}
	// Local endpoints are shared between Services: diff them whole.
	var delLocal, addLocal []nftables.SetElement
	for ip := range w.appliedLocal {
		if _, ok := st.LocalEndpoints[ip]; !ok || replaced {
			delLocal = append(delLocal, localElem(ip))
		}
	}
	for ip := range st.LocalEndpoints {
		if _, ok := w.appliedLocal[ip]; !ok || replaced {
			addLocal = append(addLocal, localElem(ip))
		}
	}
	if replaced {
		delLocal = nil
	}
	if err := addElems(c, setRef(setLocalEPs), delLocal, true); err != nil {
		return err
	}
	if err := addElems(c, setRef(setLocalEPs), addLocal, false); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		w.applied = nil
		return fmt.Errorf("writing nftables table %s: %w", TableName, err)
	}
	w.applied = st
	w.appliedLocal = make(map[[4]byte]struct{}, len(st.LocalEndpoints))
	for ip := range st.LocalEndpoints {
		w.appliedLocal[ip] = struct{}{}
	}
	return nil
}

// elemJob is the elements of one map or set to delete and to add.
type elemJob struct {
	set      string
	del, add []nftables.SetElement
}

// elemJobs lists the element changes of every fixed map and set from old
// to st (local endpoints, shared between Services, aside).
func elemJobs(old, st *State) []elemJob {
	ipK := func(k ipKey) []byte { return ipKeyBytes(k) }
	pK := func(k portKey) []byte { return portKeyBytes(k) }
	plain := func(b []byte) nftables.SetElement { return nftables.SetElement{Key: b} }
	epK := func(k epKey) []byte { return append(ipKeyBytes(k.Front), ne32(k.Index)...) }
	npK := func(k npEpKey) []byte { return append(portKeyBytes(k.Front), ne32(k.Index)...) }
	var jobs []elemJob
	d, a := elemDiff(old.ServiceIPs, st.ServiceIPs, ipK, func(k ipKey, v string) nftables.SetElement { return gotoElem(ipKeyBytes(k), v) })
	jobs = append(jobs, elemJob{mapServiceIPs, d, a})
	d, a = elemDiff(old.NodePorts, st.NodePorts, pK, func(k portKey, v string) nftables.SetElement { return gotoElem(portKeyBytes(k), v) })
	jobs = append(jobs, elemJob{mapNodePorts, d, a})
	d, a = elemDiff(old.Endpoints, st.Endpoints, epK, func(k epKey, v endpoint) nftables.SetElement {
		return nftables.SetElement{Key: epK(k), Val: endpointBytes(v)}
	})
	jobs = append(jobs, elemJob{mapEndpoints, d, a})
	d, a = elemDiff(old.NodePortEndpoints, st.NodePortEndpoints, npK, func(k npEpKey, v endpoint) nftables.SetElement {
		return nftables.SetElement{Key: npK(k), Val: endpointBytes(v)}
	})
	jobs = append(jobs, elemJob{mapNodePortEPs, d, a})
	d, a = elemDiff(old.RejectIPs, st.RejectIPs, ipK, func(k ipKey, _ struct{}) nftables.SetElement { return plain(ipKeyBytes(k)) })
	jobs = append(jobs, elemJob{setRejectIPs, d, a})
	d, a = elemDiff(old.RejectNodePorts, st.RejectNodePorts, pK, func(k portKey, _ struct{}) nftables.SetElement { return plain(portKeyBytes(k)) })
	jobs = append(jobs, elemJob{setRejectPorts, d, a})
	return jobs
}

// diff queues the messages that turn old into st.
func diff(c *nftables.Conn, old, st *State) error {
	for n, t := range st.AffinitySets {
		if ot, ok := old.AffinitySets[n]; !ok || ot != t {
			if ok {
				c.DelSet(affinitySet(n, ot))
			}
			if err := c.AddSet(affinitySet(n, t), nil); err != nil {
				return err
			}
		}
	}
	// All new chains first: a rule may jump to another new chain.
	for n := range st.Chains {
		if _, ok := old.Chains[n]; !ok {
			c.AddChain(chainRef(n))
		}
	}
	for n, rs := range st.Chains {
		if ors, ok := old.Chains[n]; ok {
			if rulesEqual(ors, rs) {
				continue
			}
			c.FlushChain(chainRef(n))
		}
		addRules(c, n, rs)
	}
	jobs := elemJobs(old, st)
	for _, j := range jobs {
		if err := addElems(c, setRef(j.set), j.del, true); err != nil {
			return err
		}
	}
	for _, j := range jobs {
		if err := addElems(c, setRef(j.set), j.add, false); err != nil {
			return err
		}
	}
	// Empty every removed chain before deleting any: one may jump to another.
	var gone []string
	for n := range old.Chains {
		if _, ok := st.Chains[n]; !ok {
			c.FlushChain(chainRef(n))
			gone = append(gone, n)
		}
	}
	for _, n := range gone {
		c.DelChain(chainRef(n))
	}
	for n, t := range old.AffinitySets {
		if _, ok := st.AffinitySets[n]; !ok {
			c.DelSet(affinitySet(n, t))
		}
	}
	return nil
}

func sameCIDR(a, b *net.IPNet) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.String() == b.String()
}

// Verify reads the table back and compares it with what the last sync
// wrote, as Run does every SyncPeriod (rewriting it when they differ).
func (p *Proxy) Verify() error { return p.w.Verify() }

// Verify reports whether the kernel table is still what was applied: the
// same chains (hooks included) holding the same rules, the same sets, and
// the same elements in every map and set but the affinity sets, which
// packets fill. Someone may have deleted, flushed or edited any part.
// It reads the whole table back: one dump per chain and per set.
//
// Every change to any table of the netns moves its ruleset generation,
// so while the generation stays where the last good check saw it the
// table cannot have changed, and the check is one small request.
func (w *writer) Verify() error {
	if w.applied == nil {
		return errors.New("nothing applied")
	}
	gen, err := w.generation()
	if err != nil {
		return fmt.Errorf("reading the ruleset generation: %w", err)
	}
	if w.verified && gen == w.verifiedGen {
		return nil
	}
	c, err := w.conn()
	if err != nil {
		return err
	}
	if err := verifyChains(c, w.applied); err != nil {
		return err
	}
	if err := w.verifySets(c, w.applied, w.appliedLocal); err != nil {
		return err
	}
	// A change made while comparing moved the generation past gen: the
	// next check compares again.
	w.verified, w.verifiedGen = true, gen
	return nil
}

// verifyChains compares the kernel's chains and rules with the base
// chains and the Service chains of st.
func verifyChains(c *nftables.Conn, st *State) error {
	want := map[string]baseChain{}
	for _, bc := range baseChains(st.ClusterCIDR) {
		want[bc.chain.Name] = bc
	}
	for n, rs := range st.Chains {
		bc := baseChain{chain: chainRef(n)}
		for _, r := range rs {
			bc.rules = append(bc.rules, r.exprs())
		}
		want[n] = bc
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return fmt.Errorf("listing chains: %w", err)
	}
	have := map[string]*nftables.Chain{}
	for _, ch := range chains {
		if ch.Table.Name == TableName {
			if _, ok := want[ch.Name]; !ok {
				return fmt.Errorf("unexpected chain %s", ch.Name)
			}
			have[ch.Name] = ch
		}
	}
	for n, bc := range want {
		ch := have[n]
		if ch == nil {
			return fmt.Errorf("chain %s missing", n)
		}
		if h, w := hookOf(ch), hookOf(bc.chain); h != w {
			return fmt.Errorf("chain %s is %q, want %q", n, h, w)
		}
		rules, err := c.GetRules(table, ch)
		if err != nil {
			return fmt.Errorf("reading chain %s: %w", n, err)
		}
		if len(rules) != len(bc.rules) {
			return fmt.Errorf("chain %s has %d rules, want %d", n, len(rules), len(bc.rules))
		}
		for i, r := range rules {
			if !sameExprs(r.Exprs, bc.rules[i]) {
				return fmt.Errorf("chain %s: rule %d changed", n, i)
			}
		}
	}
	return nil
}

// hookOf describes what makes a base chain (nothing for a regular one).
func hookOf(ch *nftables.Chain) string {
	s := string(ch.Type)
	if ch.Hooknum != nil {
		s += fmt.Sprintf(" hook %d", *ch.Hooknum)
	}
	if ch.Priority != nil {
		s += fmt.Sprintf(" priority %d", *ch.Priority)
	}
	if ch.Policy != nil {
		s += fmt.Sprintf(" policy %d", *ch.Policy)
	}
	return s
}

// sameExprs compares two rules by their netlink encoding: a rule read
// back from the kernel decodes to the fields it was written with.
func sameExprs(a, b []expr.Any) bool {
	if len(a) != len(b) {
		return false
	}
	fam := byte(nftables.TableFamilyIPv4)
	for i := range a {
		x, err1 := expr.Marshal(fam, a[i])
		y, err2 := expr.Marshal(fam, b[i])
		if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
			return false
		}
	}
	return true
}

// verifySets compares the kernel's sets and their elements with st.
func (w *writer) verifySets(c *nftables.Conn, st *State, local map[[4]byte]struct{}) error {
	want := map[string][]nftables.SetElement{}
	for _, j := range elemJobs(newState(st.ClusterCIDR), st) {
		want[j.set] = j.add
	}
	for ip := range local {
		want[setLocalEPs] = append(want[setLocalEPs], localElem(ip))
	}
	sets, err := c.GetSets(table)
	if err != nil {
		return fmt.Errorf("listing sets: %w", err)
	}
	have := map[string]*nftables.Set{}
	for _, s := range sets {
		have[s.Name] = s
	}
	for _, s := range fixedSets() {
		if have[s.Name] == nil {
			return fmt.Errorf("set %s missing", s.Name)
		}
		els, err := w.setElements(s.Name)
		if err != nil {
			return fmt.Errorf("reading set %s: %w", s.Name, err)
		}
		if err := sameElements(els, want[s.Name]); err != nil {
			return fmt.Errorf("set %s: %w", s.Name, err)
		}
	}
	for n := range st.AffinitySets {
		if have[n] == nil {
			return fmt.Errorf("set %s missing", n)
		}
	}
	if len(have) != len(fixedSets())+len(st.AffinitySets) {
		return fmt.Errorf("%d sets, want %d", len(have), len(fixedSets())+len(st.AffinitySets))
	}
	return nil
}

// sameElements compares the elements read back (key to value) with the
// wanted ones.
func sameElements(have map[string]string, want []nftables.SetElement) error {
	if len(have) != len(want) {
		return fmt.Errorf("%d elements, want %d", len(have), len(want))
	}
	for _, e := range want {
		v := string(e.Val)
		if e.VerdictData != nil {
			v = verdictString(uint32(e.VerdictData.Kind), e.VerdictData.Chain)
		}
		if h, ok := have[string(e.Key)]; !ok || h != v {
			return fmt.Errorf("element %x missing or changed", e.Key)
		}
	}
	return nil
}

func verdictString(code uint32, chain string) string {
	return fmt.Sprintf("verdict %d %s", int32(code), chain)
}

// dumpBufBytes is the receive buffer for reading sets back. The kernel
// sizes each chunk of a dump by the largest buffer the reader offered
// (up to 32 KiB) and walks the set from its start again for each chunk,
// so reading a large map in page-sized chunks (what the nftables library
// does) costs time quadratic in its size.
const dumpBufBytes = 32 << 10

// setElements reads a set's elements back as key to value (the value's
// bytes, or its verdict for a verdict map).
func (w *writer) setElements(name string) (map[string]string, error) {
	msgs, err := w.request(unix.NFT_MSG_GETSETELEM, netlink.Dump, []netlink.Attribute{
		{Type: unix.NFTA_SET_ELEM_LIST_TABLE, Data: []byte(TableName + "\x00")},
		{Type: unix.NFTA_SET_ELEM_LIST_SET, Data: []byte(name + "\x00")},
	})
	if err != nil {
		return nil, err
	}
	els := map[string]string{}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		if err := decodeElements(m.Data[4:], els); err != nil {
			return nil, err
		}
	}
	return els, nil
}

// generation reads the netns's ruleset generation.
func (w *writer) generation() (uint32, error) {
	msgs, err := w.request(unix.NFT_MSG_GETGEN, 0, nil)
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return 0, err
		}
		ad.ByteOrder = binary.BigEndian
		for ad.Next() {
			if ad.Type() == unix.NFTA_GEN_ID {
				return ad.Uint32(), ad.Err()
			}
		}
	}
	return 0, errors.New("no generation in the answer")
}

// request sends one nftables request in the writer's netns and returns
// the answer, receiving into dumpBufBytes buffers.
func (w *writer) request(typ uint16, flags netlink.HeaderFlags, attrs []netlink.Attribute) ([]netlink.Message, error) {
	conn, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: w.netnsFd, MessageBufferSize: dumpBufBytes})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	data, err := netlink.MarshalAttributes(attrs)
	if err != nil {
		return nil, err
	}
	return conn.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | typ), Flags: netlink.Request | flags},
		// nfgenmsg: family, version, resource id.
		Data: append([]byte{unix.NFPROTO_IPV4, unix.NFNETLINK_V0, 0, 0}, data...),
	})
}

// decodeElements adds the elements of one NFT_MSG_NEWSETELEM message.
func decodeElements(b []byte, els map[string]string) error {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return err
	}
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		if ad.Type() != unix.NFTA_SET_ELEM_LIST_ELEMENTS {
			continue
		}
		ad.Nested(func(list *netlink.AttributeDecoder) error {
			for list.Next() {
				list.Nested(func(el *netlink.AttributeDecoder) error {
					var key, val string
					for el.Next() {
						switch el.Type() {
						case unix.NFTA_SET_ELEM_KEY:
							el.Nested(func(d *netlink.AttributeDecoder) error { key = decodeData(d); return nil })
						case unix.NFTA_SET_ELEM_DATA:
							el.Nested(func(d *netlink.AttributeDecoder) error { val = decodeData(d); return nil })
						}
					}
					els[key] = val
					return nil
				})
			}
			return nil
		})
	}
	return ad.Err()
}

// decodeData renders an nft_data: its bytes, or the verdict it holds.
func decodeData(d *netlink.AttributeDecoder) string {
	var s string
	for d.Next() {
		switch d.Type() {
		case unix.NFTA_DATA_VALUE:
			s = string(d.Bytes())
		case unix.NFTA_DATA_VERDICT:
			var code uint32
			var chain string
			d.Nested(func(v *netlink.AttributeDecoder) error {
				for v.Next() {
					switch v.Type() {
					case unix.NFTA_VERDICT_CODE:
						code = v.Uint32()
					case unix.NFTA_VERDICT_CHAIN:
						chain = v.String()
					}
				}
				return nil
			})
			s = verdictString(code, chain)
		}
	}
	return s
}

// Delete removes the table.
func (w *writer) Delete() error {
	c, err := w.conn()
	if err != nil {
		return err
	}
	c.AddTable(table)
	c.DelTable(table)
	w.applied = nil
	if err := c.Flush(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("deleting table %s: %w", TableName, err)
	}
	return nil
}
