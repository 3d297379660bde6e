package scheduler

import (
	"maps"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// podState is one pod the cache counts on a node.
type podState struct {
	node   string
	record podRecord
	// assumed: chosen by us, not yet seen bound by the informer.
	assumed bool
	// deadline is set when the bind call returned; an assumption still not
	// confirmed by then is dropped. Zero while binding is in flight.
	deadline time.Time
}

// Cache is the scheduler's incremental view of the cluster: every node with
// the aggregate of the pods bound or assumed on it. Informer handlers and
// binders update it; Decide runs a decision over it and assumes the result
// in the same critical section, so the next decision sees the pod at once.
type Cache struct {
	mu    sync.Mutex
	nodes map[string]*NodeInfo
	list  []*NodeInfo // nodes in a stable order; rebuilt on node add/remove
	pods  map[types.UID]*podState
	// owners indexes the counted pods by controller, for spreading.
	owners map[types.UID]OwnerCounts
	// affinity counts the counted pods with pod (anti-)affinity terms, so
	// that ordinary pods skip the inter-pod checks without a look at the
	// nodes.
	affinity podsWithAffinity
	// priorities counts the counted pods per priority, so that a pod that
	// fits nowhere learns at once whether any pod could be its victim.
	priorities map[int32]int
	// nominations are the pods nominated for a node (by our preemption or
	// by status.nominatedNodeName) and not yet bound there.
	nominations map[types.UID]*nomination
	ttl         time.Duration
	clock       clock.PassiveClock
}

// NewCache returns an empty cache whose unconfirmed assumptions expire ttl
// after their bind finished.
func NewCache(ttl time.Duration, clk clock.PassiveClock) *Cache {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &Cache{
		nodes: map[string]*NodeInfo{}, pods: map[types.UID]*podState{}, owners: map[types.UID]OwnerCounts{},
		priorities: map[int32]int{}, nominations: map[types.UID]*nomination{},
		ttl: ttl, clock: clk,
	}
}

// nomination is a pod nominated for a node, and what it holds there.
type nomination struct {
	node   string
	record podRecord
}

// Decide calls decide with the current nodes (read-only) under the cache's
// lock, with pi.Siblings set from the cache's index (and pi's nominated
// node) for the length of the call; if it returns a node, the pod is
// assumed there before the lock is released.
func (c *Cache) Decide(pi *PodInfo, decide func(nodes []*NodeInfo) (string, error)) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lend(pi)
	node, err := decide(c.list)
	pi.Siblings, pi.cluster, pi.nominated = nil, nil, nil // they change once the lock is released
	if err != nil {
		return "", err
	}
	c.assumeLocked(pi, node)
	return node, nil
}

// lend points pi at the cache's state for a call under the lock.
func (c *Cache) lend(pi *PodInfo) {
	if pi.Owner != "" {
		pi.Siblings = c.owners[pi.Owner]
	}
	pi.cluster = &c.affinity
	if nom, ok := c.nominations[pi.Pod.UID]; ok {
		pi.nominated = c.nodes[nom.node]
	}
}

// Preempt runs preemption's evaluation for a pod that fits nowhere, over
// the current nodes and the pods counted on them, under the cache's lock.
// If it returns a plan, the pod is nominated for the plan's node before
// the lock is released, and the pods of lower priority nominated there
// lose their nomination (plan.Unnominated lists them).
func (c *Cache) Preempt(pi *PodInfo, evaluate func(nodes []*NodeInfo, view PodView) *Plan) *Plan {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lend(pi)
	plan := evaluate(c.list, cacheView{c})
	pi.Siblings, pi.cluster, pi.nominated = nil, nil, nil
	if plan == nil || plan.Node == nil {
		return plan
	}
	for _, r := range plan.Node.nominated {
		if r.Priority < pi.Priority && r.Pod.UID != pi.Pod.UID {
			plan.Unnominated = append(plan.Unnominated, r.Pod)
		}
	}
	for _, p := range plan.Unnominated {
		c.unnominateLocked(p.UID)
	}
	// Until the informer shows the victims terminating, the preemptor's
	// next attempt must see that it already preempted on this node.
	for _, r := range plan.victims {
		r.preempted = true
	}
	c.nominateLocked(pi, plan.Node.Name())
	return plan
}

// Unpreempted forgets that the pod was chosen as a victim (its eviction
// failed), so that it no longer holds its preemptor back.
func (c *Cache) Unpreempted(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.pods[uid]; ok {
		st.record.preempted = false
	}
}

// cacheView is the cache as preemption reads it, under the cache's lock.
type cacheView struct{ c *Cache }

func (v cacheView) PodsOn(n *NodeInfo) []*podRecord {
	out := make([]*podRecord, 0, len(n.pods))
	for i := range n.pods {
		if st, ok := v.c.pods[n.pods[i].uid]; ok {
			out = append(out, &st.record)
		}
	}
	return out
}

func (v cacheView) AnyBelow(priority int32) bool {
	for p, n := range v.c.priorities {
		if p < priority && n > 0 {
			return true
		}
	}
	return false
}

// Nominate records that pi's pod is nominated for node (its
// status.nominatedNodeName): its requests are held there against pods of
// lower priority until it is bound, deleted or unnominated.
func (c *Cache) Nominate(pi *PodInfo, node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nominateLocked(pi, node)
}

// Nominated returns the node the pod is nominated for, if any.
func (c *Cache) Nominated(uid types.UID) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	nom, ok := c.nominations[uid]
	if !ok {
		return "", false
	}
	return nom.node, true
}

// Unnominate drops the pod's nomination, if it has one.
func (c *Cache) Unnominate(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unnominateLocked(uid)
}

func (c *Cache) nominateLocked(pi *PodInfo, node string) {
	uid := pi.Pod.UID
	if old, ok := c.nominations[uid]; ok {
		if old.node == node {
			old.record.Pod = pi.Pod
			return
		}
		c.unnominateLocked(uid)
	}
	nom := &nomination{node: node, record: newPodRecord(pi)}
	c.nominations[uid] = nom
	if ni, ok := c.nodes[node]; ok {
		ni.nominated = append(ni.nominated, &nom.record)
	}
}

func (c *Cache) unnominateLocked(uid types.UID) {
	nom, ok := c.nominations[uid]
	if !ok {
		return
	}
	delete(c.nominations, uid)
	if ni, ok := c.nodes[nom.node]; ok {
		for i, r := range ni.nominated {
			if r == &nom.record {
				ni.nominated = append(ni.nominated[:i], ni.nominated[i+1:]...)
				break
			}
		}
	}
}

// NumNodes is how many nodes the cache holds.
func (c *Cache) NumNodes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.list)
}

// Assume counts the pod on node until it is confirmed, forgotten or expires.
func (c *Cache) Assume(pi *PodInfo, node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.assumeLocked(pi, node)
}

func (c *Cache) assumeLocked(pi *PodInfo, node string) {
	uid := pi.Pod.UID
	c.unnominateLocked(uid) // placed: it holds its node by being counted
	if old, ok := c.pods[uid]; ok {
		c.uncount(old)
	}
	st := &podState{node: node, record: newPodRecord(pi), assumed: true}
	c.pods[uid] = st
	c.count(st)
}

// IsAssumed reports whether the pod is assumed and not yet confirmed.
func (c *Cache) IsAssumed(uid types.UID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.pods[uid]
	return ok && st.assumed
}

// FinishBinding starts the expiry clock of an assumed pod whose bind call
// succeeded: if the informer does not confirm it within the TTL, it goes.
func (c *Cache) FinishBinding(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.pods[uid]; ok && st.assumed {
		st.deadline = c.clock.Now().Add(c.ttl)
	}
}

// Forget drops an assumed pod (its bind failed).
func (c *Cache) Forget(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.pods[uid]; ok && st.assumed {
		c.uncount(st)
		delete(c.pods, uid)
	}
}

// AddPod counts a pod the informer saw bound to a node, confirming an
// assumption (moving it if it went to another node).
func (c *Cache) AddPod(pod *v1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unnominateLocked(pod.UID)
	if st, ok := c.pods[pod.UID]; ok {
		if st.node == pod.Spec.NodeName {
			st.assumed, st.deadline = false, time.Time{}
			st.record.Pod = pod // preemption reads its deletion and conditions
			// Labels and deletion change what the pod's neighbours see of
			// it; its affinity terms cannot change.
			if m := newPodMeta(pod, st.record.Meta.terms); m.terminating != st.record.Meta.terminating || !maps.Equal(m.labels, st.record.Meta.labels) {
				st.record.Meta = m
				if ni, ok := c.nodes[st.node]; ok {
					ni.updateMeta(m)
				}
			}
			return
		}
		c.uncount(st)
	}
	st := &podState{node: pod.Spec.NodeName, record: newPodRecord(NewPodInfo(pod))}
	c.pods[pod.UID] = st
	c.count(st)
}

// RemovePod stops counting a pod (deleted or finished).
func (c *Cache) RemovePod(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.pods[uid]; ok {
		c.uncount(st)
		delete(c.pods, uid)
	}
}

// Counted reports the node a pod is counted on, if any.
func (c *Cache) Counted(uid types.UID) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.pods[uid]
	if !ok {
		return "", false
	}
	return st.node, true
}

// CleanupExpired drops assumptions whose bind finished more than the TTL
// ago and were never confirmed. It returns how many it dropped.
func (c *Cache) CleanupExpired() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	n := 0
	for uid, st := range c.pods {
		if st.assumed && !st.deadline.IsZero() && now.After(st.deadline) {
			c.uncount(st)
			delete(c.pods, uid)
			n++
		}
	}
	return n
}

// SetNode adds or updates a node.
func (c *Cache) SetNode(node *v1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ni, ok := c.nodes[node.Name]; ok {
		ni.SetNode(node)
		return
	}
	ni := &NodeInfo{}
	ni.SetNode(node)
	// Pods bound to the node before it was seen count from now on.
	for _, st := range c.pods {
		if st.node == node.Name {
			c.addTo(ni, st.record)
		}
	}
	for _, nom := range c.nominations {
		if nom.node == node.Name {
			ni.nominated = append(ni.nominated, &nom.record)
		}
	}
	c.nodes[node.Name] = ni
	c.list = append(c.list, ni)
}

// RemoveNode forgets a node; its pods stay recorded in case it returns.
func (c *Cache) RemoveNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ni, ok := c.nodes[name]
	if !ok {
		return
	}
	delete(c.nodes, name)
	c.affinity.any -= ni.affinityPods
	c.affinity.anti -= ni.antiPods
	for uid, counts := range c.owners {
		delete(counts, ni)
		if len(counts) == 0 {
			delete(c.owners, uid)
		}
	}
	list := c.list[:0]
	for _, ni := range c.list {
		if ni.Name() != name {
			list = append(list, ni)
		}
	}
	clear(c.list[len(list):])
	c.list = list
}

// Node returns a copy of what the cache knows of a node, for inspection.
func (c *Cache) Node(name string) (NodeInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ni, ok := c.nodes[name]
	if !ok {
		return NodeInfo{}, false
	}
	cp := *ni
	cp.ports = append([]HostPort(nil), ni.ports...)
	cp.pods = append([]podMeta(nil), ni.pods...)
	return cp, true
}

func (c *Cache) count(st *podState) {
	if ni, ok := c.nodes[st.node]; ok {
		c.addTo(ni, st.record)
	}
}

func (c *Cache) uncount(st *podState) {
	ni, ok := c.nodes[st.node]
	if !ok {
		return
	}
	ni.removePod(st.record)
	if c.priorities[st.record.Priority]--; c.priorities[st.record.Priority] <= 0 {
		delete(c.priorities, st.record.Priority)
	}
	c.affinity.add(st.record.Meta.terms, -1)
	if r := st.record; r.Owner != "" && c.owners[r.Owner] != nil {
		counts := c.owners[r.Owner]
		if counts[ni]--; counts[ni] <= 0 {
			delete(counts, ni)
			if len(counts) == 0 {
				delete(c.owners, r.Owner)
			}
		}
	}
}

func (c *Cache) addTo(ni *NodeInfo, r podRecord) {
	ni.addPod(r)
	c.priorities[r.Priority]++
	c.affinity.add(r.Meta.terms, 1)
	if r.Owner != "" {
		counts := c.owners[r.Owner]
		if counts == nil {
			counts = OwnerCounts{}
			c.owners[r.Owner] = counts
		}
		counts[ni]++
	}
}
