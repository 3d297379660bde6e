package scheduler

import (
	"fmt"
	"slices"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func podLabels(kv ...string) func(*v1.Pod) {
	return func(p *v1.Pod) {
		if p.Labels == nil {
			p.Labels = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

func inNamespace(ns string) func(*v1.Pod) {
	return func(p *v1.Pod) { p.Namespace = ns }
}

// term selects pods labelled app=app in the topology of key.
func term(key, app string) v1.PodAffinityTerm {
	return v1.PodAffinityTerm{TopologyKey: key, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}}
}

func affinity(p *v1.Pod) *v1.Affinity {
	if p.Spec.Affinity == nil {
		p.Spec.Affinity = &v1.Affinity{}
	}
	return p.Spec.Affinity
}

func withPodAffinity(terms ...v1.PodAffinityTerm) func(*v1.Pod) {
	return func(p *v1.Pod) {
		affinity(p).PodAffinity = &v1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: terms}
	}
}

func withPodAntiAffinity(terms ...v1.PodAffinityTerm) func(*v1.Pod) {
	return func(p *v1.Pod) {
		affinity(p).PodAntiAffinity = &v1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: terms}
	}
}

func withPreferredPodAffinity(terms ...v1.WeightedPodAffinityTerm) func(*v1.Pod) {
	return func(p *v1.Pod) {
		affinity(p).PodAffinity = &v1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: terms}
	}
}

func withPreferredPodAntiAffinity(terms ...v1.WeightedPodAffinityTerm) func(*v1.Pod) {
	return func(p *v1.Pod) {
		affinity(p).PodAntiAffinity = &v1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: terms}
	}
}

func withSpread(maxSkew int32, key string, action v1.UnsatisfiableConstraintAction, app string, mods ...func(*v1.TopologySpreadConstraint)) func(*v1.Pod) {
	return func(p *v1.Pod) {
		c := v1.TopologySpreadConstraint{MaxSkew: maxSkew, TopologyKey: key, WhenUnsatisfiable: action,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}}
		for _, m := range mods {
			m(&c)
		}
		p.Spec.TopologySpreadConstraints = append(p.Spec.TopologySpreadConstraints, c)
	}
}

func minDomains(n int32) func(*v1.TopologySpreadConstraint) {
	return func(c *v1.TopologySpreadConstraint) { c.MinDomains = &n }
}

func nodeAffinityPolicy(p v1.NodeInclusionPolicy) func(*v1.TopologySpreadConstraint) {
	return func(c *v1.TopologySpreadConstraint) { c.NodeAffinityPolicy = &p }
}

func nodeTaintsPolicy(p v1.NodeInclusionPolicy) func(*v1.TopologySpreadConstraint) {
	return func(c *v1.TopologySpreadConstraint) { c.NodeTaintsPolicy = &p }
}

// web is a pod labelled app=web.
func web(name string, mods ...func(*v1.Pod)) *v1.Pod {
	return pod(name, "", "", append([]func(*v1.Pod){podLabels("app", "web")}, mods...)...)
}

const hostname = v1.LabelHostname
const zone = v1.LabelTopologyZone

// zoned is a node in a zone ("" for none).
func zoned(name, z string, mods ...func(*v1.Node)) *v1.Node {
	if z != "" {
		mods = append(mods, withLabels(zone, z))
	}
	return node(name, "4", "8Gi", 110, mods...)
}

// runFilter runs the prefilter over every node and then filter on each,
// returning node name → reasons (nil when the node fits).
func runFilter(filter Filter, p *v1.Pod, nodes []*NodeInfo) map[string][]string {
	pi := NewPodInfo(p)
	pi.prefilter(nodes)
	got := map[string][]string{}
	for _, n := range nodes {
		got[n.Name()] = filter(pi, n)
	}
	return got
}

func TestFilterInterPodAffinity(t *testing.T) {
	anti := []string{ReasonPodAntiAffinity}
	aff := []string{ReasonPodAffinity}
	existing := []string{ReasonExistingAntiAffinity}
	tests := []struct {
		name  string
		pod   *v1.Pod
		nodes []*NodeInfo
		want  map[string][]string
	}{
		{"hostname anti-affinity keeps replicas apart",
			web("p", withPodAntiAffinity(term(hostname, "web"))),
			[]*NodeInfo{NewNodeInfo(zoned("a", ""), web("w1")), NewNodeInfo(zoned("b", "")), NewNodeInfo(zoned("c", ""), pod("other", "", ""))},
			map[string][]string{"a": anti, "b": nil, "c": nil}},
		{"zone anti-affinity blocks the whole zone",
			web("p", withPodAntiAffinity(term(zone, "web"))),
			[]*NodeInfo{NewNodeInfo(zoned("a", "z1"), web("w1")), NewNodeInfo(zoned("b", "z1")), NewNodeInfo(zoned("c", "z2"))},
			map[string][]string{"a": anti, "b": anti, "c": nil}},
		{"anti-affinity ignores pods of other namespaces",
			web("p", withPodAntiAffinity(term(hostname, "web"))),
			[]*NodeInfo{NewNodeInfo(zoned("a", ""), web("w1", inNamespace("other")))},
			map[string][]string{"a": nil}},
		{"empty namespaceSelector means every namespace",
			web("p", withPodAntiAffinity(func() v1.PodAffinityTerm {
				tm := term(hostname, "web")
				tm.NamespaceSelector = &metav1.LabelSelector{}
				return tm
			}())),
			[]*NodeInfo{NewNodeInfo(zoned("a", ""), web("w1", inNamespace("other")))},
			map[string][]string{"a": anti}},
		{"listed namespaces",
			web("p", withPodAntiAffinity(func() v1.PodAffinityTerm {
				tm := term(hostname, "web")
				tm.Namespaces = []string{"other"}
				return tm
			}())),
			[]*NodeInfo{NewNodeInfo(zoned("a", ""), web("w1", inNamespace("other"))), NewNodeInfo(zoned("b", ""), web("w2"))},
			map[string][]string{"a": anti, "b": nil}},
		{"zone affinity",
			pod("p", "", "", withPodAffinity(term(zone, "db"))),
			[]*NodeInfo{NewNodeInfo(zoned("a", "z1"), pod("db", "", "", podLabels("app", "db"))), NewNodeInfo(zoned("b", "z1")), NewNodeInfo(zoned("c", "z2")), NewNodeInfo(zoned("d", ""))},
			map[string][]string{"a": nil, "b": nil, "c": aff, "d": aff}},
		{"affinity with no match anywhere",
			pod("p", "", "", withPodAffinity(term(zone, "db"))),
			[]*NodeInfo{NewNodeInfo(zoned("a", "z1")), NewNodeInfo(zoned("b", "z2"))},
			map[string][]string{"a": aff, "b": aff}},
		{"first pod of a group matching its own affinity",
			web("p", withPodAffinity(term(zone, "web"))),
			[]*NodeInfo{NewNodeInfo(zoned("a", "z1")), NewNodeInfo(zoned("b", "z2")), NewNodeInfo(zoned("c", ""))},
			map[string][]string{"a": nil, "b": nil, "c": aff}},
		{"second pod of a group follows the first",
			web("p", withPodAffinity(term(zone, "web"))),
			[]*NodeInfo{NewNodeInfo(zoned("a", "z1"), web("w1")), NewNodeInfo(zoned("b", "z2"))},
			map[string][]string{"a": nil, "b": aff}},
		{"existing pod's anti-affinity blocks its node",
			web("p"),
			[]*NodeInfo{NewNodeInfo(zoned("a", "z1"), pod("loner", "", "", withPodAntiAffinity(term(hostname, "web")))), NewNodeInfo(zoned("b", "z1"))},
			map[string][]string{"a": existing, "b": nil}},
		{"existing pod's zone anti-affinity blocks its zone",
			web("p"),
			[]*NodeInfo{NewNodeInfo(zoned("a", "z1"), pod("loner", "", "", withPodAntiAffinity(term(zone, "web")))), NewNodeInfo(zoned("b", "z1")), NewNodeInfo(zoned("c", "z2"))},
			map[string][]string{"a": existing, "b": existing, "c": nil}},
		{"existing pod's anti-affinity for others lets the pod be",
			pod("p", "", "", podLabels("app", "api")),
			[]*NodeInfo{NewNodeInfo(zoned("a", "z1"), pod("loner", "", "", withPodAntiAffinity(term(hostname, "web"))))},
			map[string][]string{"a": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runFilter(FilterInterPodAffinity, tt.pod, tt.nodes)
			for n, want := range tt.want {
				if !slices.Equal(got[n], want) {
					t.Errorf("node %s: got %q, want %q", n, got[n], want)
				}
			}
		})
	}
}

func TestFilterTopologySpread(t *testing.T) {
	skew := []string{ReasonTopologySpread}
	label := []string{ReasonTopologySpreadNodeLabel}
	hard := v1.DoNotSchedule
	tests := []struct {
		name  string
		pod   *v1.Pod
		nodes []*NodeInfo
		want  map[string][]string
	}{
		{"maxSkew 1 over 3 nodes",
			web("p", withSpread(1, hostname, hard, "web")),
			[]*NodeInfo{NewNodeInfo(zoned("a", ""), web("w1")), NewNodeInfo(zoned("b", ""), web("w2")), NewNodeInfo(zoned("c", ""))},
			map[string][]string{"a": skew, "b": skew, "c": nil}},
		{"maxSkew 1 balanced",
			web("p", withSpread(1, hostname, hard, "web")),
			[]*NodeInfo{NewNodeInfo(zoned("a", ""), web("w1")), NewNodeInfo(zoned("b", ""), web("w2")), NewNodeInfo(zoned("c", ""), web("w3"))},
			map[string][]string{"a": nil, "b": nil, "c": nil}},
		{"maxSkew 2",
			web("p", withSpread(2, hostname, hard, "web")),
			[]*NodeInfo{NewNodeInfo(zoned("a", ""), web("w1"), web("w2")), NewNodeInfo(zoned("b", ""), web("w3")), NewNodeInfo(zoned("c", ""))},
			map[string][]string{"a": skew, "b": nil, "c": nil}},
		{"zones",
			web("p", withSpread(1, zone, hard, "web")),
			[]*NodeInfo{NewNodeInfo(zoned("a", "z1"), web("w1")), NewNodeInfo(zoned("b", "z1")), NewNodeInfo(zoned("c", "z2")), NewNodeInfo(zoned("d", ""))},
			map[string][]string{"a": skew, "b": skew, "c": nil, "d": label}},
		{"pods of other namespaces and labels do not count",
			web("p", withSpread(1, hostname, hard, "web")),
			[]*NodeInfo{NewNodeInfo(zoned("a", ""), web("w1", inNamespace("other")), pod("x", "", "")), NewNodeInfo(zoned("b", ""))},
			map[string][]string{"a": nil, "b": nil}},
		{"a pod its selector does not match adds nothing",
			pod("p", "", "", withSpread(1, hostname, hard, "web")),
			[]*NodeInfo{NewNodeInfo(zoned("a", ""), web("w1")), NewNodeInfo(zoned("b", ""))},
			map[string][]string{"a": nil, "b": nil}},
		{"minDomains above the domains makes the minimum 0",
			web("p", withSpread(1, zone, hard, "web", minDomains(3))),
			[]*NodeInfo{NewNodeInfo(zoned("a", "z1"), web("w1")), NewNodeInfo(zoned("b", "z2"), web("w2"))},
			map[string][]string{"a": skew, "b": skew}},
		{"minDomains reached",
			web("p", withSpread(1, zone, hard, "web", minDomains(2))),
			[]*NodeInfo{NewNodeInfo(zoned("a", "z1"), web("w1")), NewNodeInfo(zoned("b", "z2"), web("w2"))},
			map[string][]string{"a": nil, "b": nil}},
		{"nodeAffinityPolicy Honor leaves out nodes the pod cannot use",
			web("p", withSelector("role", "app"), withSpread(1, hostname, hard, "web")),
			[]*NodeInfo{NewNodeInfo(zoned("a", "", withLabels("role", "app")), web("w1")), NewNodeInfo(zoned("b", "", withLabels("role", "app")), web("w2")), NewNodeInfo(zoned("c", ""))},
			map[string][]string{"a": nil, "b": nil}},
		{"nodeAffinityPolicy Ignore counts them",
			web("p", withSelector("role", "app"), withSpread(1, hostname, hard, "web", nodeAffinityPolicy(v1.NodeInclusionPolicyIgnore))),
			[]*NodeInfo{NewNodeInfo(zoned("a", "", withLabels("role", "app")), web("w1")), NewNodeInfo(zoned("b", "", withLabels("role", "app")), web("w2")), NewNodeInfo(zoned("c", ""))},
			map[string][]string{"a": skew, "b": skew}},
		{"nodeTaintsPolicy Ignore (default) counts tainted nodes",
			web("p", withSpread(1, hostname, hard, "web")),
			[]*NodeInfo{NewNodeInfo(zoned("a", ""), web("w1")), NewNodeInfo(zoned("b", "", withTaint("x", "y", v1.TaintEffectNoSchedule)))},
			map[string][]string{"a": skew}},
		{"nodeTaintsPolicy Honor leaves tainted nodes out",
			web("p", withSpread(1, hostname, hard, "web", nodeTaintsPolicy(v1.NodeInclusionPolicyHonor))),
			[]*NodeInfo{NewNodeInfo(zoned("a", ""), web("w1")), NewNodeInfo(zoned("b", "", withTaint("x", "y", v1.TaintEffectNoSchedule)))},
			map[string][]string{"a": nil}},
		{"matchLabelKeys narrows the selector to the pod's value",
			web("p", podLabels("rev", "2"), withSpread(1, hostname, hard, "web", func(c *v1.TopologySpreadConstraint) { c.MatchLabelKeys = []string{"rev"} })),
			[]*NodeInfo{NewNodeInfo(zoned("a", ""), web("w1", podLabels("rev", "1"))), NewNodeInfo(zoned("b", ""))},
			map[string][]string{"a": nil, "b": nil}},
		{"ScheduleAnyway does not filter",
			web("p", withSpread(1, hostname, v1.ScheduleAnyway, "web")),
			[]*NodeInfo{NewNodeInfo(zoned("a", ""), web("w1"), web("w2")), NewNodeInfo(zoned("b", ""))},
			map[string][]string{"a": nil, "b": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runFilter(FilterTopologySpread, tt.pod, tt.nodes)
			for n, want := range tt.want {
				if !slices.Equal(got[n], want) {
					t.Errorf("node %s: got %q, want %q", n, got[n], want)
				}
			}
		})
	}
}

// runScorer scores every node as Algorithm.best does and returns the
// normalized scores in node order.
func runScorer(s Scorer, p *v1.Pod, nodes []*NodeInfo) []int64 {
	pi := NewPodInfo(p)
	s.Prepare(pi, nodes, nodes)
	got := make([]int64, len(nodes))
	for i, n := range nodes {
		got[i] = s.Score(pi, n)
	}
	s.Normalize(got)
	return got
}

func weighted(w int32, tm v1.PodAffinityTerm) v1.WeightedPodAffinityTerm {
	return v1.WeightedPodAffinityTerm{Weight: w, PodAffinityTerm: tm}
}

func TestScoreInterPodAffinity(t *testing.T) {
	scorer := Scorer{Score: ScoreInterPodAffinity, Normalize: NormalizeMinMax, Prepare: PrepareInterPodAffinity}
	tests := []struct {
		name  string
		pod   *v1.Pod
		nodes []*NodeInfo
		want  []int64
	}{
		{"no terms anywhere", web("p"),
			[]*NodeInfo{NewNodeInfo(zoned("a", "z1"), web("w1")), NewNodeInfo(zoned("b", "z2"))},
			[]int64{0, 0}},
		{"preferred anti-affinity by hostname",
			web("p", withPreferredPodAntiAffinity(weighted(10, term(hostname, "web")))),
			[]*NodeInfo{NewNodeInfo(zoned("a", ""), web("w1")), NewNodeInfo(zoned("b", "")), NewNodeInfo(zoned("c", ""), web("w2"), web("w3"))},
			[]int64{50, 100, 0}},
		{"preferred affinity by zone",
			pod("p", "", "", withPreferredPodAffinity(weighted(5, term(zone, "db")), weighted(1, term(hostname, "db")))),
			[]*NodeInfo{NewNodeInfo(zoned("a", "z1"), pod("db", "", "", podLabels("app", "db"))), NewNodeInfo(zoned("b", "z1")), NewNodeInfo(zoned("c", "z2"))},
			// a: 5+1, b: 5, c: 0
			[]int64{100, 83, 0}},
		{"existing pods' terms towards the pod",
			web("p"),
			[]*NodeInfo{
				NewNodeInfo(zoned("a", "z1"), pod("fan", "", "", withPreferredPodAffinity(weighted(4, term(zone, "web"))))),
				NewNodeInfo(zoned("b", "z2"), pod("needs", "", "", withPodAffinity(term(zone, "web")))),
				NewNodeInfo(zoned("c", "z3"), pod("hater", "", "", withPreferredPodAntiAffinity(weighted(4, term(zone, "web"))))),
			},
			// a: 4, b: 1 (required affinity counts hardPodAffinityWeight), c: -4
			[]int64{100, 62, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := runScorer(scorer, tt.pod, tt.nodes); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestScoreTopologySpread(t *testing.T) {
	scorer := Scorer{Score: ScoreTopologySpread, Normalize: NormalizeSpread, Prepare: PrepareTopologySpread}
	soft := v1.ScheduleAnyway
	tests := []struct {
		name  string
		pod   *v1.Pod
		nodes []*NodeInfo
		want  []int64
	}{
		{"no constraints", web("p"),
			[]*NodeInfo{NewNodeInfo(zoned("a", "z1"), web("w1")), NewNodeInfo(zoned("b", "z2"))},
			[]int64{100, 100}},
		{"zones: fewer matching pods is better, nodes without the key score 0",
			web("p", withSpread(1, zone, soft, "web")),
			[]*NodeInfo{NewNodeInfo(zoned("a", "z1"), web("w1"), web("w2")), NewNodeInfo(zoned("b", "z2")), NewNodeInfo(zoned("c", ""))},
			// two domains: weight ln(4); a: round(2*1.386)=3, b: 0
			[]int64{0, 100, 0}},
		{"hostname counts per node",
			web("p", withSpread(1, hostname, soft, "web")),
			[]*NodeInfo{NewNodeInfo(zoned("a", ""), web("w1"), web("w2"), web("w3")), NewNodeInfo(zoned("b", ""), web("w4")), NewNodeInfo(zoned("c", ""))},
			// weight ln(5)=1.609: a 5, b 2, c 0 → 100*(5+0-s)/5
			[]int64{0, 60, 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := runScorer(scorer, tt.pod, tt.nodes); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestAntiAffinitySpreadsReplicas places a Deployment's replicas with
// required hostname anti-affinity through the cache: one per node, and the
// one too many fits nowhere with upstream's message until a replica goes.
func TestAntiAffinitySpreadsReplicas(t *testing.T) {
	c := NewCache(time.Minute, nil)
	for _, n := range []string{"a", "b", "c"} {
		c.SetNode(zoned(n, ""))
	}
	algo := NewAlgorithm(1)
	replica := func(i int) *PodInfo {
		return NewPodInfo(web(fmt.Sprintf("web-%d", i), ownedBy("rs"), withPodAntiAffinity(term(hostname, "web"))))
	}
	decide := func(pi *PodInfo) (string, error) {
		return c.Decide(pi, func(nodes []*NodeInfo) (string, error) { return algo.Schedule(pi, nodes) })
	}
	used := map[string]bool{}
	for i := range 3 {
		n, err := decide(replica(i))
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		if used[n] {
			t.Fatalf("replica %d: got node %s twice", i, n)
		}
		used[n] = true
	}
	_, err := decide(replica(3))
	want := "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."
	if err == nil || err.Error() != want {
		t.Fatalf("fourth replica: got %v, want %q", err, want)
	}
	// A plain web pod is kept away by the replicas' own anti-affinity.
	_, err = decide(NewPodInfo(web("plain")))
	want = "0/3 nodes are available: 3 node(s) didn't satisfy existing pods anti-affinity rules."
	if err == nil || err.Error() != want {
		t.Fatalf("plain web pod: got %v, want %q", err, want)
	}
	if _, err := decide(NewPodInfo(pod("other", "", ""))); err != nil {
		t.Fatalf("pod the replicas do not select: %v", err)
	}
	c.RemovePod(types.UID("uid-web-1"))
	n, err := decide(replica(3))
	if err != nil {
		t.Fatalf("after a replica went: %v", err)
	}
	if n2, _ := c.Counted("uid-web-3"); n2 != n {
		t.Errorf("counted on %s, want %s", n2, n)
	}
}

// A bound pod's new labels, or its deletion starting, change what the
// spread and affinity checks count on its node.
func TestCacheRefreshesPodLabels(t *testing.T) {
	c := NewCache(time.Minute, nil)
	c.SetNode(zoned("a", ""))
	p := web("w1")
	p.Spec.NodeName = "a"
	c.AddPod(p)
	sel := newSpreadConstraints(web("x", withSpread(1, hostname, v1.DoNotSchedule, "web")), v1.DoNotSchedule)[0].selector
	count := func() int64 {
		ni, _ := c.Node("a")
		return countMatching(&ni, sel, "default")
	}
	if got := count(); got != 1 {
		t.Fatalf("bound web pod: got %d matching, want 1", got)
	}
	relabelled := p.DeepCopy()
	relabelled.Labels = map[string]string{"app": "api"}
	c.AddPod(relabelled)
	if got := count(); got != 0 {
		t.Errorf("after relabelling: got %d matching, want 0", got)
	}
	c.AddPod(p)
	terminating := p.DeepCopy()
	now := metav1.Now()
	terminating.DeletionTimestamp = &now
	c.AddPod(terminating)
	if got := count(); got != 0 {
		t.Errorf("terminating: got %d matching, want 0", got)
	}
}

func TestCacheCountsPodsWithAffinity(t *testing.T) {
	c := NewCache(time.Minute, nil)
	c.SetNode(zoned("a", ""))
	c.SetNode(zoned("b", ""))
	bind := func(p *v1.Pod, n string) {
		p.Spec.NodeName = n
		c.AddPod(p)
	}
	bind(web("anti", withPodAntiAffinity(term(hostname, "web"))), "a")
	bind(web("soft", withPreferredPodAffinity(weighted(1, term(hostname, "web")))), "b")
	bind(web("plain"), "b")
	if got, want := c.affinity, (podsWithAffinity{any: 2, anti: 1}); got != want {
		t.Errorf("after binding: got %+v, want %+v", got, want)
	}
	c.RemoveNode("a")
	if got, want := c.affinity, (podsWithAffinity{any: 1}); got != want {
		t.Errorf("after removing node a: got %+v, want %+v", got, want)
	}
	c.SetNode(zoned("a", ""))
	c.RemovePod("uid-soft")
	if got, want := c.affinity, (podsWithAffinity{any: 1, anti: 1}); got != want {
		t.Errorf("after node a returned and soft went: got %+v, want %+v", got, want)
	}
}
