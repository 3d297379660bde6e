package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

func bigBuf(c *netlink.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 256<<20)
		if serr == nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 256<<20)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

func port(p uint16) []byte { b := make([]byte, 2); binary.BigEndian.PutUint16(b, p); return b }
func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func gnftConn(big bool) (*nftables.Conn, error) {
	if big {
		return nftables.New(nftables.WithSockOptions(bigBuf))
	}
	return nftables.New()
}

var tbl = &nftables.Table{Name: "minik8s", Family: nftables.TableFamilyIPv4}

var epsMap *nftables.Set

func gnftSvcRules(c *nftables.Conn, ch *nftables.Chain, i, gen int) error {
	if shared {
		return gnftSvcRulesShared(c, ch, i, gen)
	}
	if perRule {
		return gnftSvcRulesPerRule(c, ch, i, gen)
	}
	// ip saddr != 10.244.0.0/16 mark
	c.AddRule(&nftables.Rule{Table: tbl, Chain: ch, Exprs: []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 2},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{10, 244}},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binary.NativeEndian.AppendUint32(nil, 0xffffbfff), Xor: binary.NativeEndian.AppendUint32(nil, 0x4000)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
	}})
	dt, _ := nftables.ConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService)
	m := &nftables.Set{Table: tbl, Anonymous: true, Constant: true, IsMap: true, KeyType: nftables.TypeInteger, DataType: dt, Name: "__map%d"}
	var els []nftables.SetElement
	for e := 0; e < 5; e++ {
		ip := net.IPv4(10, byte(100+e), byte(i/256), byte((i+gen)%256)).To4()
		els = append(els, nftables.SetElement{Key: binary.NativeEndian.AppendUint32(nil, uint32(e)), Val: append(pad4(append([]byte{}, ip...)), pad4(port(8080))...)})
	}
	if err := c.AddSet(m, els); err != nil {
		return err
	}
	c.AddRule(&nftables.Rule{Table: tbl, Chain: ch, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Numgen{Register: 1, Modulus: 5, Type: unix.NFT_NG_RANDOM},
		&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetID: m.ID, SetName: m.Name},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegAddrMax: 1, RegProtoMin: 9, RegProtoMax: 9, Specified: true},
	}})
	return nil
}

func gnftFull(n int, big bool) (time.Duration, error) {
	c, err := gnftConn(big)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	c.AddTable(tbl)
	c.FlushTable(tbl)
	kt, _ := nftables.ConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)
	svc := &nftables.Set{Table: tbl, Name: "svc", IsMap: true, KeyType: kt, DataType: nftables.TypeVerdict, Concatenation: true}
	if err := c.AddSet(svc, nil); err != nil {
		return 0, err
	}
	if shared {
		kt2, _ := nftables.ConcatSetType(nftables.TypeInteger, nftables.TypeInteger)
		dt2, _ := nftables.ConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService)
		epsMap = &nftables.Set{Table: tbl, Name: "eps", IsMap: true, KeyType: kt2, DataType: dt2, Concatenation: true}
		if err := c.AddSet(epsMap, nil); err != nil {
			return 0, err
		}
	}
	pre := c.AddChain(&nftables.Chain{Table: tbl, Name: "pre", Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest})
	c.AddRule(&nftables.Rule{Table: tbl, Chain: pre, Exprs: []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 9},
		&expr.Payload{DestRegister: 10, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: 1, DestRegister: 0, IsDestRegSet: true, SetID: svc.ID, SetName: svc.Name},
	}})
	var els []nftables.SetElement
	var pend []nftables.SetElement
	if shared {
		for i := 0; i < n; i++ {
			id := uint32(i + 1)
			for e := 0; e < 5; e++ {
				ip := net.IPv4(10, byte(100+e), byte(i/256), byte((i)%256)).To4()
				pend = append(pend, nftables.SetElement{Key: append(binary.BigEndian.AppendUint32(nil, id), binary.NativeEndian.AppendUint32(nil, uint32(e))...), Val: append(pad4(append([]byte{}, ip...)), pad4(port(8080))...)})
			}
		}
		for len(pend) > 0 {
			k := min(500, len(pend))
			if err := c.SetAddElements(epsMap, pend[:k]); err != nil {
				return 0, err
			}
			pend = pend[k:]
		}
		var discard []nftables.SetElement
		pending = &discard
	}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("svc_%d", i)
		ch := c.AddChain(&nftables.Chain{Table: tbl, Name: name})
		if err := gnftSvcRules(c, ch, i, 0); err != nil {
			return 0, err
		}
		els = append(els, nftables.SetElement{Key: append(append([]byte{10, 96, byte(i / 256), byte(i % 256)}, pad4([]byte{unix.IPPROTO_TCP})...), pad4(port(80))...), VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: name}})
		if noElems {
			els = nil
		}
		if len(els) == 500 {
			if err := c.SetAddElements(svc, els); err != nil {
				return 0, err
			}
			els = nil
		}
	}
	if len(els) > 0 {
		if err := c.SetAddElements(svc, els); err != nil {
			return 0, err
		}
	}
	for len(pend) > 0 {
		k := min(500, len(pend))
		if err := c.SetAddElements(epsMap, pend[:k]); err != nil {
			return 0, err
		}
		pend = pend[k:]
	}
	pending = nil
	fmt.Println("messages built in", time.Since(start))
	err = c.Flush()
	return time.Since(start), err
}

func gnftChange(i, gen int) (time.Duration, error) {
	c, err := gnftConn(true)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	ch := &nftables.Chain{Table: tbl, Name: fmt.Sprintf("svc_%d", i)}
	c.FlushChain(ch)
	if err := gnftSvcRules(c, ch, i, gen); err != nil {
		return 0, err
	}
	err = c.Flush()
	return time.Since(start), err
}

var shared bool
var pending *[]nftables.SetElement

func gnftSvcRulesShared(c *nftables.Conn, ch *nftables.Chain, i, gen int) error {
	if epsMap == nil {
		kt2, _ := nftables.ConcatSetType(nftables.TypeInteger, nftables.TypeInteger)
		dt2, _ := nftables.ConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService)
		epsMap = &nftables.Set{Table: tbl, Name: "eps", IsMap: true, KeyType: kt2, DataType: dt2, Concatenation: true}
	}
	c.AddRule(&nftables.Rule{Table: tbl, Chain: ch, Exprs: []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 2},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{10, 244}},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binary.NativeEndian.AppendUint32(nil, 0xffffbfff), Xor: binary.NativeEndian.AppendUint32(nil, 0x4000)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
	}})
	id := uint32(i + 1)
	var els []nftables.SetElement
	for e := 0; e < 5; e++ {
		ip := net.IPv4(10, byte(100+e), byte(i/256), byte((i+gen)%256)).To4()
		els = append(els, nftables.SetElement{Key: append(binary.BigEndian.AppendUint32(nil, id), binary.NativeEndian.AppendUint32(nil, uint32(e))...), Val: append(pad4(append([]byte{}, ip...)), pad4(port(8080))...)})
	}
	if pending != nil {
		*pending = append(*pending, els...)
	} else if err := c.SetAddElements(epsMap, els); err != nil {
		return err
	}
	c.AddRule(&nftables.Rule{Table: tbl, Chain: ch, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Immediate{Register: 8, Data: binary.BigEndian.AppendUint32(nil, id)},
		&expr.Numgen{Register: 9, Modulus: 5, Type: unix.NFT_NG_RANDOM},
		&expr.Lookup{SourceRegister: 8, DestRegister: 1, IsDestRegSet: true, SetName: epsMap.Name},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegAddrMax: 1, RegProtoMin: 9, RegProtoMax: 9, Specified: true},
	}})
	return nil
}

var perRule bool

func gnftSvcRulesPerRule(c *nftables.Conn, ch *nftables.Chain, i, gen int) error {
	c.AddRule(&nftables.Rule{Table: tbl, Chain: ch, Exprs: []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 2},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{10, 244}},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binary.NativeEndian.AppendUint32(nil, 0xffffbfff), Xor: binary.NativeEndian.AppendUint32(nil, 0x4000)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
	}})
	for e := 0; e < 5; e++ {
		ip := net.IPv4(10, byte(100+e), byte(i/256), byte((i+gen)%256)).To4()
		ex := []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		}
		if e < 4 {
			ex = append(ex, &expr.Numgen{Register: 1, Modulus: uint32(5 - e), Type: unix.NFT_NG_RANDOM},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.NativeEndian.AppendUint32(nil, 0)})
		}
		ex = append(ex, &expr.Immediate{Register: 1, Data: []byte(ip)}, &expr.Immediate{Register: 2, Data: port(8080)},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegAddrMax: 1, RegProtoMin: 2, RegProtoMax: 2, Specified: true})
		c.AddRule(&nftables.Rule{Table: tbl, Chain: ch, Exprs: ex})
	}
	return nil
}

var noElems = os.Getenv("NOELEMS") != ""
