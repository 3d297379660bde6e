package scheduler

import (
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestScores(t *testing.T) {
	tests := []struct {
		name  string
		score func(*PodInfo, *NodeInfo) int64
		pod   *v1.Pod
		node  *NodeInfo
		want  int64
	}{
		{"least allocated empty node", ScoreLeastAllocated, pod("p", "1", "1Gi"), NewNodeInfo(node("n", "4", "4Gi", 10)), 75},
		{"least allocated half used", ScoreLeastAllocated, pod("p", "1", "1Gi"), NewNodeInfo(node("n", "4", "4Gi", 10), pod("q", "1", "1Gi")), 50},
		{"least allocated cpu and memory averaged", ScoreLeastAllocated, pod("p", "2", "1Gi"), NewNodeInfo(node("n", "4", "4Gi", 10)), (50 + 75) / 2},
		{"least allocated defaults for no requests", ScoreLeastAllocated, pod("p", "", ""), NewNodeInfo(node("n", "1", "2000Mi", 10)), (90 + 90) / 2},
		{"least allocated over-full", ScoreLeastAllocated, pod("p", "8", "8Gi"), NewNodeInfo(node("n", "4", "4Gi", 10)), 0},
		{"balanced equal fractions", ScoreBalancedAllocation, pod("p", "1", "1Gi"), NewNodeInfo(node("n", "4", "4Gi", 10)), 100},
		{"balanced skewed", ScoreBalancedAllocation, pod("p", "2", "0"), NewNodeInfo(node("n", "4", "4Gi", 10)), 75},
		{"preferred affinity sum", ScorePreferredAffinity,
			pod("p", "", "", withPreferred(
				v1.PreferredSchedulingTerm{Weight: 5, Preference: expr("zone", v1.NodeSelectorOpIn, "a")},
				v1.PreferredSchedulingTerm{Weight: 3, Preference: expr("disk", v1.NodeSelectorOpExists)},
				v1.PreferredSchedulingTerm{Weight: 7, Preference: expr("zone", v1.NodeSelectorOpIn, "b")})),
			NewNodeInfo(node("n", "1", "1Gi", 10, withLabels("zone", "a", "disk", "ssd"))), 8},
		{"no preferred affinity", ScorePreferredAffinity, pod("p", "", ""), NewNodeInfo(node("n", "1", "1Gi", 10)), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.score(NewPodInfo(tt.pod), tt.node); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestScoreOwnerCount(t *testing.T) {
	a, b := NewNodeInfo(node("a", "1", "1Gi", 10)), NewNodeInfo(node("b", "1", "1Gi", 10))
	pi := NewPodInfo(pod("p", "", "", ownedBy("rs1")))
	pi.Siblings = OwnerCounts{a: 2}
	if got := ScoreOwnerCount(pi, a); got != 2 {
		t.Errorf("node with two siblings: got %d, want 2", got)
	}
	if got := ScoreOwnerCount(pi, b); got != 0 {
		t.Errorf("node with no siblings: got %d, want 0", got)
	}
	if got := ScoreOwnerCount(NewPodInfo(pod("p", "", "")), a); got != 0 {
		t.Errorf("bare pod: got %d, want 0", got)
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name string
		fn   func([]int64)
		in   []int64
		want []int64
	}{
		{"to max", NormalizeToMax, []int64{0, 5, 10}, []int64{0, 50, 100}},
		{"to max all zero", NormalizeToMax, []int64{0, 0}, []int64{0, 0}},
		{"inverse", NormalizeInverse, []int64{0, 1, 4}, []int64{100, 75, 0}},
		{"inverse all zero", NormalizeInverse, []int64{0, 0}, []int64{100, 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := slices.Clone(tt.in)
			tt.fn(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
