package proxy

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	vnl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

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
func (w *writer) netlinkHandle() (h *vnl.Handle, err error) {
	err = inNetNS(w.netnsFd, func() error { h, err = vnl.NewHandle(); return err })
	return h, err
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
