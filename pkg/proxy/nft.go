package proxy

import (
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

	mapServiceIPs   = "service_ips"
	mapNodePorts    = "service_nodeports"
	mapEndpoints    = "endpoints"
	mapNodePortEPs  = "nodeport_endpoints"
	setRejectIPs    = "reject_ips"
	setRejectPorts  = "reject_nodeports"
	setLocalEPs     = "local_endpoints"
	chainServices   = "services"
	chainReject     = "reject_no_endpoints"
	elementsPerMsg  = 400
	netlinkBufBytes = 512 << 20
	ipsDstNAT       = 0x20 // IPS_DST_NAT conntrack status bit
	icmpPortUnreach = 3
)

var table = &nftables.Table{Name: TableName, Family: nftables.TableFamilyIPv4}

// writer applies States to the kernel, one netlink batch per call.
type writer struct {
	// netnsFd, when non-zero, is the network namespace to program.
	netnsFd int
	applied *State
	// appliedLocal is the local endpoint set as written.
	appliedLocal map[[4]byte]struct{}
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

// loadLocalPortKey checks fib daddr type local and loads l4proto . th dport.
func loadLocalPortKey() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ne32(unix.RTN_LOCAL)},
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

// addBase adds the fixed part of the table: sets, hooks, dispatch.
func addBase(c *nftables.Conn, cidr *net.IPNet) error {
	for _, s := range fixedSets() {
		if err := c.AddSet(s, nil); err != nil {
			return fmt.Errorf("adding set %s: %w", s.Name, err)
		}
	}
	pol := nftables.ChainPolicyAccept
	hook := func(name string, typ nftables.ChainType, h *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
		return c.AddChain(&nftables.Chain{Table: table, Name: name, Type: typ, Hooknum: h, Priority: prio, Policy: &pol})
	}
	svc := c.AddChain(&nftables.Chain{Table: table, Name: chainServices})
	c.AddRule(&nftables.Rule{Table: table, Chain: svc, Exprs: append(loadDispatchKey(),
		&expr.Lookup{SourceRegister: 1, DestRegister: 0, IsDestRegSet: true, SetName: mapServiceIPs})})
	c.AddRule(&nftables.Rule{Table: table, Chain: svc, Exprs: append(loadLocalPortKey(),
		&expr.Lookup{SourceRegister: 1, DestRegister: 0, IsDestRegSet: true, SetName: mapNodePorts})})
	// The shared pick chains: mark for masquerade, then DNAT to entry
	// (frontend . numgen random mod n) of the endpoint map.
	for n := 1; n <= maxPick; n++ {
		for _, np := range []bool{false, true} {
			name, key, set := pickChain(n), loadDispatchKey(), mapEndpoints
			next := uint32(11)
			if np {
				name, set, next = pickNodePortChain(n), mapNodePortEPs, 10
				key = []expr.Any{
					&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
					&expr.Payload{DestRegister: 9, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
				}
			}
			ch := c.AddChain(&nftables.Chain{Table: table, Name: name})
			c.AddRule(&nftables.Rule{Table: table, Chain: ch, Exprs: rule{Kind: ruleMark, Src: cidr}.exprs()})
			e := append(key, &expr.Numgen{Register: next, Modulus: uint32(n), Type: unix.NFT_NG_RANDOM},
				&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: set},
				&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegAddrMax: 1, RegProtoMin: 9, RegProtoMax: 9, Specified: true})
			c.AddRule(&nftables.Rule{Table: table, Chain: ch, Exprs: e})
		}
	}
	jumpServices := []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: chainServices}}
	pre := hook("nat_prerouting", nftables.ChainTypeNAT, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest)
	c.AddRule(&nftables.Rule{Table: table, Chain: pre, Exprs: jumpServices})
	out := hook("nat_output", nftables.ChainTypeNAT, nftables.ChainHookOutput, nftables.ChainPriorityNATDest)
	c.AddRule(&nftables.Rule{Table: table, Chain: out, Exprs: jumpServices})

	post := hook("nat_postrouting", nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource)
	// Masquerade what the Service chains marked, and clear the mark.
	c.AddRule(&nftables.Rule{Table: table, Chain: post, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: ne32(masqMark), Xor: ne32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ne32(0)},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: ne32(^uint32(masqMark)), Xor: ne32(0)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
		&expr.Masq{},
	}})
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
		c.AddRule(&nftables.Rule{Table: table, Chain: post, Exprs: e})
	}
	// Services without endpoints: refuse at once instead of timing out.
	// Only a connection's first packet is looked at, and the nodeport
	// set is checked before the (dearer) fib lookup.
	rej := c.AddChain(&nftables.Chain{Table: table, Name: chainReject})
	tcpRST := &expr.Reject{Type: unix.NFT_REJECT_TCP_RST}
	icmp := &expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: icmpPortUnreach}
	ipLookup := append(loadDispatchKey(), &expr.Lookup{SourceRegister: 1, SetName: setRejectIPs})
	portLookup := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Payload{DestRegister: 9, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: 1, SetName: setRejectPorts},
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ne32(unix.RTN_LOCAL)},
	}
	for _, m := range [][]expr.Any{ipLookup, portLookup} {
		c.AddRule(&nftables.Rule{Table: table, Chain: rej, Exprs: append(append(append([]expr.Any{}, m...), matchProto(protoTCP)...), tcpRST)})
		c.AddRule(&nftables.Rule{Table: table, Chain: rej, Exprs: append(append([]expr.Any{}, m...), icmp)})
	}
	for _, h := range []struct {
		name string
		hook *nftables.ChainHook
	}{{"filter_input", nftables.ChainHookInput}, {"filter_forward", nftables.ChainHookForward}, {"filter_output", nftables.ChainHookOutput}} {
		prio := nftables.ChainPriorityRef(*nftables.ChainPriorityFilter - 1)
		ch := hook(h.name, nftables.ChainTypeFilter, h.hook, prio)
		c.AddRule(&nftables.Rule{Table: table, Chain: ch, Exprs: []expr.Any{
			&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: ne32(expr.CtStateBitNEW), Xor: ne32(0)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ne32(0)},
			&expr.Verdict{Kind: expr.VerdictJump, Chain: chainReject},
		}})
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
	plain := func(b [4]byte) nftables.SetElement { return nftables.SetElement{Key: append([]byte{}, b[:]...)} }
	var delLocal, addLocal []nftables.SetElement
	for ip := range w.appliedLocal {
		if _, ok := st.LocalEndpoints[ip]; !ok || replaced {
			delLocal = append(delLocal, plain(ip))
		}
	}
	for ip := range st.LocalEndpoints {
		if _, ok := w.appliedLocal[ip]; !ok || replaced {
			addLocal = append(addLocal, plain(ip))
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
	ipK := func(k ipKey) []byte { return ipKeyBytes(k) }
	pK := func(k portKey) []byte { return portKeyBytes(k) }
	type job struct {
		set      string
		del, add []nftables.SetElement
	}
	var jobs []job
	d, a := elemDiff(old.ServiceIPs, st.ServiceIPs, ipK, func(k ipKey, v string) nftables.SetElement { return gotoElem(ipKeyBytes(k), v) })
	jobs = append(jobs, job{mapServiceIPs, d, a})
	d, a = elemDiff(old.NodePorts, st.NodePorts, pK, func(k portKey, v string) nftables.SetElement { return gotoElem(portKeyBytes(k), v) })
	jobs = append(jobs, job{mapNodePorts, d, a})
	plain := func(b []byte) nftables.SetElement { return nftables.SetElement{Key: b} }
	epK := func(k epKey) []byte { return append(ipKeyBytes(k.Front), ne32(k.Index)...) }
	d, a = elemDiff(old.Endpoints, st.Endpoints, epK, func(k epKey, v endpoint) nftables.SetElement {
		return nftables.SetElement{Key: epK(k), Val: endpointBytes(v)}
	})
	jobs = append(jobs, job{mapEndpoints, d, a})
	npK := func(k npEpKey) []byte { return append(portKeyBytes(k.Front), ne32(k.Index)...) }
	d, a = elemDiff(old.NodePortEndpoints, st.NodePortEndpoints, npK, func(k npEpKey, v endpoint) nftables.SetElement {
		return nftables.SetElement{Key: npK(k), Val: endpointBytes(v)}
	})
	jobs = append(jobs, job{mapNodePortEPs, d, a})
	d, a = elemDiff(old.RejectIPs, st.RejectIPs, ipK, func(k ipKey, _ struct{}) nftables.SetElement { return plain(ipKeyBytes(k)) })
	jobs = append(jobs, job{setRejectIPs, d, a})
	d, a = elemDiff(old.RejectNodePorts, st.RejectNodePorts, pK, func(k portKey, _ struct{}) nftables.SetElement { return plain(portKeyBytes(k)) })
	jobs = append(jobs, job{setRejectPorts, d, a})
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

// Verify reports whether the kernel table still has what was applied
// (someone may have flushed or deleted it): every chain present and the
// dispatch map complete.
func (w *writer) Verify() error {
	if w.applied == nil {
		return errors.New("nothing applied")
	}
	c, err := w.conn()
	if err != nil {
		return err
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return fmt.Errorf("listing chains: %w", err)
	}
	have := map[string]bool{}
	for _, ch := range chains {
		if ch.Table.Name == TableName {
			have[ch.Name] = true
		}
	}
	for _, n := range []string{chainServices, chainReject, pickChain(maxPick), pickNodePortChain(maxPick), "nat_prerouting", "nat_output", "nat_postrouting", "filter_input", "filter_forward", "filter_output"} {
		if !have[n] {
			return fmt.Errorf("chain %s missing", n)
		}
	}
	for n := range w.applied.Chains {
		if !have[n] {
			return fmt.Errorf("chain %s missing", n)
		}
	}
	els, err := c.GetSetElements(setRef(mapServiceIPs))
	if err != nil {
		return fmt.Errorf("reading %s: %w", mapServiceIPs, err)
	}
	if len(els) != len(w.applied.ServiceIPs) {
		return fmt.Errorf("map %s has %d elements, want %d", mapServiceIPs, len(els), len(w.applied.ServiceIPs))
	}
	if els, err = c.GetSetElements(setRef(mapEndpoints)); err != nil {
		return fmt.Errorf("reading %s: %w", mapEndpoints, err)
	}
	if len(els) != len(w.applied.Endpoints) {
		return fmt.Errorf("map %s has %d elements, want %d", mapEndpoints, len(els), len(w.applied.Endpoints))
	}
	return nil
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
