package scheduler

import (
	"math"
	"slices"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// Reasons of the inter-pod affinity and topology spread filters, as
// upstream's InterPodAffinity and PodTopologySpread plugins word them.
const (
	ReasonPodAffinity             = "node(s) didn't match pod affinity rules"
	ReasonPodAntiAffinity         = "node(s) didn't match pod anti-affinity rules"
	ReasonExistingAntiAffinity    = "node(s) didn't satisfy existing pods anti-affinity rules"
	ReasonTopologySpread          = "node(s) didn't match pod topology spread constraints"
	ReasonTopologySpreadNodeLabel = ReasonTopologySpread + " (missing required label)"
)

var (
	reasonsPodAffinity             = []string{ReasonPodAffinity}
	reasonsPodAntiAffinity         = []string{ReasonPodAntiAffinity}
	reasonsExistingAntiAffinity    = []string{ReasonExistingAntiAffinity}
	reasonsTopologySpread          = []string{ReasonTopologySpread}
	reasonsTopologySpreadNodeLabel = []string{ReasonTopologySpreadNodeLabel}
)

// affinityTerm is a PodAffinityTerm with its selector parsed once.
type affinityTerm struct {
	selector    labels.Selector
	namespaces  []string
	allNS       bool // namespaceSelector: {}
	topologyKey string
	weight      int64
}

// matches says whether the term selects the pod: in one of its namespaces
// and matching its label selector.
func (t *affinityTerm) matches(m *podMeta) bool {
	if !t.allNS && !slices.Contains(t.namespaces, m.namespace) {
		return false
	}
	return t.selector.Matches(labels.Set(m.labels))
}

// newAffinityTerm compiles a term of a pod in namespace ns. No namespaces
// and no namespaceSelector mean the pod's own namespace; an empty
// namespaceSelector means every namespace. A non-empty namespaceSelector
// would need the namespaces' labels, which the scheduler does not watch:
// such a term selects only its listed namespaces.
func newAffinityTerm(ns string, t *v1.PodAffinityTerm, weight int32) (affinityTerm, bool) {
	sel, err := metav1.LabelSelectorAsSelector(t.LabelSelector)
	if err != nil {
		return affinityTerm{}, false
	}
	at := affinityTerm{selector: sel, namespaces: t.Namespaces, topologyKey: t.TopologyKey, weight: int64(weight)}
	switch s := t.NamespaceSelector; {
	case s != nil && len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0:
		at.allNS = true
	case s == nil && len(t.Namespaces) == 0:
		at.namespaces = []string{ns}
	}
	return at, true
}

// podTerms are a pod's inter-pod (anti-)affinity terms, compiled.
type podTerms struct {
	affinity, antiAffinity                   []affinityTerm // required
	preferredAffinity, preferredAntiAffinity []affinityTerm
}

func newPodTerms(pod *v1.Pod) *podTerms {
	a := pod.Spec.Affinity
	if a == nil || (a.PodAffinity == nil && a.PodAntiAffinity == nil) {
		return nil
	}
	pt := &podTerms{}
	ns := pod.Namespace
	add := func(dst *[]affinityTerm, t *v1.PodAffinityTerm, w int32) {
		// An invalid selector (rejected by validation) selects nothing.
		if at, ok := newAffinityTerm(ns, t, w); ok {
			*dst = append(*dst, at)
		}
	}
	if pa := a.PodAffinity; pa != nil {
		for i := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
			add(&pt.affinity, &pa.RequiredDuringSchedulingIgnoredDuringExecution[i], 1)
		}
		for i := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
			w := &pa.PreferredDuringSchedulingIgnoredDuringExecution[i]
			add(&pt.preferredAffinity, &w.PodAffinityTerm, w.Weight)
		}
	}
	if pa := a.PodAntiAffinity; pa != nil {
		for i := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
			add(&pt.antiAffinity, &pa.RequiredDuringSchedulingIgnoredDuringExecution[i], 1)
		}
		for i := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
			w := &pa.PreferredDuringSchedulingIgnoredDuringExecution[i]
			add(&pt.preferredAntiAffinity, &w.PodAffinityTerm, w.Weight)
		}
	}
	if len(pt.affinity)+len(pt.antiAffinity)+len(pt.preferredAffinity)+len(pt.preferredAntiAffinity) == 0 {
		return nil
	}
	return pt
}

// podMeta is what a node keeps of each of its pods for the inter-pod
// filters and scores: who it is and what it asks of its neighbours.
type podMeta struct {
	uid         types.UID
	namespace   string
	labels      map[string]string // the pod's own map, never written
	terminating bool
	terms       *podTerms // nil for a pod without pod (anti-)affinity
}

func newPodMeta(pod *v1.Pod, terms *podTerms) podMeta {
	return podMeta{uid: pod.UID, namespace: pod.Namespace, labels: pod.Labels, terminating: pod.DeletionTimestamp != nil, terms: terms}
}

// spreadConstraint is a TopologySpreadConstraint with upstream's defaults
// applied and its selector parsed (matchLabelKeys merged in).
type spreadConstraint struct {
	maxSkew       int64
	key           string
	selector      labels.Selector
	minDomains    int
	honorAffinity bool // nodeAffinityPolicy, Honor by default
	honorTaints   bool // nodeTaintsPolicy, Ignore by default
	selfMatch     bool
}

func newSpreadConstraints(pod *v1.Pod, action v1.UnsatisfiableConstraintAction) []spreadConstraint {
	var out []spreadConstraint
	for _, c := range pod.Spec.TopologySpreadConstraints {
		if c.WhenUnsatisfiable != action {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
		if err != nil {
			continue // rejected by validation; spreads nothing
		}
		for _, k := range c.MatchLabelKeys {
			if v, ok := pod.Labels[k]; ok {
				r, err := labels.NewRequirement(k, "=", []string{v})
				if err == nil {
					sel = sel.Add(*r)
				}
			}
		}
		sc := spreadConstraint{maxSkew: int64(c.MaxSkew), key: c.TopologyKey, selector: sel, minDomains: 1, honorAffinity: true}
		if c.MinDomains != nil {
			sc.minDomains = int(*c.MinDomains)
		}
		if c.NodeAffinityPolicy != nil {
			sc.honorAffinity = *c.NodeAffinityPolicy == v1.NodeInclusionPolicyHonor
		}
		if c.NodeTaintsPolicy != nil {
			sc.honorTaints = *c.NodeTaintsPolicy == v1.NodeInclusionPolicyHonor
		}
		sc.selfMatch = sel.Matches(labels.Set(pod.Labels))
		out = append(out, sc)
	}
	return out
}

// countMatching counts the node's pods in namespace ns that the selector
// matches, leaving out terminating pods as upstream does.
func countMatching(n *NodeInfo, sel labels.Selector, ns string) int64 {
	if sel.Empty() {
		return 0
	}
	var c int64
	for i := range n.pods {
		m := &n.pods[i]
		if !m.terminating && m.namespace == ns && sel.Matches(labels.Set(m.labels)) {
			c++
		}
	}
	return c
}

// includes says whether the node counts for the constraint under its node
// inclusion policies.
func (c *spreadConstraint) includes(p *PodInfo, n *NodeInfo) bool {
	if c.honorAffinity && p.hasRequired {
		if ok, _ := p.required.Match(n.Node); !ok {
			return false
		}
	}
	if c.honorTaints && len(n.Taints) > 0 {
		if _, found := findUntolerated(p, n); found {
			return false
		}
	}
	return true
}

func hasAllKeys(nodeLabels map[string]string, cs []spreadConstraint) bool {
	for i := range cs {
		if _, ok := nodeLabels[cs[i].key]; !ok {
			return false
		}
	}
	return true
}

type topologyPair struct{ key, value string }

// topologyCounts counts matching terms per topology domain.
type topologyCounts map[topologyPair]int64

func (m topologyCounts) add(n *NodeInfo, key string, v int64) {
	if val, ok := n.Node.Labels[key]; ok {
		m[topologyPair{key, val}] += v
	}
}

// podsWithAffinity counts pods with pod (anti-)affinity terms (any) and
// with required anti-affinity (anti).
type podsWithAffinity struct{ any, anti int }

func (c *podsWithAffinity) add(t *podTerms, v int) {
	if t == nil {
		return
	}
	c.any += v
	if len(t.antiAffinity) > 0 {
		c.anti += v
	}
}

// anyAffinity says whether a pod among nodes has pod (anti-)affinity terms.
func (p *PodInfo) anyAffinity(nodes []*NodeInfo) bool {
	if p.cluster != nil {
		return p.cluster.any > 0
	}
	for _, n := range nodes {
		if n.affinityPods > 0 {
			return true
		}
	}
	return false
}

// filterState is computed once per decision over every node (upstream's
// PreFilter), and only for a pod that has inter-pod affinity or spread
// constraints or when some pod in the cluster has required anti-affinity.
type filterState struct {
	// existingAnti counts existing pods' required anti-affinity terms that
	// match the incoming pod, per domain.
	existingAnti topologyCounts
	// affinity counts, per domain of each required affinity term, existing
	// pods matching all of them; antiAffinity, per term, pods matching it.
	affinity, antiAffinity topologyCounts
	// spread: per DoNotSchedule constraint, matching pods per domain value,
	// and the smallest count.
	spread    []spreadConstraint
	spreadNum []map[string]int64
	spreadMin []int64
}

// prefilter computes p's filterState over nodes, or leaves it nil when the
// filters have nothing to check, so that ordinary pods pay one pass over
// the nodes' counters and no more.
func (p *PodInfo) prefilter(nodes []*NodeInfo) {
	p.filter = nil
	var withAnti []*NodeInfo
	if p.cluster == nil || p.cluster.anti > 0 {
		for _, n := range nodes {
			if n.antiPods > 0 {
				withAnti = append(withAnti, n)
			}
		}
	}
	hasTerms := p.terms != nil && len(p.terms.affinity)+len(p.terms.antiAffinity) > 0
	if !hasTerms && len(p.hardSpread) == 0 && len(withAnti) == 0 {
		return
	}
	s := &filterState{}
	me := &p.meta
	if len(withAnti) > 0 {
		s.existingAnti = topologyCounts{}
		for _, n := range withAnti {
			for i := range n.pods {
				if t := n.pods[i].terms; t != nil {
					for j := range t.antiAffinity {
						if t.antiAffinity[j].matches(me) {
							s.existingAnti.add(n, t.antiAffinity[j].topologyKey, 1)
						}
					}
				}
			}
		}
	}
	if hasTerms {
		s.affinity, s.antiAffinity = topologyCounts{}, topologyCounts{}
		for _, n := range nodes {
			for i := range n.pods {
				m := &n.pods[i]
				if len(p.terms.affinity) > 0 && matchesAll(p.terms.affinity, m) {
					for j := range p.terms.affinity {
						s.affinity.add(n, p.terms.affinity[j].topologyKey, 1)
					}
				}
				for j := range p.terms.antiAffinity {
					if p.terms.antiAffinity[j].matches(m) {
						s.antiAffinity.add(n, p.terms.antiAffinity[j].topologyKey, 1)
					}
				}
			}
		}
	}
	if cs := p.hardSpread; len(cs) > 0 {
		s.spread = cs
		s.spreadNum = make([]map[string]int64, len(cs))
		s.spreadMin = make([]int64, len(cs))
		for i := range cs {
			s.spreadNum[i] = map[string]int64{}
		}
		for _, n := range nodes {
			if !hasAllKeys(n.Node.Labels, cs) {
				continue
			}
			for i := range cs {
				if !cs[i].includes(p, n) {
					continue
				}
				s.spreadNum[i][n.Node.Labels[cs[i].key]] += countMatching(n, cs[i].selector, me.namespace)
			}
		}
		for i := range cs {
			s.spreadMin[i] = math.MaxInt32
			for _, c := range s.spreadNum[i] {
				s.spreadMin[i] = min(s.spreadMin[i], c)
			}
			if len(s.spreadNum[i]) < cs[i].minDomains {
				// Fewer eligible domains than minDomains: the global
				// minimum counts as 0.
				s.spreadMin[i] = 0
			}
		}
	}
	p.filter = s
}

func matchesAll(terms []affinityTerm, m *podMeta) bool {
	for i := range terms {
		if !terms[i].matches(m) {
			return false
		}
	}
	return true
}

// FilterInterPodAffinity rejects a node where the pod's required pod
// affinity finds no matching pod in the node's domain (unless no pod
// anywhere matches and the pod matches its own terms: the first of a
// group), where its required anti-affinity finds one, or where an existing
// pod's required anti-affinity selects the pod.
func FilterInterPodAffinity(p *PodInfo, n *NodeInfo) []string {
	s := p.filter
	if s == nil {
		return nil
	}
	lbl := n.Node.Labels
	if p.terms != nil && len(p.terms.affinity) > 0 {
		exist := true
		for i := range p.terms.affinity {
			key := p.terms.affinity[i].topologyKey
			v, ok := lbl[key]
			if !ok {
				return reasonsPodAffinity
			}
			if s.affinity[topologyPair{key, v}] <= 0 {
				exist = false
			}
		}
		if !exist && !(len(s.affinity) == 0 && matchesAll(p.terms.affinity, &p.meta)) {
			return reasonsPodAffinity
		}
	}
	if p.terms != nil {
		for i := range p.terms.antiAffinity {
			key := p.terms.antiAffinity[i].topologyKey
			if v, ok := lbl[key]; ok && s.antiAffinity[topologyPair{key, v}] > 0 {
				return reasonsPodAntiAffinity
			}
		}
	}
	if len(s.existingAnti) > 0 {
		for k, v := range lbl {
			if s.existingAnti[topologyPair{k, v}] > 0 {
				return reasonsExistingAntiAffinity
			}
		}
	}
	return nil
}

// FilterTopologySpread rejects a node without a constraint's topology key,
// or where placing the pod would make its domain's matching pods exceed
// the smallest domain's by more than maxSkew (DoNotSchedule constraints).
func FilterTopologySpread(p *PodInfo, n *NodeInfo) []string {
	s := p.filter
	if s == nil || len(s.spread) == 0 {
		return nil
	}
	for i := range s.spread {
		c := &s.spread[i]
		v, ok := n.Node.Labels[c.key]
		if !ok {
			return reasonsTopologySpreadNodeLabel
		}
		self := int64(0)
		if c.selfMatch {
			self = 1
		}
		if s.spreadNum[i][v]+self-s.spreadMin[i] > c.maxSkew {
			return reasonsTopologySpread
		}
	}
	return nil
}

// hardPodAffinityWeight is what an existing pod's required affinity term
// matching the incoming pod adds to the score (upstream's default).
const hardPodAffinityWeight = 1

// PrepareInterPodAffinity sums, per topology domain, the weights of the
// preferred terms between the pod and the existing pods (and of existing
// pods' required affinity towards it), as upstream's PreScore does. It
// returns false when no term is involved.
func PrepareInterPodAffinity(p *PodInfo, _, all []*NodeInfo) bool {
	p.affinityScores = nil
	incoming := p.terms != nil && len(p.terms.preferredAffinity)+len(p.terms.preferredAntiAffinity) > 0
	if !incoming && !p.anyAffinity(all) {
		return false
	}
	scores := topologyCounts{}
	for _, n := range all {
		if !incoming && n.affinityPods == 0 {
			continue
		}
		for i := range n.pods {
			m := &n.pods[i]
			if incoming {
				for _, t := range p.terms.preferredAffinity {
					if t.matches(m) {
						scores.add(n, t.topologyKey, t.weight)
					}
				}
				for _, t := range p.terms.preferredAntiAffinity {
					if t.matches(m) {
						scores.add(n, t.topologyKey, -t.weight)
					}
				}
			}
			if et := m.terms; et != nil {
				for _, t := range et.affinity {
					if t.matches(&p.meta) {
						scores.add(n, t.topologyKey, hardPodAffinityWeight)
					}
				}
				for _, t := range et.preferredAffinity {
					if t.matches(&p.meta) {
						scores.add(n, t.topologyKey, t.weight)
					}
				}
				for _, t := range et.preferredAntiAffinity {
					if t.matches(&p.meta) {
						scores.add(n, t.topologyKey, -t.weight)
					}
				}
			}
		}
	}
	if len(scores) > 0 {
		p.affinityScores = scores
	}
	return p.affinityScores != nil
}

// ScoreInterPodAffinity is the sum of the node's domains' scores from
// PrepareInterPodAffinity; NormalizeMinMax scales them.
func ScoreInterPodAffinity(p *PodInfo, n *NodeInfo) int64 {
	if p.affinityScores == nil {
		return 0
	}
	var s int64
	for k, v := range n.Node.Labels {
		s += p.affinityScores[topologyPair{k, v}]
	}
	return s
}

// NormalizeMinMax maps the lowest score to 0 and the highest to MaxScore;
// all 0 when they are equal.
func NormalizeMinMax(scores []int64) {
	if len(scores) == 0 {
		return
	}
	lo, hi := slices.Min(scores), slices.Max(scores)
	for i, s := range scores {
		if hi > lo {
			scores[i] = int64(float64(MaxScore) * float64(s-lo) / float64(hi-lo))
		} else {
			scores[i] = 0
		}
	}
}

// spreadScoreState is upstream's PodTopologySpread PreScore state for the
// pod's ScheduleAnyway constraints.
type spreadScoreState struct {
	ignored map[*NodeInfo]bool
	counts  map[topologyPair]int64
	weights []float64
}

// invalidScore marks a node the spread score ignores (it lacks a topology
// key); NormalizeSpread turns it into 0.
const invalidScore = -1

// PrepareTopologySpread counts the pods matching each ScheduleAnyway
// constraint per domain of the feasible nodes (hostname domains are
// counted per node when scoring). It returns false for a pod without them.
func PrepareTopologySpread(p *PodInfo, feasible, all []*NodeInfo) bool {
	p.spreadScores = nil
	cs := p.softSpread
	if len(cs) == 0 {
		return false
	}
	s := &spreadScoreState{ignored: map[*NodeInfo]bool{}, counts: map[topologyPair]int64{}, weights: make([]float64, len(cs))}
	size := make([]int, len(cs))
	for _, n := range feasible {
		if !hasAllKeys(n.Node.Labels, cs) {
			s.ignored[n] = true
			continue
		}
		for i := range cs {
			if cs[i].key == v1.LabelHostname {
				continue
			}
			pair := topologyPair{cs[i].key, n.Node.Labels[cs[i].key]}
			if _, ok := s.counts[pair]; !ok {
				s.counts[pair] = 0
				size[i]++
			}
		}
	}
	for i := range cs {
		if cs[i].key == v1.LabelHostname {
			size[i] = len(feasible) - len(s.ignored)
		}
		s.weights[i] = math.Log(float64(size[i] + 2))
	}
	for _, n := range all {
		if !hasAllKeys(n.Node.Labels, cs) {
			continue
		}
		for i := range cs {
			c := &cs[i]
			if c.key == v1.LabelHostname || !c.includes(p, n) {
				continue
			}
			pair := topologyPair{c.key, n.Node.Labels[c.key]}
			if _, ok := s.counts[pair]; ok {
				s.counts[pair] += countMatching(n, c.selector, p.meta.namespace)
			}
		}
	}
	p.spreadScores = s
	return true
}

// ScoreTopologySpread is, over the ScheduleAnyway constraints, the
// matching pods in the node's domain weighted by log(domains+2), plus
// maxSkew-1; NormalizeSpread turns fewer into better.
func ScoreTopologySpread(p *PodInfo, n *NodeInfo) int64 {
	s := p.spreadScores
	if s == nil {
		return 0
	}
	if s.ignored[n] {
		return invalidScore
	}
	var score float64
	for i := range p.softSpread {
		c := &p.softSpread[i]
		v, ok := n.Node.Labels[c.key]
		if !ok {
			continue
		}
		var cnt int64
		if c.key == v1.LabelHostname {
			cnt = countMatching(n, c.selector, p.meta.namespace)
		} else {
			cnt = s.counts[topologyPair{c.key, v}]
		}
		score += float64(cnt)*s.weights[i] + float64(c.maxSkew-1)
	}
	return int64(math.Round(score))
}

// NormalizeSpread gives MaxScore*(max+min-s)/max, 0 to ignored nodes, and
// MaxScore to all when every score is 0.
func NormalizeSpread(scores []int64) {
	var lo int64 = math.MaxInt64
	var hi int64
	for _, s := range scores {
		if s == invalidScore {
			continue
		}
		lo, hi = min(lo, s), max(hi, s)
	}
	for i, s := range scores {
		switch {
		case s == invalidScore:
			scores[i] = 0
		case hi == 0:
			scores[i] = MaxScore
		default:
			scores[i] = MaxScore * (hi + lo - s) / hi
		}
	}
}
