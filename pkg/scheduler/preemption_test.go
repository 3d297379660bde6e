package scheduler

import (
	"slices"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var t0 = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

func withPriority(p int32) func(*v1.Pod) {
	return func(pod *v1.Pod) { pod.Spec.Priority = &p }
}

// on binds the pod to node, started at t0 plus the given minutes.
func on(node string, startedMinutes int) func(*v1.Pod) {
	return func(pod *v1.Pod) {
		pod.Spec.NodeName = node
		st := metav1.NewTime(t0.Add(time.Duration(startedMinutes) * time.Minute))
		pod.Status.StartTime = &st
	}
}

func neverPreempts(pod *v1.Pod) {
	never := v1.PreemptNever
	pod.Spec.PreemptionPolicy = &never
}

func preemptedAndTerminating(pod *v1.Pod) {
	now := metav1.NewTime(t0)
	pod.DeletionTimestamp = &now
	pod.Status.Conditions = append(pod.Status.Conditions, v1.PodCondition{
		Type: v1.DisruptionTarget, Status: v1.ConditionTrue, Reason: v1.PodReasonPreemptionByScheduler,
	})
}

func pdb(name string, allowed int32, kv ...string) *policyv1.PodDisruptionBudget {
	sel := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		sel[kv[i]] = kv[i+1]
	}
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec:       policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: sel}},
		Status:     policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: allowed},
	}
}

// nomination is a pod nominated for a node before the preemption runs.
type nominated struct {
	pod  *v1.Pod
	node string
}

func preemptionCache(nodes []*v1.Node, pods []*v1.Pod, noms []nominated) *Cache {
	c := NewCache(time.Minute, nil)
	for _, n := range nodes {
		c.SetNode(n)
	}
	for _, p := range pods {
		c.AddPod(p)
	}
	for _, n := range noms {
		c.Nominate(NewPodInfo(n.pod), n.node)
	}
	return c
}

func names(pods []*v1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

func TestPreemptionEvaluate(t *testing.T) {
	high := withPriority(1000)
	tests := []struct {
		name        string
		nodes       []*v1.Node
		pods        []*v1.Pod
		nominated   []nominated
		pdbs        []*policyv1.PodDisruptionBudget
		preemptor   *v1.Pod
		wantNode    string
		wantVictims []string
		wantPDB     int
		wantMsg     string
		wantClear   bool
	}{
		{
			name:  "lowest highest victim priority wins",
			nodes: []*v1.Node{node("n1", "2", "4Gi", 110), node("n2", "2", "4Gi", 110)},
			pods: []*v1.Pod{
				pod("mid", "2", "", withPriority(10), on("n1", 0)),
				pod("low-a", "1", "", withPriority(5), on("n2", 0)),
				pod("low-b", "1", "", withPriority(5), on("n2", 1)),
			},
			preemptor:   pod("p", "2", "", high),
			wantNode:    "n2",
			wantVictims: []string{"low-a", "low-b"},
			wantMsg:     "preemption: found a potential placement for pod on node n2, preempting 2 victims",
		},
		{
			name:  "reprieve keeps the most important pods that still leave room",
			nodes: []*v1.Node{node("n1", "4", "4Gi", 110)},
			pods: []*v1.Pod{
				pod("a", "1", "", withPriority(1), on("n1", 0)),
				pod("b", "1", "", withPriority(2), on("n1", 0)),
				pod("c", "2", "", withPriority(3), on("n1", 0)),
			},
			preemptor:   pod("p", "2", "", high),
			wantNode:    "n1",
			wantVictims: []string{"b", "a"},
			wantMsg:     "preemption: found a potential placement for pod on node n1, preempting 2 victims",
		},
		{
			name:  "equal and higher priorities are never victims",
			nodes: []*v1.Node{node("n1", "2", "4Gi", 110), node("n2", "2", "4Gi", 110)},
			pods: []*v1.Pod{
				pod("same", "2", "", high, on("n1", 0)),
				pod("higher", "2", "", withPriority(2000), on("n2", 0)),
			},
			preemptor: pod("p", "1", "", high),
			wantMsg:   "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.",
			wantClear: true,
		},
		{
			name:  "victims too small to make room",
			nodes: []*v1.Node{node("n1", "2", "4Gi", 110)},
			pods: []*v1.Pod{
				pod("big", "1500m", "", high, on("n1", 0)),
				pod("small", "500m", "", on("n1", 0)),
			},
			preemptor: pod("p", "1", "", high),
			wantMsg:   "preemption: 0/1 nodes are available: 1 Insufficient cpu.",
			wantClear: true,
		},
		{
			name: "removal cannot fix a taint",
			nodes: []*v1.Node{
				node("n1", "2", "4Gi", 110, withTaint("dedicated", "db", v1.TaintEffectNoSchedule)),
				node("n2", "2", "4Gi", 110),
			},
			pods: []*v1.Pod{
				pod("low1", "2", "", on("n1", 0)),
				pod("low2", "2", "", on("n2", 0)),
			},
			preemptor:   pod("p", "2", "", high),
			wantNode:    "n2",
			wantVictims: []string{"low2"},
			wantMsg:     "preemption: found a potential placement for pod on node n2, preempting 1 victims",
		},
		{
			name:      "no node removal could help",
			nodes:     []*v1.Node{node("n1", "2", "4Gi", 110, cordoned)},
			pods:      []*v1.Pod{pod("low", "2", "", on("n1", 0))},
			preemptor: pod("p", "2", "", high),
			wantMsg:   "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
			wantClear: true,
		},
		{
			name:  "anti-affinity is not simulated: the node reports it",
			nodes: []*v1.Node{node("n1", "2", "4Gi", 110), node("n2", "2", "4Gi", 110)},
			pods: []*v1.Pod{
				pod("x", "2", "", podLabels("app", "x"), on("n1", 0)),
				pod("same", "2", "", high, on("n2", 0)),
			},
			preemptor: pod("p", "2", "", high, withPodAntiAffinity(term("kubernetes.io/hostname", "x"))),
			wantMsg:   "preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 node(s) didn't match pod anti-affinity rules.",
			wantClear: true,
		},
		{
			name:      "required pod affinity no pod matches: not helpful",
			nodes:     []*v1.Node{node("n1", "2", "4Gi", 110)},
			pods:      []*v1.Pod{pod("x", "2", "", podLabels("app", "x"), on("n1", 0))},
			preemptor: pod("p", "2", "", high, withPodAffinity(term("kubernetes.io/hostname", "nobody"))),
			wantMsg:   "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
			wantClear: true,
		},
		{
			name:      "preemptionPolicy Never",
			nodes:     []*v1.Node{node("n1", "2", "4Gi", 110)},
			pods:      []*v1.Pod{pod("low", "2", "", on("n1", 0))},
			preemptor: pod("p", "2", "", high, neverPreempts),
			wantMsg:   "preemption: not eligible due to preemptionPolicy=Never.",
		},
		{
			name:  "host port freed by preemption",
			nodes: []*v1.Node{node("n1", "4", "4Gi", 110)},
			pods: []*v1.Pod{
				pod("port", "100m", "", withHostPort(8080, v1.ProtocolTCP, ""), on("n1", 0)),
				pod("other", "100m", "", on("n1", 0)),
			},
			preemptor:   pod("p", "100m", "", high, withHostPort(8080, v1.ProtocolTCP, "")),
			wantNode:    "n1",
			wantVictims: []string{"port"},
			wantMsg:     "preemption: found a potential placement for pod on node n1, preempting 1 victims",
		},
		{
			name:  "node without PDB violation preferred",
			nodes: []*v1.Node{node("n1", "2", "4Gi", 110), node("n2", "2", "4Gi", 110)},
			pods: []*v1.Pod{
				pod("db", "2", "", podLabels("app", "db"), on("n1", 5)),
				pod("web", "2", "", podLabels("app", "web"), on("n2", 0)),
			},
			pdbs:        []*policyv1.PodDisruptionBudget{pdb("db", 0, "app", "db")},
			preemptor:   pod("p", "2", "", high),
			wantNode:    "n2",
			wantVictims: []string{"web"},
			wantMsg:     "preemption: found a potential placement for pod on node n2, preempting 1 victims",
		},
		{
			name:  "PDB-protected pod reprieved first on its node",
			nodes: []*v1.Node{node("n1", "4", "4Gi", 110)},
			pods: []*v1.Pod{
				// Without the PDB the older web pod is more important and kept.
				pod("db", "2", "", podLabels("app", "db"), on("n1", 5)),
				pod("web", "2", "", podLabels("app", "web"), on("n1", 0)),
			},
			pdbs:        []*policyv1.PodDisruptionBudget{pdb("db", 0, "app", "db")},
			preemptor:   pod("p", "2", "", high),
			wantNode:    "n1",
			wantVictims: []string{"web"},
			wantMsg:     "preemption: found a potential placement for pod on node n1, preempting 1 victims",
		},
		{
			name:  "PDB violated when nothing else makes room",
			nodes: []*v1.Node{node("n1", "2", "4Gi", 110)},
			pods: []*v1.Pod{
				pod("db", "2", "", podLabels("app", "db"), on("n1", 0)),
			},
			pdbs:        []*policyv1.PodDisruptionBudget{pdb("db", 0, "app", "db")},
			preemptor:   pod("p", "2", "", high),
			wantNode:    "n1",
			wantVictims: []string{"db"},
			wantPDB:     1,
			wantMsg:     "preemption: found a potential placement for pod on node n1, preempting 1 victims",
		},
		{
			name:  "PDB with disruptions allowed is no violation",
			nodes: []*v1.Node{node("n1", "2", "4Gi", 110), node("n2", "2", "4Gi", 110)},
			pods: []*v1.Pod{
				pod("db", "2", "", withPriority(1), podLabels("app", "db"), on("n1", 0)),
				pod("web", "2", "", withPriority(2), podLabels("app", "web"), on("n2", 0)),
			},
			pdbs:        []*policyv1.PodDisruptionBudget{pdb("db", 1, "app", "db")},
			preemptor:   pod("p", "2", "", high),
			wantNode:    "n1",
			wantVictims: []string{"db"},
			wantMsg:     "preemption: found a potential placement for pod on node n1, preempting 1 victims",
		},
		{
			name:  "smaller priority sum (fewer victims) wins",
			nodes: []*v1.Node{node("n1", "2", "4Gi", 110), node("n2", "2", "4Gi", 110)},
			pods: []*v1.Pod{
				pod("a1", "1", "", on("n1", 0)),
				pod("a2", "1", "", on("n1", 0)),
				pod("b1", "2", "", on("n2", 0)),
			},
			preemptor:   pod("p", "2", "", high),
			wantNode:    "n2",
			wantVictims: []string{"b1"},
			wantMsg:     "preemption: found a potential placement for pod on node n2, preempting 1 victims",
		},
		{
			name:  "latest earliest start time wins the tie",
			nodes: []*v1.Node{node("n1", "2", "4Gi", 110), node("n2", "2", "4Gi", 110), node("n3", "2", "4Gi", 110)},
			pods: []*v1.Pod{
				pod("old", "2", "", on("n1", 0)),
				pod("young", "2", "", on("n2", 30)),
				pod("middle", "2", "", on("n3", 10)),
			},
			preemptor:   pod("p", "2", "", high),
			wantNode:    "n2",
			wantVictims: []string{"young"},
			wantMsg:     "preemption: found a potential placement for pod on node n2, preempting 1 victims",
		},
		{
			name:  "victims still terminating on the nominated node: wait",
			nodes: []*v1.Node{node("n1", "2", "4Gi", 110), node("n2", "2", "4Gi", 110)},
			pods: []*v1.Pod{
				pod("going", "2", "", on("n1", 0), preemptedAndTerminating),
				pod("low", "2", "", on("n2", 0)),
			},
			nominated: []nominated{{pod("p", "2", "", high), "n1"}},
			preemptor: pod("p", "2", "", high),
			wantMsg:   "preemption: not eligible due to a terminating pod on the nominated node.",
		},
		{
			name:  "a nominated pod of higher priority keeps its room",
			nodes: []*v1.Node{node("n1", "4", "4Gi", 110)},
			pods: []*v1.Pod{
				pod("low", "2", "", on("n1", 0)),
			},
			nominated: []nominated{{pod("first", "2", "", withPriority(2000)), "n1"}},
			preemptor: pod("p", "3", "", high),
			wantMsg:   "preemption: 0/1 nodes are available: 1 Insufficient cpu.",
			wantClear: true,
		},
		{
			name:  "a nominated pod of lower priority loses its room",
			nodes: []*v1.Node{node("n1", "4", "4Gi", 110)},
			pods: []*v1.Pod{
				pod("low", "2", "", on("n1", 0)),
			},
			nominated:   []nominated{{pod("later", "2", "", withPriority(10)), "n1"}},
			preemptor:   pod("p", "3", "", high),
			wantNode:    "n1",
			wantVictims: []string{"low"},
			wantMsg:     "preemption: found a potential placement for pod on node n1, preempting 1 victims",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := preemptionCache(tt.nodes, tt.pods, tt.nominated)
			pi := NewPodInfo(tt.preemptor)
			pr := NewPreemption(1)
			var msg string
			var clear bool
			plan := c.Preempt(pi, func(nodes []*NodeInfo, view PodView) *Plan {
				var p *Plan
				p, msg, clear = pr.Evaluate(pi, nodes, view, tt.pdbs, t0.Add(time.Hour))
				return p
			})
			if msg != tt.wantMsg {
				t.Errorf("message: got %q, want %q", msg, tt.wantMsg)
			}
			if clear != tt.wantClear {
				t.Errorf("clear nomination: got %v, want %v", clear, tt.wantClear)
			}
			if tt.wantNode == "" {
				if plan != nil {
					t.Fatalf("got a plan for %s evicting %v, want none", plan.NodeName, names(plan.Victims))
				}
				return
			}
			if plan == nil {
				t.Fatalf("got no plan, want node %s", tt.wantNode)
			}
			if plan.NodeName != tt.wantNode {
				t.Errorf("node: got %s, want %s", plan.NodeName, tt.wantNode)
			}
			if got := names(plan.Victims); !slices.Equal(got, tt.wantVictims) {
				t.Errorf("victims: got %v, want %v", got, tt.wantVictims)
			}
			if plan.PDBViolations != tt.wantPDB {
				t.Errorf("PDB violations: got %d, want %d", plan.PDBViolations, tt.wantPDB)
			}
			if node, ok := c.Nominated(tt.preemptor.UID); !ok || node != tt.wantNode {
				t.Errorf("nominated: got %q (%v), want %s", node, ok, tt.wantNode)
			}
		})
	}
}

// A preemption unnominates the pods of lower priority nominated for its
// node, and leaves those of higher priority alone.
func TestPreemptionUnnominatesLowerPriority(t *testing.T) {
	lower := pod("lower", "1", "", withPriority(10))
	higher := pod("higher", "1", "", withPriority(5000))
	c := preemptionCache(
		[]*v1.Node{node("n1", "4", "4Gi", 110)},
		[]*v1.Pod{pod("low", "2", "", on("n1", 0))},
		[]nominated{{lower, "n1"}, {higher, "n1"}},
	)
	pi := NewPodInfo(pod("p", "2", "", withPriority(1000)))
	pr := NewPreemption(1)
	plan := c.Preempt(pi, func(nodes []*NodeInfo, view PodView) *Plan {
		p, _, _ := pr.Evaluate(pi, nodes, view, nil, t0)
		return p
	})
	if plan == nil {
		t.Fatal("got no plan, want one on n1")
	}
	if got := names(plan.Unnominated); !slices.Equal(got, []string{"lower"}) {
		t.Errorf("unnominated: got %v, want [lower]", got)
	}
	for _, tt := range []struct {
		pod  *v1.Pod
		want bool
	}{{lower, false}, {higher, true}, {pi.Pod, true}} {
		if _, got := c.Nominated(tt.pod.UID); got != tt.want {
			t.Errorf("%s nominated: got %v, want %v", tt.pod.Name, got, tt.want)
		}
	}

	// Tried again before the informer shows its victim terminating, the
	// pod waits instead of preempting again.
	var msg string
	again := c.Preempt(pi, func(nodes []*NodeInfo, view PodView) *Plan {
		p, m, _ := pr.Evaluate(pi, nodes, view, nil, t0)
		msg = m
		return p
	})
	if want := "preemption: " + msgTerminatingVictims; again != nil || msg != want {
		t.Errorf("second attempt: got plan %v, %q, want none, %q", again != nil, msg, want)
	}
	// Once its eviction failed, it may preempt again.
	c.Unpreempted(plan.Victims[0].UID)
	if again = c.Preempt(pi, func(nodes []*NodeInfo, view PodView) *Plan {
		p, _, _ := pr.Evaluate(pi, nodes, view, nil, t0)
		return p
	}); again == nil {
		t.Error("no plan after the failed eviction")
	}
}

func TestPickCandidate(t *testing.T) {
	rec := func(prio int32, startedMinutes int) *podRecord {
		p := pod("x", "1", "", withPriority(prio), on("n", startedMinutes))
		return &podRecord{Pod: p, Priority: prio}
	}
	tests := []struct {
		name string
		cs   []candidate
		want int
	}{
		{"fewest PDB violations", []candidate{
			{victims: []*podRecord{rec(1, 0)}, violations: 1},
			{victims: []*podRecord{rec(100, 0), rec(100, 0)}, violations: 0},
		}, 1},
		{"lowest highest priority", []candidate{
			{victims: []*podRecord{rec(50, 0)}},
			{victims: []*podRecord{rec(10, 0), rec(5, 0), rec(5, 0)}},
		}, 1},
		{"smallest priority sum", []candidate{
			{victims: []*podRecord{rec(10, 0), rec(9, 0)}},
			{victims: []*podRecord{rec(10, 0), rec(1, 0)}},
		}, 1},
		{"fewest victims", []candidate{
			{victims: []*podRecord{rec(0, 0), rec(0, 0)}},
			{victims: []*podRecord{rec(0, 0)}},
		}, 1},
		{"latest start among the highest-priority victims", []candidate{
			{victims: []*podRecord{rec(5, 20), rec(1, 90)}},
			{victims: []*podRecord{rec(5, 30), rec(1, 0)}},
		}, 1},
		{"first of the tied", []candidate{
			{victims: []*podRecord{rec(5, 30)}},
			{victims: []*podRecord{rec(5, 30)}},
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pickCandidate(tt.cs, t0.Add(time.Hour)); got != tt.want {
				t.Errorf("got candidate %d, want %d", got, tt.want)
			}
		})
	}
}

// Pods nominated for a node hold their room there against pods of lower
// priority, and a nominated pod goes to its node first.
func TestScheduleWithNominatedPods(t *testing.T) {
	tests := []struct {
		name      string
		nominee   *v1.Pod
		pod       *v1.Pod
		wantNode  string
		wantError string
	}{
		{"lower priority cannot take the room", pod("nominee", "3", "", withPriority(100)), pod("p", "2", "", withPriority(10)),
			"", "0/1 nodes are available: 1 Insufficient cpu."},
		{"equal priority cannot either", pod("nominee", "3", "", withPriority(100)), pod("p", "2", "", withPriority(100)),
			"", "0/1 nodes are available: 1 Insufficient cpu."},
		{"higher priority can", pod("nominee", "3", "", withPriority(100)), pod("p", "2", "", withPriority(1000)), "n1", ""},
		{"the nominee itself can", pod("nominee", "3", "", withPriority(100)), pod("nominee", "3", "", withPriority(100)), "n1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := preemptionCache([]*v1.Node{node("n1", "4", "4Gi", 110)}, nil, []nominated{{tt.nominee, "n1"}})
			a := NewAlgorithm(1)
			pi := NewPodInfo(tt.pod)
			got, err := c.Decide(pi, func(nodes []*NodeInfo) (string, error) { return a.Schedule(pi, nodes) })
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			if got != tt.wantNode || msg != tt.wantError {
				t.Errorf("got %q, %q, want %q, %q", got, msg, tt.wantNode, tt.wantError)
			}
		})
	}

	// The nominated node is taken when it fits, over a better-scored one.
	c := preemptionCache([]*v1.Node{node("busy", "4", "4Gi", 110), node("empty", "64", "64Gi", 110)},
		[]*v1.Pod{pod("x", "2", "", on("busy", 0))}, nil)
	p := pod("p", "1", "", withPriority(10))
	c.Nominate(NewPodInfo(p), "busy")
	a := NewAlgorithm(1)
	for range 5 {
		pi := NewPodInfo(p)
		got, err := c.Decide(pi, func(nodes []*NodeInfo) (string, error) { return a.Schedule(pi, nodes) })
		if err != nil || got != "busy" {
			t.Fatalf("got %q, %v, want busy", got, err)
		}
		c.Forget(p.UID)
		c.Nominate(pi, "busy")
	}
	// Placing it ends the nomination.
	pi := NewPodInfo(p)
	if _, err := c.Decide(pi, func(nodes []*NodeInfo) (string, error) { return a.Schedule(pi, nodes) }); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Nominated(p.UID); ok {
		t.Error("still nominated after being assumed")
	}
}
