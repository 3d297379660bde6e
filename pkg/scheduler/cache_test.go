package scheduler

import (
	"fmt"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
)

func bound(p *v1.Pod, nodeName string) *v1.Pod {
	cp := p.DeepCopy()
	cp.Spec.NodeName = nodeName
	return cp
}

func TestCacheAssumeConfirmForgetExpire(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	c := NewCache(30*time.Second, clk)
	c.SetNode(node("n1", "4", "4Gi", 10))
	c.SetNode(node("n2", "4", "4Gi", 10))
	requested := func(name string) (int64, int64) {
		ni, _ := c.Node(name)
		return ni.Requested.MilliCPU, ni.Pods
	}

	a, b, d := pod("a", "1", ""), pod("b", "2", ""), pod("d", "500m", "")
	c.Assume(NewPodInfo(a), "n1")
	c.Assume(NewPodInfo(b), "n1")
	c.Assume(NewPodInfo(d), "n2")
	if cpu, pods := requested("n1"); cpu != 3000 || pods != 2 {
		t.Fatalf("n1 after assume: got %dm/%d pods, want 3000m/2", cpu, pods)
	}

	// a: bind failed → forgotten.
	c.Forget(a.UID)
	if cpu, _ := requested("n1"); cpu != 2000 {
		t.Errorf("n1 after forget: got %dm, want 2000m", cpu)
	}
	// b: bound and confirmed by the informer → never expires.
	c.FinishBinding(b.UID)
	c.AddPod(bound(b, "n1"))
	if c.IsAssumed(b.UID) {
		t.Errorf("b still assumed after the informer saw it bound")
	}
	// d: bound but the informer never says so → expires after the TTL.
	c.FinishBinding(d.UID)
	clk.Step(29 * time.Second)
	if n := c.CleanupExpired(); n != 0 {
		t.Errorf("expired %d before the TTL", n)
	}
	clk.Step(2 * time.Second)
	if n := c.CleanupExpired(); n != 1 {
		t.Errorf("expired %d after the TTL, want 1", n)
	}
	if cpu, pods := requested("n2"); cpu != 0 || pods != 0 {
		t.Errorf("n2 after expiry: got %dm/%d pods, want 0", cpu, pods)
	}
	if cpu, _ := requested("n1"); cpu != 2000 {
		t.Errorf("n1 after expiry of another node's pod: got %dm, want 2000m", cpu)
	}
	// An assumption whose bind is still in flight never expires.
	e := pod("e", "1", "")
	c.Assume(NewPodInfo(e), "n2")
	clk.Step(time.Hour)
	if c.CleanupExpired() != 0 || !c.IsAssumed(e.UID) {
		t.Errorf("in-flight assumption expired")
	}
	// Deleting a bound pod frees its node.
	c.RemovePod(b.UID)
	if cpu, pods := requested("n1"); cpu != 0 || pods != 0 {
		t.Errorf("n1 after delete: got %dm/%d pods, want 0", cpu, pods)
	}
}

func TestCacheInformerBindsElsewhere(t *testing.T) {
	c := NewCache(time.Minute, nil)
	c.SetNode(node("n1", "4", "4Gi", 10))
	c.SetNode(node("n2", "4", "4Gi", 10))
	p := pod("p", "1", "")
	c.Assume(NewPodInfo(p), "n1")
	c.AddPod(bound(p, "n2"))
	n1, _ := c.Node("n1")
	n2, _ := c.Node("n2")
	if n1.Requested.MilliCPU != 0 || n2.Requested.MilliCPU != 1000 {
		t.Errorf("got n1=%dm n2=%dm, want 0 and 1000m", n1.Requested.MilliCPU, n2.Requested.MilliCPU)
	}
}

func TestCachePodBeforeNode(t *testing.T) {
	c := NewCache(time.Minute, nil)
	c.AddPod(bound(pod("p", "1", ""), "late"))
	c.SetNode(node("late", "4", "4Gi", 10))
	ni, _ := c.Node("late")
	if ni.Requested.MilliCPU != 1000 || ni.Pods != 1 {
		t.Errorf("got %dm/%d pods, want 1000m/1", ni.Requested.MilliCPU, ni.Pods)
	}
}

// Many binders finishing, failing and confirming at once while decisions
// keep assuming: run with -race. Capacity is never overcommitted and the
// books balance at the end.
func TestCacheConcurrentBinds(t *testing.T) {
	c := NewCache(time.Minute, nil)
	const nodes, perNode = 10, 20
	for i := range nodes {
		c.SetNode(node(fmt.Sprintf("n%d", i), fmt.Sprint(perNode), "100Gi", 1000))
	}
	algo := NewAlgorithm(1)
	type work struct {
		p    *v1.Pod
		node string
	}
	jobs := make(chan work, 64)
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := map[string]*v1.Pod{}
	for w := range 16 {
		wg.Go(func() {
			i := 0
			for j := range jobs {
				i++
				if (i+w)%5 == 0 { // this bind fails
					c.Forget(j.p.UID)
					mu.Lock()
					failed[j.p.Name] = j.p
					mu.Unlock()
					continue
				}
				c.FinishBinding(j.p.UID)
				c.AddPod(bound(j.p, j.node))
			}
		})
	}
	decide := func(p *v1.Pod) bool {
		pi := NewPodInfo(p)
		n, err := c.Decide(pi, func(ns []*NodeInfo) (string, error) { return algo.Schedule(pi, ns) })
		if err != nil {
			return false
		}
		jobs <- work{p, n}
		return true
	}
	placed := 0
	for i := range nodes*perNode + 50 {
		if decide(pod(fmt.Sprintf("p%d", i), "1", "")) {
			placed++
		}
	}
	close(jobs)
	wg.Wait()
	var total int64
	for i := range nodes {
		ni, _ := c.Node(fmt.Sprintf("n%d", i))
		if ni.Requested.MilliCPU > ni.Allocatable.MilliCPU {
			t.Errorf("%s overcommitted: %dm of %dm", ni.Name(), ni.Requested.MilliCPU, ni.Allocatable.MilliCPU)
		}
		total += ni.Pods
	}
	if want := int64(placed - len(failed)); total != want {
		t.Errorf("pods counted: got %d, want %d (placed %d, failed %d)", total, want, placed, len(failed))
	}
	if kept := placed - len(failed); kept > nodes*perNode {
		t.Errorf("kept %d pods of 1 cpu on %d cpus", kept, nodes*perNode)
	}
}

// The owner index follows every way a pod is counted and uncounted, and a
// decision spreads a controller's pods by it.
func TestCacheOwnerIndex(t *testing.T) {
	c := NewCache(time.Minute, nil)
	c.SetNode(node("a", "4", "4Gi", 10))
	c.SetNode(node("b", "4", "4Gi", 10))
	// b is the busier node, so only spreading sends rs's pods there.
	s1, s2, x := pod("s1", "", "", ownedBy("rs")), pod("s2", "", "", ownedBy("rs")), pod("x", "1", "1000Mi", ownedBy("other"))
	c.AddPod(bound(s1, "a"))
	c.Assume(NewPodInfo(s2), "a")
	c.AddPod(bound(x, "b"))
	counts := func() [3]int32 {
		c.mu.Lock()
		defer c.mu.Unlock()
		n := func(uid types.UID, node string) int32 { return c.owners[uid][c.nodes[node]] }
		return [3]int32{n("rs", "a"), n("rs", "b"), n("other", "b")}
	}
	if got, want := counts(), [3]int32{2, 0, 1}; got != want {
		t.Fatalf("after add and assume: got rs@a, rs@b, other@b = %v, want %v", got, want)
	}

	algo := NewAlgorithm(1)
	for i := range 10 {
		pi := NewPodInfo(pod(fmt.Sprintf("new%d", i), "10m", "10Mi", ownedBy("rs")))
		got, err := c.Decide(pi, func(ns []*NodeInfo) (string, error) { return algo.Schedule(pi, ns) })
		if err != nil || got != "b" {
			t.Fatalf("spread away from siblings: got %q, %v, want b", got, err)
		}
		if pi.Siblings != nil {
			t.Fatalf("Siblings still set after Decide: it would be read outside the cache's lock")
		}
		c.Forget(pi.Pod.UID)
	}

	c.Forget(s2.UID)
	c.AddPod(bound(s1, "b")) // moved by someone else
	if got, want := counts(), [3]int32{0, 1, 1}; got != want {
		t.Errorf("after forget and move: got %v, want %v", got, want)
	}
	c.RemoveNode("b")
	c.SetNode(node("b", "4", "4Gi", 10))
	if got, want := counts(), [3]int32{0, 1, 1}; got != want {
		t.Errorf("after the node left and came back: got %v, want %v", got, want)
	}
	c.RemovePod(s1.UID)
	c.RemovePod(x.UID)
	if len(c.owners) != 0 {
		t.Errorf("index not empty with no pods left: %v", c.owners)
	}
}
