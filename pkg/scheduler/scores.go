package scheduler

// MaxScore is the best score a Scorer gives a node (after normalising).
const MaxScore int64 = 100

// A Scorer rates a feasible node from 0 to MaxScore. Score gives a raw
// value per node; Normalize, when set, turns the raw values of all the
// nodes being compared into 0..MaxScore in place (for scores that only mean
// something relative to the other nodes). Prepare, when set, runs first
// with the feasible nodes and all the nodes, for scores that need the
// whole cluster (upstream's PreScore); when it returns false the scorer
// has nothing to tell the nodes apart and is skipped. The final score of a node is the
// weighted sum over the scorers.
type Scorer struct {
	Name      string
	Weight    int64
	Score     func(p *PodInfo, n *NodeInfo) int64
	Normalize func(scores []int64)
	Prepare   func(p *PodInfo, feasible, all []*NodeInfo) bool
}

// DefaultScorers are upstream's default weights for the matching plugins:
// NodeResourcesFit and BalancedAllocation 1, NodeAffinity, InterPodAffinity
// and spreading 2.
var DefaultScorers = []Scorer{
	{Name: "LeastAllocated", Weight: 1, Score: ScoreLeastAllocated},
	{Name: "BalancedAllocation", Weight: 1, Score: ScoreBalancedAllocation},
	{Name: "NodeAffinity", Weight: 2, Score: ScorePreferredAffinity, Normalize: NormalizeToMax},
	{Name: "SelectorSpread", Weight: 2, Score: ScoreOwnerCount, Normalize: NormalizeInverse},
	{Name: "InterPodAffinity", Weight: 2, Score: ScoreInterPodAffinity, Normalize: NormalizeMinMax, Prepare: PrepareInterPodAffinity},
	{Name: "PodTopologySpread", Weight: 2, Score: ScoreTopologySpread, Normalize: NormalizeSpread, Prepare: PrepareTopologySpread},
}

func leastAllocated(requested, allocatable int64) int64 {
	if allocatable <= 0 || requested > allocatable {
		return 0
	}
	return (allocatable - requested) * MaxScore / allocatable
}

// ScoreLeastAllocated favours the node with the most cpu and memory left
// after placing the pod (equal weights), counting scoring defaults for
// containers without requests.
func ScoreLeastAllocated(p *PodInfo, n *NodeInfo) int64 {
	cpu := leastAllocated(n.NonZeroRequested.MilliCPU+p.NonZero.MilliCPU, n.Allocatable.MilliCPU)
	mem := leastAllocated(n.NonZeroRequested.Memory+p.NonZero.Memory, n.Allocatable.Memory)
	return (cpu + mem) / 2
}

func fraction(requested, allocatable int64) float64 {
	if allocatable <= 0 {
		return 1
	}
	f := float64(requested) / float64(allocatable)
	if f > 1 {
		return 1
	}
	return f
}

// ScoreBalancedAllocation favours the node where cpu and memory would be
// used in the most equal proportion after placing the pod: MaxScore times
// one minus the standard deviation of the two fractions.
func ScoreBalancedAllocation(p *PodInfo, n *NodeInfo) int64 {
	cpu := fraction(n.NonZeroRequested.MilliCPU+p.NonZero.MilliCPU, n.Allocatable.MilliCPU)
	mem := fraction(n.NonZeroRequested.Memory+p.NonZero.Memory, n.Allocatable.Memory)
	std := cpu - mem
	if std < 0 {
		std = -std
	}
	std /= 2
	return int64((1 - std) * float64(MaxScore))
}

// ScorePreferredAffinity is the sum of the weights of the pod's preferred
// node affinity terms the node matches.
func ScorePreferredAffinity(p *PodInfo, n *NodeInfo) int64 {
	if p.preferred == nil {
		return 0
	}
	return p.preferred.Score(n.Node)
}

// ScoreOwnerCount is how many pods of the pod's controller already sit on
// the node (PodInfo.Siblings); NormalizeInverse turns fewer into better.
// It stands for upstream's system default spreading, which applies only to
// pods without topology spread constraints of their own: those score 0.
func ScoreOwnerCount(p *PodInfo, n *NodeInfo) int64 {
	if len(p.Pod.Spec.TopologySpreadConstraints) > 0 {
		return 0
	}
	return int64(p.Siblings[n])
}

// NormalizeToMax scales scores so that the highest becomes MaxScore.
func NormalizeToMax(scores []int64) {
	var max int64
	for _, s := range scores {
		if s > max {
			max = s
		}
	}
	if max == 0 {
		return
	}
	for i, s := range scores {
		scores[i] = s * MaxScore / max
	}
}

// NormalizeInverse scales counts so that the lowest-count nodes get the
// most: MaxScore*(max-c)/max; all MaxScore when every count is zero.
func NormalizeInverse(scores []int64) {
	var max int64
	for _, s := range scores {
		if s > max {
			max = s
		}
	}
	for i, s := range scores {
		if max == 0 {
			scores[i] = MaxScore
		} else {
			scores[i] = MaxScore * (max - s) / max
		}
	}
}
