//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
)

// TestPreemptionOnTheLab: the lab's nodes are filled with pods of a low
// PriorityClass by CPU requests (from each node's allocatable and what
// its pods already request), those on one node under a
// PodDisruptionBudget that allows no disruption. A pod of a high
// PriorityClass that fits only by preemption then runs: the scheduler
// evicted one low pod, not a protected one, which got the DisruptionTarget
// condition and a Preempted event and was deleted.
func TestPreemptionOnTheLab(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()

	for name, value := range map[string]int32{"e2e-preemption-low": -10, "e2e-preemption-high": 1000} {
		pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value}
		if _, err := cs.SchedulingV1().PriorityClasses().Create(ctx, pc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		t.Cleanup(func() { cs.SchedulingV1().PriorityClasses().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	}

	// Free CPU per schedulable node.
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	requested := map[string]int64{}
	for _, p := range pods.Items {
		if p.Spec.NodeName == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		for _, c := range p.Spec.Containers {
			requested[p.Spec.NodeName] += c.Resources.Requests.Cpu().MilliValue()
		}
	}
	var names []string
	free := map[string]int64{}
	for _, n := range nodes.Items {
		if n.Spec.Unschedulable || len(n.Spec.Taints) > 0 {
			continue
		}
		names = append(names, n.Name)
		free[n.Name] = n.Status.Allocatable.Cpu().MilliValue() - requested[n.Name]
	}
	if len(names) < 2 {
		t.Fatalf("need 2 schedulable nodes, have %v", names)
	}

	// Two fillers per node, each half of its free CPU; the preemptor asks
	// for the smallest filler: it fits nowhere as things are, and anywhere
	// one filler goes.
	protectedNode := names[0]
	want := int64(0)
	type filler struct{ name, node string }
	var fillers []filler
	for _, node := range names {
		half := free[node] / 2
		if half < 100 {
			t.Fatalf("node %s has %dm CPU free, need at least 200m", node, free[node])
		}
		if want == 0 || half < want {
			want = half
		}
		app := "plain"
		if node == protectedNode {
			app = "protected"
		}
		for i := range 2 {
			f := filler{fmt.Sprintf("%s-%s-%d", app, node, i), node}
			fillers = append(fillers, f)
			p := preemptionPod(f.name, "e2e-preemption-low", half)
			p.Labels = map[string]string{"app": app}
			p.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": node}
			if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("free CPU %v; fillers of half each; preemptor asks %dm", free, want)
	for _, f := range fillers {
		waitPodPhase(t, ns, f.name, corev1.PodRunning, 90*time.Second)
	}
	budget := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "protected"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr(intstr.FromInt32(2)),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "protected"}},
		},
	}
	if _, err := cs.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, budget, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitBudget(t, ns, "protected", 2, 0)

	// Watch the fillers from here on: a victim is gone soon after it is
	// marked.
	w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	marked := map[string]corev1.PodCondition{}
	deleted := map[string]bool{}
	urgent, err := cs.CoreV1().Pods(ns).Create(ctx, preemptionPod("urgent", "e2e-preemption-high", want), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	timeout := time.After(90 * time.Second)
	for running := false; !running; {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("watch ended")
			}
			p, isPod := ev.Object.(*corev1.Pod)
			if !isPod {
				continue
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.DisruptionTarget {
					marked[p.Name] = c
				}
			}
			if ev.Type == watch.Deleted {
				deleted[p.Name] = true
			}
			if p.Name == "urgent" && p.Status.Phase == corev1.PodRunning {
				urgent, running = p, true
			}
		case <-timeout:
			t.Fatalf("urgent not running after 90s; marked %v, deleted %v", marked, deleted)
		}
	}

	if len(marked) != 1 {
		t.Fatalf("pods marked DisruptionTarget: got %v, want one plain filler", marked)
	}
	for victim, c := range marked {
		var node string
		for _, f := range fillers {
			if f.name == victim {
				node = f.node
			}
		}
		if node == "" || node == protectedNode {
			t.Errorf("victim %s: want a plain filler (the budget protects those on %s)", victim, protectedNode)
		}
		if c.Status != corev1.ConditionTrue || c.Reason != corev1.PodReasonPreemptionByScheduler || c.Message != "default-scheduler: preempting to accommodate a higher priority pod" {
			t.Errorf("victim's condition: got %s/%s %q, want True/PreemptionByScheduler", c.Status, c.Reason, c.Message)
		}
		if urgent.Spec.NodeName != node {
			t.Errorf("urgent runs on %s, want the victim's node %s", urgent.Spec.NodeName, node)
		}
		eventually(t, 30*time.Second, "victim "+victim+" deleted", func() error {
			if deleted[victim] {
				return nil
			}
			_, err := cs.CoreV1().Pods(ns).Get(ctx, victim, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("still there (%v)", err)
		})
		wantEvent := fmt.Sprintf("Preempted by pod %s on node %s", urgent.UID, node)
		eventually(t, 30*time.Second, "Preempted event on "+victim, func() error {
			evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + victim})
			if err != nil {
				return err
			}
			var seen []string
			for _, e := range evs.Items {
				if e.Reason == "Preempted" && e.Message == wantEvent && e.Source.Component == "default-scheduler" {
					return nil
				}
				seen = append(seen, e.Reason+": "+e.Message)
			}
			return fmt.Errorf("events %q", seen)
		})
	}
	for _, f := range fillers {
		if f.node != protectedNode {
			continue
		}
		p, err := cs.CoreV1().Pods(ns).Get(ctx, f.name, metav1.GetOptions{})
		switch {
		case err != nil:
			t.Errorf("protected filler %s: %v", f.name, err)
		case p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning:
			t.Errorf("protected filler %s: got phase %s, deleting %v, want it running", f.name, p.Status.Phase, p.DeletionTimestamp != nil)
		}
	}
}

// preemptionPod is an echo pod of the PriorityClass asking for cpu
// millicores, quick to stop.
func preemptionPod(name, class string, milliCPU int64) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			PriorityClassName:             class,
			TerminationGracePeriodSeconds: ptr(int64(1)),
			Containers: []corev1.Container{{
				Name: "echo", Image: "minik8s/echo:latest", Args: []string{"--listen", ":8080"},
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: *resource.NewMilliQuantity(milliCPU, resource.DecimalSI),
				}},
			}},
		},
	}
}
