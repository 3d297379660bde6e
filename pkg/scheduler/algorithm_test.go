package scheduler

import (
	"errors"
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestScheduleUnschedulableMessage(t *testing.T) {
	tests := []struct {
		name  string
		pod   *v1.Pod
		nodes []*NodeInfo
		want  string
	}{
		{
			name: "upstream example",
			pod:  pod("p", "2", ""),
			nodes: []*NodeInfo{
				NewNodeInfo(node("a", "4", "4Gi", 10, cordoned)),
				NewNodeInfo(node("b", "1", "4Gi", 10)),
				NewNodeInfo(node("c", "1", "4Gi", 10)),
			},
			want: "0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu.",
		},
		{
			name: "several reasons on one node, sorted",
			pod:  pod("p", "8", "8Gi", withHostPort(80, "", "")),
			nodes: []*NodeInfo{
				NewNodeInfo(node("a", "1", "1Gi", 10)),
				NewNodeInfo(node("b", "1", "1Gi", 10, withTaint("dedicated", "db", v1.TaintEffectNoSchedule))),
				NewNodeInfo(node("c", "16", "16Gi", 10), pod("q", "", "", withHostPort(80, "", ""))),
				NewNodeInfo(node("d", "16", "16Gi", 10, notReady)),
			},
			want: "0/4 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 1 node(s) didn't have free ports for the requested pod ports, 1 node(s) had untolerated taint {dedicated: db}, 1 node(s) were not ready.",
		},
		{
			name: "selector and pods",
			pod:  pod("p", "", "", withSelector("disk", "ssd")),
			nodes: []*NodeInfo{
				NewNodeInfo(node("a", "1", "1Gi", 10)),
				NewNodeInfo(node("b", "1", "1Gi", 10)),
				NewNodeInfo(node("c", "1", "1Gi", 0, withLabels("disk", "ssd"))),
			},
			want: "0/3 nodes are available: 1 Too many pods, 2 node(s) didn't match Pod's node affinity/selector.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewAlgorithm(1).Schedule(NewPodInfo(tt.pod), tt.nodes)
			var fe *FitError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want a FitError", err)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestScheduleNoNodes(t *testing.T) {
	if _, err := NewAlgorithm(1).Schedule(NewPodInfo(pod("p", "", "")), nil); !errors.Is(err, ErrNoNodes) {
		t.Errorf("got %v, want ErrNoNodes", err)
	}
}

func TestSchedulePicks(t *testing.T) {
	tests := []struct {
		name  string
		pod   *v1.Pod
		nodes []*NodeInfo
		want  string
	}{
		{"only feasible node", pod("p", "2", ""), []*NodeInfo{
			NewNodeInfo(node("a", "1", "4Gi", 10)), NewNodeInfo(node("b", "4", "4Gi", 10))}, "b"},
		{"least allocated", pod("p", "1", "1Gi"), []*NodeInfo{
			NewNodeInfo(node("a", "4", "4Gi", 10), pod("q", "2", "2Gi")), NewNodeInfo(node("b", "4", "4Gi", 10))}, "b"},
		{"preferred affinity outweighs a little load", pod("p", "100m", "100Mi",
			withPreferred(v1.PreferredSchedulingTerm{Weight: 10, Preference: expr("zone", v1.NodeSelectorOpIn, "a")})), []*NodeInfo{
			NewNodeInfo(node("a", "4", "4Gi", 10, withLabels("zone", "a")), pod("q", "500m", "500Mi")),
			NewNodeInfo(node("b", "4", "4Gi", 10, withLabels("zone", "b")))}, "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for seed := range uint64(20) {
				got, err := NewAlgorithm(seed).Schedule(NewPodInfo(tt.pod), tt.nodes)
				if err != nil || got != tt.want {
					t.Fatalf("seed %d: got %q, %v, want %q", seed, got, err, tt.want)
				}
			}
		})
	}
}

func TestScheduleTiesSpread(t *testing.T) {
	var nodes []*NodeInfo
	for i := range 4 {
		nodes = append(nodes, NewNodeInfo(node(fmt.Sprintf("n%d", i), "4", "4Gi", 10)))
	}
	a := NewAlgorithm(7)
	seen := map[string]int{}
	for range 200 {
		got, err := a.Schedule(NewPodInfo(pod("p", "1", "1Gi")), nodes)
		if err != nil {
			t.Fatal(err)
		}
		seen[got]++
	}
	if len(seen) != 4 {
		t.Errorf("equal nodes chosen: %v, want all 4", seen)
	}
}

func TestNumFeasibleToFind(t *testing.T) {
	tests := []struct {
		all  int
		pct  int32
		want int
	}{
		{50, 0, 50},
		{100, 0, 100},
		{1000, 0, 420},
		{5000, 0, 500},
		{20000, 0, 1000},
		{150, 0, 100},
		{1000, 100, 1000},
		{1000, 20, 200},
		{1000, 1, 100},
	}
	for _, tt := range tests {
		a := &Algorithm{PercentageOfNodesToScore: tt.pct}
		if got := a.numFeasibleToFind(tt.all); got != tt.want {
			t.Errorf("numFeasibleToFind(%d) at %d%%: got %d, want %d", tt.all, tt.pct, got, tt.want)
		}
	}
}

// The search resumes after the node it stopped at, so that with sampling
// every node is visited in turn.
func TestScheduleSamplesRoundRobin(t *testing.T) {
	var nodes []*NodeInfo
	for i := range 1000 {
		nodes = append(nodes, NewNodeInfo(node(fmt.Sprintf("n%04d", i), "100", "100Gi", 1000)))
	}
	a := NewAlgorithm(3)
	seen := map[string]bool{}
	for range 3 {
		got, err := a.Schedule(NewPodInfo(pod("p", "1", "1Gi")), nodes)
		if err != nil {
			t.Fatal(err)
		}
		seen[got] = true
	}
	if a.next != (3*420)%1000 {
		t.Errorf("next start: got %d, want %d", a.next, (3*420)%1000)
	}
}

func BenchmarkSchedule(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var nodes []*NodeInfo
			for i := range n {
				nodes = append(nodes, NewNodeInfo(node(fmt.Sprintf("n%d", i), "32", "64Gi", 110)))
			}
			a := NewAlgorithm(1)
			pi := NewPodInfo(pod("p", "100m", "128Mi", ownedBy("rs")))
			b.ResetTimer()
			for b.Loop() {
				if _, err := a.Schedule(pi, nodes); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
