package scheduler_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"minik8s/pkg/apiserver/apiservertest"
	"minik8s/pkg/scheduler"
)

type cluster struct {
	t      *testing.T
	ctx    context.Context
	client kubernetes.Interface
	sched  *scheduler.Scheduler
}

// start runs a real apiserver and our scheduler against it.
func start(t *testing.T) *cluster {
	t.Helper()
	srv := apiservertest.Start(t)
	client := kubernetes.NewForConfigOrDie(srv.Config)
	ctx, cancel := context.WithCancel(context.Background())
	cfg := scheduler.NewConfig()
	cfg.BackoffInitial, cfg.BackoffMax = 100*time.Millisecond, 400*time.Millisecond
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s := scheduler.New(client, cfg)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("scheduler: %v", err)
		}
	})
	return &cluster{t: t, ctx: ctx, client: client, sched: s}
}

func (c *cluster) node(name, cpu string, mods ...func(*v1.Node)) {
	c.t.Helper()
	n := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Status: v1.NodeStatus{
			Capacity:    v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu), v1.ResourceMemory: resource.MustParse("8Gi"), v1.ResourcePods: resource.MustParse("110")},
			Allocatable: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu), v1.ResourceMemory: resource.MustParse("8Gi"), v1.ResourcePods: resource.MustParse("110")},
			Conditions:  []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}},
		},
	}
	for _, m := range mods {
		m(n)
	}
	if _, err := c.client.CoreV1().Nodes().Create(c.ctx, n, metav1.CreateOptions{}); err != nil {
		c.t.Fatalf("creating node %s: %v", name, err)
	}
	// Pods created next are decided against the scheduler's cache: wait
	// until its informer has delivered the node, so a test's expectations
	// do not race the watch. (Without c.sched, the schedulers are the
	// test's own and start after their nodes exist.)
	if c.sched == nil {
		return
	}
	err := wait.PollUntilContextTimeout(c.ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		_, ok := c.sched.Cache().Node(name)
		return ok, nil
	})
	if err != nil {
		c.t.Fatalf("scheduler never saw node %s: %v", name, err)
	}
}

func (c *cluster) pod(name, cpu string, mods ...func(*v1.Pod)) {
	c.t.Helper()
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "minik8s/echo:latest",
			Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu)}}}}},
	}
	for _, m := range mods {
		m(p)
	}
	if _, err := c.client.CoreV1().Pods("default").Create(c.ctx, p, metav1.CreateOptions{}); err != nil {
		c.t.Fatalf("creating pod %s: %v", name, err)
	}
}

// placement waits until want pods are bound (and the rest stay pending for
// a moment) and returns pod → node.
func (c *cluster) placement(want int) map[string]string {
	c.t.Helper()
	var got map[string]string
	err := wait.PollUntilContextTimeout(c.ctx, 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		pods, err := c.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		got = map[string]string{}
		for _, p := range pods.Items {
			if p.Spec.NodeName != "" {
				got[p.Name] = p.Spec.NodeName
			}
		}
		return len(got) >= want, nil
	})
	if err != nil {
		c.t.Fatalf("waiting for %d bound pods: %v (have %v)", want, err, got)
	}
	return got
}

func (c *cluster) condition(pod string) v1.PodCondition {
	c.t.Helper()
	return c.conditionWith(pod, "")
}

// conditionWith waits for the pod's PodScheduled condition to carry
// message (any message when it is ""), and returns the last condition seen
// either way so the caller's assertion shows what was there. The scheduler
// may first try the pod before its informer has seen a node the test just
// created ("no nodes available to schedule pods"); the node's arrival
// requeues the pod and the message converges.
func (c *cluster) conditionWith(pod, message string) v1.PodCondition {
	c.t.Helper()
	var cond v1.PodCondition
	found := false
	err := wait.PollUntilContextTimeout(c.ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := c.client.CoreV1().Pods("default").Get(ctx, pod, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cd := range p.Status.Conditions {
			if cd.Type == v1.PodScheduled {
				cond, found = cd, true
				return message == "" || cd.Message == message, nil
			}
		}
		return false, nil
	})
	if err != nil && !found {
		c.t.Fatalf("waiting for PodScheduled on %s: %v", pod, err)
	}
	return cond
}

func (c *cluster) event(pod, reason, message string) {
	c.t.Helper()
	var seen []string
	err := wait.PollUntilContextTimeout(c.ctx, 100*time.Millisecond, 15*time.Second, true, func(ctx context.Context) (bool, error) {
		evs, err := c.client.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		seen = seen[:0]
		for _, e := range evs.Items {
			if e.InvolvedObject.Name != pod {
				continue
			}
			seen = append(seen, e.Reason+": "+e.Message)
			if e.Reason == reason && e.Message == message && e.Source.Component == "default-scheduler" && e.InvolvedObject.Kind == "Pod" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		c.t.Fatalf("no %s event %q for %s: %v (saw %q)", reason, message, pod, err, seen)
	}
}

func ownedBy(uid string) func(*v1.Pod) {
	return func(p *v1.Pod) {
		yes := true
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs-" + uid, UID: types.UID(uid), Controller: &yes}}
	}
}

func TestIntegrationSpreadSelectorTaintCordon(t *testing.T) {
	c := start(t)
	c.node("n1", "8")
	c.node("n2", "8")
	c.node("n3", "8", func(n *v1.Node) { n.Labels["disk"] = "ssd" })
	c.node("tainted", "64", func(n *v1.Node) {
		n.Spec.Taints = []v1.Taint{{Key: "dedicated", Value: "db", Effect: v1.TaintEffectNoSchedule}}
	})
	c.node("cordoned", "64", func(n *v1.Node) { n.Spec.Unschedulable = true })
	c.node("down", "64", func(n *v1.Node) { n.Status.Conditions[0].Status = v1.ConditionFalse })

	for i := range 6 {
		c.pod(fmt.Sprintf("web-%d", i), "100m", ownedBy("rs-web"))
	}
	c.pod("fast", "100m", func(p *v1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} })
	c.pod("db", "100m", func(p *v1.Pod) {
		p.Spec.Tolerations = []v1.Toleration{{Key: "dedicated", Operator: v1.TolerationOpEqual, Value: "db", Effect: v1.TaintEffectNoSchedule}}
		p.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": "tainted"}
	})
	c.pod("other", "100m", func(p *v1.Pod) { p.Spec.SchedulerName = "someone-else" })

	got := c.placement(8)
	perNode := map[string]int{}
	for i := range 6 {
		n := got[fmt.Sprintf("web-%d", i)]
		if n == "tainted" || n == "cordoned" || n == "down" {
			t.Errorf("web-%d on %s", i, n)
		}
		perNode[n]++
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		if perNode[n] != 2 {
			t.Errorf("ReplicaSet spread: got %v, want 2 per node", perNode)
			break
		}
	}
	if got["fast"] != "n3" {
		t.Errorf("nodeSelector pod on %q, want n3", got["fast"])
	}
	if got["db"] != "tainted" {
		t.Errorf("tolerating pod on %q, want tainted", got["db"])
	}
	if n, ok := got["other"]; ok {
		t.Errorf("pod for another scheduler bound to %s", n)
	}
	if cond := c.condition("fast"); cond.Status != v1.ConditionTrue {
		t.Errorf("PodScheduled of a bound pod: %+v", cond)
	}
	c.event("fast", "Scheduled", "Successfully assigned default/fast to n3")
}

func TestIntegrationCapacityAndNewNode(t *testing.T) {
	c := start(t)
	c.node("a", "2")
	c.node("b", "2")
	c.node("c", "2", func(n *v1.Node) { n.Spec.Unschedulable = true })
	for i := range 6 {
		c.pod(fmt.Sprintf("p%d", i), "1")
	}
	got := c.placement(4)
	time.Sleep(time.Second) // let any overcommit show
	got = c.placement(4)
	if len(got) != 4 {
		t.Fatalf("bound %d pods of 1 cpu on 4 cpus: %v", len(got), got)
	}
	perNode := map[string]int{}
	pending := ""
	for i := range 6 {
		name := fmt.Sprintf("p%d", i)
		if n, ok := got[name]; ok {
			perNode[n]++
		} else {
			pending = name
		}
	}
	if perNode["a"] != 2 || perNode["b"] != 2 {
		t.Errorf("placement %v, want 2 on a and 2 on b", perNode)
	}
	wantMsg := "0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod."
	cond := c.conditionWith(pending, wantMsg)
	if cond.Status != v1.ConditionFalse || cond.Reason != "Unschedulable" || cond.Message != wantMsg {
		t.Errorf("condition of %s: got %s/%s %q, want False/Unschedulable %q", pending, cond.Status, cond.Reason, cond.Message, wantMsg)
	}
	if cond.ObservedGeneration != 1 {
		t.Errorf("condition of %s: observedGeneration %d, want the pod's generation 1", pending, cond.ObservedGeneration)
	}
	c.event(pending, "FailedScheduling", wantMsg)

	// A node big enough appears: both pending pods go there, promptly.
	c.node("big", "4")
	got = c.placement(6)
	if got["p4"] == "" || got["p5"] == "" {
		t.Fatalf("pending pods not placed: %v", got)
	}
	for i := range 6 {
		if n := got[fmt.Sprintf("p%d", i)]; n == "c" {
			t.Errorf("pod on cordoned node c")
		}
	}
	perNode = map[string]int{}
	for _, n := range got {
		perNode[n]++
	}
	if perNode["big"] != 2 {
		t.Errorf("placement after new node %v, want 2 on big", perNode)
	}
}

// Uncordoning a node wakes the pending pods; deleting a pod frees room.
func TestIntegrationUncordonAndDelete(t *testing.T) {
	c := start(t)
	c.node("only", "1", func(n *v1.Node) { n.Spec.Unschedulable = true })
	c.pod("x", "1")
	want := "0/1 nodes are available: 1 node(s) were unschedulable. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
	cond := c.conditionWith("x", want)
	if cond.Message != want {
		t.Errorf("message %q, want %q", cond.Message, want)
	}
	n, err := c.client.CoreV1().Nodes().Get(c.ctx, "only", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Spec.Unschedulable = false
	if _, err := c.client.CoreV1().Nodes().Update(c.ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := c.placement(1); got["x"] != "only" {
		t.Fatalf("x after uncordon: %v", got)
	}
	c.pod("y", "1")
	want = "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
	cond = c.conditionWith("y", want)
	if cond.Message != want || cond.Reason != "Unschedulable" {
		t.Errorf("y: %s %q, want Unschedulable %q", cond.Reason, cond.Message, want)
	}
	// Force: a bound pod's graceful delete waits for its kubelet, and until
	// then the pod still holds its node's resources.
	zero := int64(0)
	if err := c.client.CoreV1().Pods("default").Delete(c.ctx, "x", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(c.ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := c.client.CoreV1().Pods("default").Get(ctx, "y", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		return p.Spec.NodeName == "only", nil
	})
	if err != nil {
		pods, _ := c.client.CoreV1().Pods("default").List(c.ctx, metav1.ListOptions{})
		var s []string
		for _, p := range pods.Items {
			s = append(s, p.Name+"@"+p.Spec.NodeName)
		}
		t.Fatalf("y not placed after x was deleted: %v (%s)", err, strings.Join(s, " "))
	}
}

func antiAffinityWeb(p *v1.Pod) {
	p.Labels = map[string]string{"app": "web"}
	p.Spec.Affinity = &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
			TopologyKey:   "kubernetes.io/hostname",
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		}},
	}}
}

// Replicas with required anti-affinity on the hostname land one per node;
// the one too many stays pending with upstream's message, and a pod that
// needs to be near them (zone affinity) joins them.
func TestIntegrationPodAntiAffinity(t *testing.T) {
	c := start(t)
	for _, n := range []string{"n1", "n2", "n3"} {
		c.node(n, "8", func(n *v1.Node) { n.Labels["topology.kubernetes.io/zone"] = "z1" })
	}
	c.node("far", "8", func(n *v1.Node) { n.Labels["topology.kubernetes.io/zone"] = "z2"; n.Labels["role"] = "far" })
	for i := range 3 {
		c.pod(fmt.Sprintf("web-%d", i), "100m", ownedBy("rs-web"), antiAffinityWeb, func(p *v1.Pod) {
			p.Spec.NodeSelector = map[string]string{"topology.kubernetes.io/zone": "z1"}
		})
	}
	got := c.placement(3)
	seen := map[string]bool{}
	for i := range 3 {
		n := got[fmt.Sprintf("web-%d", i)]
		if seen[n] || n == "far" {
			t.Errorf("web-%d on %s: got %v, want one per z1 node", i, n, got)
		}
		seen[n] = true
	}
	c.pod("web-3", "100m", ownedBy("rs-web"), antiAffinityWeb, func(p *v1.Pod) {
		p.Spec.NodeSelector = map[string]string{"topology.kubernetes.io/zone": "z1"}
	})
	want := "0/4 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 3 node(s) didn't match pod anti-affinity rules. preemption: 0/4 nodes are available: 1 Preemption is not helpful for scheduling, 3 No preemption victims found for incoming pod."
	if cond := c.conditionWith("web-3", want); cond.Message != want {
		t.Errorf("web-3: got %q, want %q", cond.Message, want)
	}
	// A pod near the web pods: only the z1 nodes qualify.
	c.pod("cache", "100m", func(p *v1.Pod) {
		p.Spec.Affinity = &v1.Affinity{PodAffinity: &v1.PodAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
				TopologyKey:   "topology.kubernetes.io/zone",
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			}},
		}}
	})
	got = c.placement(4)
	if n := got["cache"]; n == "far" || n == "" {
		t.Errorf("cache with zone affinity to web on %q, want a z1 node", n)
	}
}

// DoNotSchedule zone spreading with maxSkew 1 over two zones of unequal
// size puts as many pods in the small zone as in the big one.
func TestIntegrationTopologySpread(t *testing.T) {
	c := start(t)
	c.node("a1", "8", func(n *v1.Node) { n.Labels["topology.kubernetes.io/zone"] = "a" })
	c.node("a2", "8", func(n *v1.Node) { n.Labels["topology.kubernetes.io/zone"] = "a" })
	c.node("a3", "8", func(n *v1.Node) { n.Labels["topology.kubernetes.io/zone"] = "a" })
	c.node("b1", "8", func(n *v1.Node) { n.Labels["topology.kubernetes.io/zone"] = "b" })
	c.node("nozone", "8")
	spread := func(p *v1.Pod) {
		p.Labels = map[string]string{"app": "db"}
		p.Spec.TopologySpreadConstraints = []v1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: v1.DoNotSchedule,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
		}}
	}
	for i := range 6 {
		c.pod(fmt.Sprintf("db-%d", i), "100m", ownedBy("rs-db"), spread)
	}
	got := c.placement(6)
	zones := map[string]int{}
	for i := range 6 {
		switch n := got[fmt.Sprintf("db-%d", i)]; n {
		case "b1":
			zones["b"]++
		case "nozone":
			t.Errorf("db-%d on a node without the zone label", i)
		default:
			zones["a"]++
		}
	}
	if zones["a"] != 3 || zones["b"] != 3 {
		t.Errorf("got %v, want 3 per zone", zones)
	}
}

// A pod of a high PriorityClass that fits nowhere preempts: the node whose
// eviction spares the PodDisruptionBudget is chosen, the victim gets the
// DisruptionTarget condition, a Preempted event and a graceful delete,
// the preemptor is nominated and its room is held against a pod of lower
// priority until the victim is gone; then it binds there.
func TestIntegrationPreemption(t *testing.T) {
	c := start(t)
	c.node("n1", "2")
	c.node("n2", "2")
	c.pod("db", "2", func(p *v1.Pod) { p.Labels = map[string]string{"app": "db"} })
	c.pod("web", "2", func(p *v1.Pod) { p.Labels = map[string]string{"app": "web"} })
	placed := c.placement(2)

	budget := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: ptrIntOrString(1), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}},
	}
	budget, err := c.client.PolicyV1().PodDisruptionBudgets("default").Create(c.ctx, budget, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// No disruption controller here: write the status it would.
	budget.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: budget.Generation, DisruptionsAllowed: 0, CurrentHealthy: 1, DesiredHealthy: 1, ExpectedPods: 1}
	if _, err := c.client.PolicyV1().PodDisruptionBudgets("default").UpdateStatus(c.ctx, budget, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000}
	if _, err := c.client.SchedulingV1().PriorityClasses().Create(c.ctx, pc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The scheduler must know the budget before the pod arrives (with or
	// without its status: none means no disruption allowed).
	err = wait.PollUntilContextTimeout(c.ctx, 20*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		_, err := c.sched.PodDisruptionBudgets().PodDisruptionBudgets("default").Get("db")
		return err == nil, nil
	})
	if err != nil {
		t.Fatal("the scheduler never saw the budget's status")
	}
	c.pod("urgent", "2", func(p *v1.Pod) { p.Spec.PriorityClassName = "high" })

	target := placed["web"]
	var web *v1.Pod
	err = wait.PollUntilContextTimeout(c.ctx, 50*time.Millisecond, 15*time.Second, true, func(ctx context.Context) (bool, error) {
		web, err = c.client.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{})
		return err == nil && web.DeletionTimestamp != nil, err
	})
	if err != nil {
		t.Fatalf("web never deleted: %v", err)
	}
	var cond *v1.PodCondition
	for i := range web.Status.Conditions {
		if web.Status.Conditions[i].Type == v1.DisruptionTarget {
			cond = &web.Status.Conditions[i]
		}
	}
	wantCond := "True/PreemptionByScheduler: default-scheduler: preempting to accommodate a higher priority pod"
	if cond == nil || fmt.Sprintf("%s/%s: %s", cond.Status, cond.Reason, cond.Message) != wantCond {
		t.Errorf("web's DisruptionTarget: got %+v, want %s", cond, wantCond)
	}
	urgent, err := c.client.CoreV1().Pods("default").Get(c.ctx, "urgent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.event("web", "Preempted", fmt.Sprintf("Preempted by pod %s on node %s", urgent.UID, target))
	wantMsg := fmt.Sprintf("0/2 nodes are available: 2 Insufficient cpu. preemption: found a potential placement for pod on node %s, preempting 1 victims", target)
	c.event("urgent", "FailedScheduling", wantMsg)
	err = wait.PollUntilContextTimeout(c.ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		urgent, err = c.client.CoreV1().Pods("default").Get(ctx, "urgent", metav1.GetOptions{})
		return err == nil && urgent.Status.NominatedNodeName != "", err
	})
	if err != nil || urgent.Status.NominatedNodeName != target {
		t.Fatalf("urgent's nominatedNodeName: got %q (%v), want %s", urgent.Status.NominatedNodeName, err, target)
	}

	// A pod of lower priority arrives while web terminates; then web goes
	// (as the kubelet would end it).
	c.pod("sneaky", "2")
	if err := c.client.CoreV1().Pods("default").Delete(c.ctx, "web", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	got := c.placement(2)
	if got["urgent"] != target || got["db"] != placed["db"] || got["sneaky"] != "" {
		t.Errorf("placement: got %v, want urgent on %s, db on %s, sneaky pending", got, target, placed["db"])
	}
	// sneaky has priority 0 and nothing below it: it preempts nothing.
	wantMsg = "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
	if cond := c.conditionWith("sneaky", wantMsg); cond.Message != wantMsg {
		t.Errorf("sneaky's condition: got %q, want %q", cond.Message, wantMsg)
	}
	// Binding ends the nomination.
	if urgent, err = c.client.CoreV1().Pods("default").Get(c.ctx, "urgent", metav1.GetOptions{}); err != nil || urgent.Status.NominatedNodeName != "" {
		t.Errorf("urgent's nominatedNodeName once bound: got %q (%v), want none", urgent.Status.NominatedNodeName, err)
	}
	if _, nominated := c.sched.Cache().Nominated(urgent.UID); nominated {
		t.Error("urgent still nominated in the scheduler's cache once bound")
	}
	if s := c.sched.Stats(); s.Preemptions != 1 || s.Victims != 1 {
		t.Errorf("stats: got %d preemptions, %d victims, want 1, 1", s.Preemptions, s.Victims)
	}
}

func ptrIntOrString(i int) *intstr.IntOrString {
	v := intstr.FromInt(i)
	return &v
}
