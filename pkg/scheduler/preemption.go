package scheduler

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	v1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Messages of preemption, worded as upstream's DefaultPreemption words
// them (they end up in the preemptor's FailedScheduling event).
const (
	msgNoVictims          = "No preemption victims found for incoming pod"
	msgNotHelpful         = "Preemption is not helpful for scheduling"
	msgNeverPreempts      = "not eligible due to preemptionPolicy=Never."
	msgTerminatingVictims = "not eligible due to a terminating pod on the nominated node."
)

// Upstream's DefaultPreemption arguments: dry-run preemption on at least
// this share of the nodes, or this many, before choosing.
const (
	minCandidateNodesPercentage = 10
	minCandidateNodesAbsolute   = 100
)

// PodView is what preemption reads of the pods counted on the nodes.
type PodView interface {
	// PodsOn returns the pods counted on n (bound or assumed).
	PodsOn(n *NodeInfo) []*podRecord
	// AnyBelow reports whether any counted pod has a priority below p.
	AnyBelow(p int32) bool
}

// Plan is the outcome of a preemption that found a node: the preemptor is
// nominated for Node once Victims are gone.
type Plan struct {
	Node     *NodeInfo // read under the cache's lock only
	NodeName string
	// Victims are the pods to evict, most important first.
	Victims []*v1.Pod
	// PDBViolations is how many victims their PodDisruptionBudget would
	// not allow to go.
	PDBViolations int
	// Unnominated are the pods of lower priority that were nominated for
	// Node and lose that nomination (filled by Cache.Preempt).
	Unnominated []*v1.Pod

	victims []*podRecord // read and written under the cache's lock only
}

// Preemption is upstream's DefaultPreemption PostFilter over our filters:
// when a pod fits nowhere, find the nodes where evicting pods of lower
// priority would let it fit, choose the victims on each (as few and as
// unimportant as possible, sparing PodDisruptionBudgets first), and pick
// the node whose eviction hurts least.
//
// Filters come in three kinds, by what removing pods can do about them:
// nothing (Fixed: a node they reject is no candidate, upstream's
// UnschedulableAndUnresolvable), something that is re-checked with the
// victims removed (Removable: resources and host ports), and something
// upstream re-checks but that is not simulated here (Unsimulated:
// inter-pod affinity and topology spread, whose state is computed over
// the whole cluster): a node they reject, for a reason not in
// Unresolvable, is dry run like the others but never becomes a candidate,
// and reports their reasons (or that it has no victims), as upstream does
// when the victims are not what is in the way.
type Preemption struct {
	Fixed        []Filter
	Unsimulated  []Filter
	Unresolvable map[string]bool
	Removable    []Filter

	rnd *rand.Rand
}

// NewPreemption returns a Preemption over the default filters.
func NewPreemption(seed uint64) *Preemption {
	return &Preemption{
		Fixed:       []Filter{FilterReady, FilterUnschedulable, FilterTaints, FilterNodeAffinity, FilterVolumeBinding},
		Unsimulated: []Filter{FilterTopologySpread, FilterInterPodAffinity},
		// Upstream's InterPodAffinity and PodTopologySpread return these as
		// UnschedulableAndUnresolvable.
		Unresolvable: map[string]bool{ReasonPodAffinity: true, ReasonTopologySpreadNodeLabel: true},
		Removable:    []Filter{FilterHostPorts, FilterResources},
		rnd:          rand.New(rand.NewPCG(seed, seed^0x85ebca6b)),
	}
}

// potential reports whether preemption could help on n at all, and the
// reasons of an Unsimulated filter that rejects it (nil if none does).
func (pr *Preemption) potential(p *PodInfo, n *NodeInfo) (bool, []string) {
	if runFilters(pr.Fixed, p, n) != nil {
		return false, nil
	}
	why := runFilters(pr.Unsimulated, p, n)
	for _, r := range why {
		if pr.Unresolvable[r] {
			return false, nil
		}
	}
	return true, why
}

// Evaluate runs preemption for p over nodes (read-only): a plan, or nil
// and why not. The message is the PostFilter status ("preemption: …")
// that upstream appends to the FitError; clear says the pod's nomination,
// if any, no longer holds (upstream's nominating mode Override with "").
func (pr *Preemption) Evaluate(p *PodInfo, nodes []*NodeInfo, view PodView, pdbs []*policyv1.PodDisruptionBudget, now time.Time) (plan *Plan, msg string, clear bool) {
	if ok, why := pr.eligible(p, view); !ok {
		return nil, "preemption: " + why, false
	}
	p.prefilter(nodes)
	var potential []*NodeInfo
	stuck := map[*NodeInfo][]string{}
	for _, n := range nodes {
		if ok, why := pr.potential(p, n); ok {
			potential = append(potential, n)
			if why != nil {
				stuck[n] = why
			}
		}
	}
	// reasons counts the dry runs' reasons, as upstream's FitError does:
	// each reason of each node that has a status; withStatus nodes have
	// one, and the rest are "not helpful".
	reasons := map[string]int{}
	withStatus := 0
	notHelpful := func() string {
		if rest := len(nodes) - withStatus; rest > 0 {
			reasons[msgNotHelpful] += rest
		}
		return "preemption: " + (&FitError{NumAllNodes: len(nodes), Reasons: reasons}).Error()
	}
	if len(potential) == 0 {
		return nil, notHelpful(), true
	}
	if !view.AnyBelow(p.Priority) {
		// Every potential node would say so; skip the dry runs.
		reasons[msgNoVictims], withStatus = len(potential), len(potential)
		return nil, notHelpful(), true
	}

	want := numCandidates(len(potential))
	offset := pr.rnd.IntN(len(potential))
	var violating, nonViolating []candidate
	for i := range potential {
		n := potential[(offset+i)%len(potential)]
		c, why := pr.selectVictims(p, n, view.PodsOn(n), stuck[n], pdbs, now)
		if why != nil {
			withStatus++
			for _, r := range why {
				reasons[r]++
			}
			continue
		}
		if c.violations == 0 {
			nonViolating = append(nonViolating, c)
		} else {
			violating = append(violating, c)
		}
		if len(nonViolating) > 0 && len(nonViolating)+len(violating) >= want {
			break
		}
	}
	candidates := append(nonViolating, violating...)
	if len(candidates) == 0 {
		return nil, notHelpful(), true
	}
	best := candidates[pickCandidate(candidates, now)]
	plan = &Plan{Node: best.node, NodeName: best.node.Name(), PDBViolations: best.violations}
	plan.victims = best.victims
	for _, v := range best.victims {
		plan.Victims = append(plan.Victims, v.Pod)
	}
	return plan, fmt.Sprintf("preemption: found a potential placement for pod on node %v, preempting %d victims", best.node.Name(), len(plan.Victims)), false
}

// EvaluateUnresolvable is preemption for a pod that no node passed PreFilter for
// (a claim missing or unbound): upstream marks every node
// UnschedulableAndUnresolvable, so preemption is not helpful anywhere, and
// a nomination the pod had no longer holds (clear).
func (pr *Preemption) EvaluateUnresolvable(p *PodInfo, numNodes int) (msg string, clear bool) {
	if pp := p.Pod.Spec.PreemptionPolicy; pp != nil && *pp == v1.PreemptNever {
		return "preemption: " + msgNeverPreempts, false
	}
	return "preemption: " + (&FitError{NumAllNodes: numNodes, Reasons: map[string]int{msgNotHelpful: numNodes}}).Error(), true
}

// numCandidates is upstream's calculateNumCandidates.
func numCandidates(nodes int) int {
	n := nodes * minCandidateNodesPercentage / 100
	if n < minCandidateNodesAbsolute {
		n = minCandidateNodesAbsolute
	}
	return min(n, nodes)
}

// eligible is upstream's PodEligibleToPreemptOthers: a pod whose policy is
// Never does not preempt, and a pod whose earlier victims are still
// terminating on its nominated node waits for them rather than evicting
// more (unless that node no longer suits it at all).
func (pr *Preemption) eligible(p *PodInfo, view PodView) (bool, string) {
	if pp := p.Pod.Spec.PreemptionPolicy; pp != nil && *pp == v1.PreemptNever {
		return false, msgNeverPreempts
	}
	n := p.nominated
	if n == nil {
		return true, ""
	}
	if ok, _ := pr.potential(p, n); !ok {
		return true, ""
	}
	for _, r := range view.PodsOn(n) {
		if r.Priority < p.Priority && (r.preempted || terminatingByPreemption(r.Pod)) {
			return false, msgTerminatingVictims
		}
	}
	return true, ""
}

// terminatingByPreemption is upstream's PodTerminatingByPreemption.
func terminatingByPreemption(pod *v1.Pod) bool {
	if pod.DeletionTimestamp == nil {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == v1.DisruptionTarget {
			return c.Status == v1.ConditionTrue && c.Reason == v1.PodReasonPreemptionByScheduler
		}
	}
	return false
}

func runFilters(filters []Filter, p *PodInfo, n *NodeInfo) []string {
	for _, f := range filters {
		if r := f(p, n); r != nil {
			return r
		}
	}
	return nil
}

// candidate is a node where preemption would let the pod fit.
type candidate struct {
	node *NodeInfo
	// victims, most important first.
	victims    []*podRecord
	violations int
}

// selectVictims is upstream's SelectVictimsOnNode: remove every pod of
// lower priority; if the pod then fits, add them back one by one, most
// important first and those whose PodDisruptionBudget forbids their
// eviction before the others, keeping each that still lets the pod fit.
// What stays removed are the victims. Pods nominated for n with at least
// p's priority hold their share throughout. A nil candidate comes with
// the reasons the node is no candidate; stuck are the reasons of an
// Unsimulated filter that rejected n.
func (pr *Preemption) selectVictims(p *PodInfo, n *NodeInfo, pods []*podRecord, stuck []string, pdbs []*policyv1.PodDisruptionBudget, now time.Time) (candidate, []string) {
	sim := n.simulation()
	addNominated(sim, p, n)
	var potential []*podRecord
	for _, r := range pods {
		if r.Priority < p.Priority {
			potential = append(potential, r)
			sim.simRemove(r)
		}
	}
	if len(potential) == 0 {
		return candidate{}, []string{msgNoVictims}
	}
	if stuck != nil {
		return candidate{}, stuck
	}
	if why := runFilters(pr.Removable, p, sim); why != nil {
		return candidate{}, why
	}
	byImportance := func(a, b *podRecord) int {
		if moreImportant(a, b, now) {
			return -1
		}
		if moreImportant(b, a, now) {
			return 1
		}
		return 0
	}
	slices.SortStableFunc(potential, byImportance)
	violating, nonViolating := splitByPDB(potential, pdbs)
	c := candidate{node: n}
	reprieve := func(r *podRecord) bool {
		sim.simAdd(r)
		if runFilters(pr.Removable, p, sim) == nil {
			return true
		}
		sim.simRemove(r)
		c.victims = append(c.victims, r)
		return false
	}
	for _, r := range violating {
		if !reprieve(r) {
			c.violations++
		}
	}
	for _, r := range nonViolating {
		reprieve(r)
	}
	if len(violating) > 0 && len(nonViolating) > 0 {
		slices.SortStableFunc(c.victims, byImportance)
	}
	return c, nil
}

// addNominated holds on sim the share of the pods nominated for n that
// have at least p's priority (p itself excepted).
func addNominated(sim *NodeInfo, p *PodInfo, n *NodeInfo) {
	for _, r := range n.nominated {
		if r.Priority >= p.Priority && r.Pod.UID != p.Pod.UID {
			sim.simAdd(r)
		}
	}
}

// startTime is upstream's GetPodStartTime: a pod not started yet counts
// as starting now.
func startTime(pod *v1.Pod, now time.Time) time.Time {
	if pod.Status.StartTime != nil {
		return pod.Status.StartTime.Time
	}
	return now
}

// moreImportant is upstream's MoreImportantPod: higher priority, then the
// one running longer.
func moreImportant(a, b *podRecord, now time.Time) bool {
	if a.Priority != b.Priority {
		return a.Priority > b.Priority
	}
	return startTime(a.Pod, now).Before(startTime(b.Pod, now))
}

// splitByPDB is upstream's FilterVictimsWithPDBViolation: going through
// pods in order, each one a PodDisruptionBudget matches (same namespace,
// non-empty selector, not already among its disrupted pods) uses up one
// of its allowed disruptions; a pod that finds none left violates it.
func splitByPDB(pods []*podRecord, pdbs []*policyv1.PodDisruptionBudget) (violating, nonViolating []*podRecord) {
	allowed := make([]int32, len(pdbs))
	selectors := make([]labels.Selector, len(pdbs))
	for i, pdb := range pdbs {
		allowed[i] = pdb.Status.DisruptionsAllowed
		if sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err == nil && !sel.Empty() {
			selectors[i] = sel
		}
	}
	for _, r := range pods {
		pod := r.Pod
		violates := false
		if len(pod.Labels) > 0 {
			for i, pdb := range pdbs {
				if pdb.Namespace != pod.Namespace || selectors[i] == nil || !selectors[i].Matches(labels.Set(pod.Labels)) {
					continue
				}
				if _, gone := pdb.Status.DisruptedPods[pod.Name]; gone {
					continue
				}
				if allowed[i]--; allowed[i] < 0 {
					violates = true
					break
				}
			}
		}
		if violates {
			violating = append(violating, r)
		} else {
			nonViolating = append(nonViolating, r)
		}
	}
	return violating, nonViolating
}

// pickCandidate is upstream's pickOneNodeForPreemption: the candidate with
// the fewest PodDisruptionBudget violations, then the lowest highest
// victim priority, then the smallest sum of victim priorities, then the
// fewest victims, then the latest start among its most important victims;
// the first of those still tied.
func pickCandidate(cs []candidate, now time.Time) int {
	scores := []func(c *candidate) int64{
		func(c *candidate) int64 { return -int64(c.violations) },
		func(c *candidate) int64 { return -int64(c.victims[0].Priority) },
		func(c *candidate) int64 {
			var sum int64
			for _, v := range c.victims {
				sum += int64(v.Priority) + int64(math.MaxInt32+1)
			}
			return -sum
		},
		func(c *candidate) int64 { return -int64(len(c.victims)) },
		func(c *candidate) int64 { return earliestStart(c.victims, now).UnixNano() },
	}
	left := make([]int, len(cs))
	for i := range cs {
		left[i] = i
	}
	for _, score := range scores {
		best := int64(math.MinInt64)
		var kept []int
		for _, i := range left {
			switch s := score(&cs[i]); {
			case s > best:
				best, kept = s, append(kept[:0], i)
			case s == best:
				kept = append(kept, i)
			}
		}
		if len(kept) == 1 {
			return kept[0]
		}
		left = kept
	}
	return left[0]
}

// earliestStart is upstream's GetEarliestPodStartTime: the earliest start
// among the victims of the highest priority.
func earliestStart(victims []*podRecord, now time.Time) time.Time {
	earliest, top := startTime(victims[0].Pod, now), victims[0].Priority
	for _, v := range victims[1:] {
		switch {
		case v.Priority == top:
			if t := startTime(v.Pod, now); t.Before(earliest) {
				earliest = t
			}
		case v.Priority > top:
			top, earliest = v.Priority, startTime(v.Pod, now)
		}
	}
	return earliest
}
