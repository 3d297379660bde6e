package scheduler

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
)

// ErrNoNodes is returned when the cluster has no nodes at all.
var ErrNoNodes = errors.New("no nodes available to schedule pods")

// FitError says why no node fits a pod. Its message is Kubernetes' own:
// "0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu."
type FitError struct {
	NumAllNodes int
	// Reasons counts, per reason, the nodes that gave it.
	Reasons map[string]int
	// PreFilterMsg says why the pod fits no node before any was looked
	// at (a missing claim, an unbound immediate claim).
	PreFilterMsg string
	// PostFilterMsg is what preemption said ("preemption: …").
	PostFilterMsg string
}

func (e *FitError) Error() string {
	parts := make([]string, 0, len(e.Reasons))
	for r, n := range e.Reasons {
		parts = append(parts, fmt.Sprintf("%d %s", n, r))
	}
	// Upstream sorts the "count reason" strings as strings.
	sort.Strings(parts)
	msg := fmt.Sprintf("0/%d nodes are available:", e.NumAllNodes)
	if e.PreFilterMsg != "" {
		msg += " " + e.PreFilterMsg + "."
	}
	if len(parts) > 0 {
		msg += " " + strings.Join(parts, ", ") + "."
	}
	if e.PostFilterMsg != "" {
		msg += " " + e.PostFilterMsg // upstream adds no period of its own here
	}
	return msg
}

// Defaults for how many feasible nodes to look for before scoring, as
// upstream's percentageOfNodesToScore.
const (
	minFeasibleNodes       = 100
	minFeasiblePercentage  = 5
	baseFeasiblePercentage = 50
)

// Algorithm chooses a node for a pod from a snapshot: it runs Filters over
// the nodes (starting where the previous decision stopped, so that every
// node gets its turn), stops once it has found enough feasible ones, scores
// those with Scorers and returns the best, breaking ties at random.
// An Algorithm keeps scratch buffers between calls: one goroutine at a time.
type Algorithm struct {
	Filters []Filter
	Scorers []Scorer
	// PercentageOfNodesToScore: 0 is adaptive (50% minus 1% per 125 nodes,
	// at least 5%), and never fewer than 100 nodes.
	PercentageOfNodesToScore int32

	rnd      *rand.Rand
	next     int
	feasible []*NodeInfo
	total    []int64
	raw      []int64
}

// NewAlgorithm returns an Algorithm with the default filters and scorers.
func NewAlgorithm(seed uint64) *Algorithm {
	return &Algorithm{
		Filters: DefaultFilters,
		Scorers: DefaultScorers,
		rnd:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
}

// numFeasibleToFind is how many feasible nodes are enough to pick from.
func (a *Algorithm) numFeasibleToFind(all int) int {
	if all <= minFeasibleNodes || a.PercentageOfNodesToScore >= 100 {
		return all
	}
	pct := int(a.PercentageOfNodesToScore)
	if pct <= 0 {
		pct = baseFeasiblePercentage - all/125
		if pct < minFeasiblePercentage {
			pct = minFeasiblePercentage
		}
	}
	n := all * pct / 100
	if n < minFeasibleNodes {
		return minFeasibleNodes
	}
	return n
}

// Schedule returns the name of the node chosen for the pod, or a *FitError
// saying why none fits (ErrNoNodes when there are none). nodes is only read.
func (a *Algorithm) Schedule(p *PodInfo, nodes []*NodeInfo) (string, error) {
	if len(nodes) == 0 {
		return "", ErrNoNodes
	}
	p.prefilter(nodes)
	// A pod nominated by preemption goes to its node if it fits there now
	// (upstream's evaluateNominatedNode), and looks at the rest otherwise.
	if n := p.nominated; n != nil && a.filter(p, n) == nil {
		return n.Name(), nil
	}
	want := a.numFeasibleToFind(len(nodes))
	a.feasible = a.feasible[:0]
	var reasons map[string]int
	start := a.next % len(nodes)
	processed := 0
	for i := 0; i < len(nodes) && len(a.feasible) < want; i++ {
		n := nodes[(start+i)%len(nodes)]
		processed++
		if r := a.filter(p, n); r != nil {
			if reasons == nil {
				reasons = map[string]int{}
			}
			for _, s := range r {
				reasons[s]++
			}
			continue
		}
		a.feasible = append(a.feasible, n)
	}
	a.next = (start + processed) % len(nodes)
	switch len(a.feasible) {
	case 0:
		return "", &FitError{NumAllNodes: len(nodes), Reasons: reasons}
	case 1:
		return a.feasible[0].Name(), nil
	}
	return a.best(p, nodes), nil
}

func (a *Algorithm) filter(p *PodInfo, n *NodeInfo) []string {
	for _, f := range a.Filters {
		if r := f(p, n); r != nil {
			return r
		}
	}
	if len(n.nominated) > 0 {
		return fitsWithNominated(p, n)
	}
	return nil
}

// fitsWithNominated checks the fit again with the pods nominated for n that
// have at least p's priority counted there, as upstream's
// RunFilterPluginsWithNominatedPods does: the room preemption made for a
// pod is not taken by one of lower priority meanwhile.
func fitsWithNominated(p *PodInfo, n *NodeInfo) []string {
	held := false
	for _, r := range n.nominated {
		if r.Priority >= p.Priority && r.Pod.UID != p.Pod.UID {
			held = true
			break
		}
	}
	if !held {
		return nil
	}
	sim := n.simulation()
	addNominated(sim, p, n)
	if r := FilterHostPorts(p, sim); r != nil {
		return r
	}
	return FilterResources(p, sim)
}

// best scores the feasible nodes and picks the highest, ties at random
// (reservoir sampling over the tied nodes).
func (a *Algorithm) best(p *PodInfo, all []*NodeInfo) string {
	n := len(a.feasible)
	a.total = resize(a.total, n)
	a.raw = resize(a.raw, n)
	clear(a.total)
	for _, s := range a.Scorers {
		if s.Prepare != nil && !s.Prepare(p, a.feasible, all) {
			continue
		}
		for i, node := range a.feasible {
			a.raw[i] = s.Score(p, node)
		}
		if s.Normalize != nil {
			s.Normalize(a.raw)
		}
		for i := range a.raw {
			a.total[i] += a.raw[i] * s.Weight
		}
	}
	bestIdx, ties := 0, 1
	for i := 1; i < n; i++ {
		switch {
		case a.total[i] > a.total[bestIdx]:
			bestIdx, ties = i, 1
		case a.total[i] == a.total[bestIdx]:
			ties++
			if a.rnd.IntN(ties) == 0 {
				bestIdx = i
			}
		}
	}
	return a.feasible[bestIdx].Name()
}

func resize(s []int64, n int) []int64 {
	if cap(s) < n {
		return make([]int64, n)
	}
	return s[:n]
}
