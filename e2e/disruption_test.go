//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// echoTemplate is the pod template of the echo app labelled lbl, pinned
// to node when it is not empty.
func echoTemplate(lbl map[string]string, node string) corev1.PodTemplateSpec {
	tpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: lbl},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr(int64(1)),
			Containers: []corev1.Container{{
				Name: "echo", Image: "minik8s/echo:latest", Args: []string{"--listen", ":8080"},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}},
					PeriodSeconds: 1, FailureThreshold: 1,
				},
			}},
		},
	}
	if node != "" {
		tpl.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": node}
	}
	return tpl
}

// waitBudget waits until the disruption controller has processed the
// budget: status for its generation, with expected pods and disruptions
// allowed as given.
func waitBudget(t *testing.T, ns, name string, expected, allowed int32) {
	t.Helper()
	eventually(t, 30*time.Second, fmt.Sprintf("budget %s/%s processed", ns, name), func() error {
		pdb, err := cs.PolicyV1().PodDisruptionBudgets(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		s := pdb.Status
		cond := apimeta.FindStatusCondition(s.Conditions, policyv1.DisruptionAllowedCondition)
		if s.ObservedGeneration != pdb.Generation || s.ExpectedPods != expected || s.DisruptionsAllowed != allowed || cond == nil {
			return fmt.Errorf("status %+v", s)
		}
		return nil
	})
}

// TestReplicationControllerOnTheLab: a ReplicationController runs two
// ready pods, reports them in its status, and `ctl scale rc/…` resizes it.
func TestReplicationControllerOnTheLab(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	lbl := map[string]string{"app": "echo-rc"}
	tpl := echoTemplate(lbl, "")
	rc := &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "echo-rc"},
		Spec:       corev1.ReplicationControllerSpec{Replicas: ptr(int32(2)), Selector: lbl, Template: &tpl},
	}
	if _, err := cs.CoreV1().ReplicationControllers(ns).Create(ctx, rc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRC := func(want int32) {
		t.Helper()
		eventually(t, 60*time.Second, fmt.Sprintf("replicationcontroller with %d ready pods", want), func() error {
			got, err := cs.CoreV1().ReplicationControllers(ns).Get(ctx, "echo-rc", metav1.GetOptions{})
			if err != nil {
				return err
			}
			s := got.Status
			if s.ObservedGeneration != got.Generation || s.Replicas != want || s.ReadyReplicas != want || s.AvailableReplicas != want || s.FullyLabeledReplicas != want {
				return fmt.Errorf("status %+v", s)
			}
			pods, err := readyPods(ns, "app=echo-rc")
			if err != nil || len(pods) != int(want) {
				return fmt.Errorf("%d ready pods (%v)", len(pods), err)
			}
			for _, p := range pods {
				if ref := metav1.GetControllerOf(&p); ref == nil || ref.Kind != "ReplicationController" || ref.Name != "echo-rc" {
					return fmt.Errorf("pod %s controlled by %+v", p.Name, ref)
				}
			}
			return nil
		})
	}
	waitRC(2)
	out, err := ctl("scale", "-n", ns, "rc/echo-rc", "--replicas=3")
	if err != nil || !strings.Contains(out, "replicationcontroller/echo-rc scaled") {
		t.Fatalf("ctl scale: %v: %s", err, out)
	}
	waitRC(3)
	out, err = ctl("get", "-n", ns, "rc", "echo-rc")
	if err != nil || !strings.Contains(out, "READY") || len(strings.Fields(firstLineAfterHeader(out))) < 4 ||
		strings.Fields(firstLineAfterHeader(out))[3] != "3" {
		t.Fatalf("ctl get rc: %v: %q, want NAME DESIRED CURRENT READY with 3 ready", err, out)
	}
}

func firstLineAfterHeader(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) < 2 {
		return ""
	}
	return lines[1]
}

// TestDrainRespectsDisruptionBudget: `ctl drain` evicts the pods of a node
// but not the one a PodDisruptionBudget protects: it retries that eviction
// until its --timeout, saying why, and the pod keeps running.
func TestDrainRespectsDisruptionBudget(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	const node = "node3"
	t.Cleanup(func() {
		if out, err := ctl("uncordon", node); err != nil {
			t.Errorf("uncordon %s: %v: %s", node, err, out)
		}
	})
	for _, d := range []struct {
		name     string
		replicas int32
	}{{"guarded", 1}, {"free", 2}} {
		lbl := map[string]string{"app": d.name, "e2e": "drain"}
		dep := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: d.name},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr(d.replicas),
				Selector: &metav1.LabelSelector{MatchLabels: lbl},
				Template: echoTemplate(lbl, node),
			},
		}
		if _, err := cs.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitDeployment(t, ns, "guarded", 1, 60*time.Second)
	waitDeployment(t, ns, "free", 2, 60*time.Second)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "guarded"},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(intstr.FromInt32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "guarded"}}},
	}
	if _, err := cs.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitBudget(t, ns, "guarded", 1, 0)
	guarded, err := readyPods(ns, "app=guarded")
	if err != nil || len(guarded) != 1 {
		t.Fatalf("guarded pods: %d (%v), want 1", len(guarded), err)
	}
	free, err := readyPods(ns, "app=free")
	if err != nil || len(free) != 2 {
		t.Fatalf("free pods: %d (%v), want 2", len(free), err)
	}

	out, err := ctl("drain", node, "--pod-selector", "e2e=drain", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout", "15s")
	t.Logf("ctl drain %s:\n%s", node, out)
	if err == nil {
		t.Fatalf("ctl drain: got success, want it to give up on the guarded pod:\n%s", out)
	}
	for _, want := range []string{
		"node/" + node + " cordoned",
		fmt.Sprintf("error when evicting pods/%q -n %q (will retry after 5s): Cannot evict pod as it would violate the pod's disruption budget.", guarded[0].Name, ns),
		"pod/" + free[0].Name + " evicted",
		"pod/" + free[1].Name + " evicted",
		"global timeout reached: 15s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ctl drain output lacks %q:\n%s", want, out)
		}
	}
	p, err := cs.CoreV1().Pods(ns).Get(ctx, guarded[0].Name, metav1.GetOptions{})
	if err != nil || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		t.Fatalf("guarded pod after the drain: %v; want it running", err)
	}
	for _, f := range free {
		if _, err := cs.CoreV1().Pods(ns).Get(ctx, f.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("free pod %s after the drain: %v, want it deleted", f.Name, err)
		}
	}
	n, err := cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil || !n.Spec.Unschedulable {
		t.Errorf("%s after the drain: %v, unschedulable %v; want cordoned", node, err, n.Spec.Unschedulable)
	}
}
