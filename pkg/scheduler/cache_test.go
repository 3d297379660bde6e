package scheduler

import (
	"fmt"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
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
