//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A Deployment whose pods repel each other by hostname puts one replica on
// each lab node; scaled to 4, the extra replica stays Pending and says why
// with upstream's words.
func TestPodAntiAffinityOnePerNode(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	labels := map[string]string{"app": "apart"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "apart"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(3)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr(int64(1)),
					Containers:                    []corev1.Container{{Name: "echo", Image: "minik8s/echo:latest"}},
					Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
						RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
							TopologyKey:   "kubernetes.io/hostname",
							LabelSelector: &metav1.LabelSelector{MatchLabels: labels},
						}},
					}},
				},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitDeployment(t, ns, "apart", 3, 60*time.Second)
	pods, err := readyPods(ns, "app=apart")
	if err != nil {
		t.Fatal(err)
	}
	perNode := map[string]int{}
	for _, p := range pods {
		perNode[p.Spec.NodeName]++
	}
	for _, n := range labNodes {
		if perNode[n] != 1 {
			t.Errorf("ready replicas per node: got %v, want 1 on each of %v", perNode, labNodes)
			break
		}
	}

	if _, err := ctl("scale", "-n", ns, "deployment/apart", "--replicas=4"); err != nil {
		t.Fatal(err)
	}
	want := "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
	eventually(t, 30*time.Second, "a fourth replica Pending with "+want, func() error {
		list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=apart"})
		if err != nil {
			return err
		}
		var pending []corev1.Pod
		for _, p := range list.Items {
			if p.Spec.NodeName == "" {
				pending = append(pending, p)
			}
		}
		if len(list.Items) != 4 || len(pending) != 1 {
			return fmt.Errorf("%d pods, %d unbound", len(list.Items), len(pending))
		}
		p := pending[0]
		if p.Status.Phase != corev1.PodPending {
			return fmt.Errorf("unbound pod %s in phase %s", p.Name, p.Status.Phase)
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled {
				if c.Status != corev1.ConditionFalse || c.Reason != corev1.PodReasonUnschedulable || c.Message != want {
					return fmt.Errorf("PodScheduled %s %s %q", c.Status, c.Reason, c.Message)
				}
				return nil
			}
		}
		return fmt.Errorf("pod %s has no PodScheduled condition", p.Name)
	})
}
