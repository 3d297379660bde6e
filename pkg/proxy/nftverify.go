package proxy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

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
