package apiserver_test

import (
	"context"
	"strings"
	"testing"

	"minik8s/pkg/apiserver/apiservertest"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// runningPod makes a pod bound to a node, Running and Ready.
func runningPod(t *testing.T, cs kubernetes.Interface, name string) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bind := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: name}, Target: corev1.ObjectReference{Kind: "Node", Name: "n1"}}
	if err := cs.CoreV1().Pods("default").Bind(ctx, bind, metav1.CreateOptions{}); err != nil {
		t.Fatalf("bind: %v", err)
	}
	p, err := cs.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue})
	if p, err = cs.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return p
}

func evict(cs kubernetes.Interface, name string) error {
	return cs.CoreV1().Pods("default").EvictV1(context.Background(), &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}})
}

// budget makes a PDB over app=web with the given status.
func budget(t *testing.T, cs kubernetes.Interface, name string, status policyv1.PodDisruptionBudgetStatus) {
	t.Helper()
	ctx := context.Background()
	minAvailable := intstr.FromInt32(1)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &minAvailable, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
	}
	got, err := cs.PolicyV1().PodDisruptionBudgets("default").Create(ctx, pdb, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got.Status = status
	if _, err := cs.PolicyV1().PodDisruptionBudgets("default").UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func causeMessages(err error) string {
	st, ok := err.(apierrors.APIStatus)
	if !ok || st.Status().Details == nil {
		return ""
	}
	var out []string
	for _, c := range st.Status().Details.Causes {
		out = append(out, c.Message)
	}
	return strings.Join(out, "; ")
}

// TestEviction: pods/eviction as upstream's eviction REST: without a
// budget the pod is marked DisruptionTarget and deleted gracefully; a
// budget that is not processed yet, or allows no disruption, gives 429 in
// upstream's words; one that allows it gives up a disruption.
func TestEviction(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx := context.Background()

	runningPod(t, cs, "free")
	if err := evict(cs, "free"); err != nil {
		t.Fatalf("evict without a budget: %v", err)
	}
	p, err := cs.CoreV1().Pods("default").Get(ctx, "free", metav1.GetOptions{})
	if err != nil || p.DeletionTimestamp == nil {
		t.Fatalf("evicted pod: %v, deletionTimestamp %v, want set (graceful)", err, p.DeletionTimestamp)
	}
	found := false
	for _, c := range p.Status.Conditions {
		found = found || (c.Type == corev1.DisruptionTarget && c.Reason == "EvictionByEvictionAPI")
	}
	if !found {
		t.Errorf("no DisruptionTarget condition: %+v", p.Status.Conditions)
	}

	runningPod(t, cs, "guarded")
	budget(t, cs, "fresh", policyv1.PodDisruptionBudgetStatus{})
	// A budget its controller has not seen (observedGeneration 0 < 1).
	err = evict(cs, "guarded")
	if !apierrors.IsTooManyRequests(err) || !strings.Contains(causeMessages(err), "The disruption budget fresh is still being processed by the server.") {
		t.Fatalf("unprocessed budget: got %v (%s), want 429", err, causeMessages(err))
	}
	if err := cs.PolicyV1().PodDisruptionBudgets("default").Delete(ctx, "fresh", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	budget(t, cs, "tight", policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 1, DisruptionsAllowed: 0, CurrentHealthy: 1, DesiredHealthy: 1, ExpectedPods: 1})
	err = evict(cs, "guarded")
	if !apierrors.IsTooManyRequests(err) || !strings.Contains(causeMessages(err), "The disruption budget tight needs 1 healthy pods and has 1 currently") {
		t.Fatalf("no disruption allowed: got %v (%s), want 429", err, causeMessages(err))
	}
	if err := cs.PolicyV1().PodDisruptionBudgets("default").Delete(ctx, "tight", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	budget(t, cs, "loose", policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 1, DisruptionsAllowed: 1, CurrentHealthy: 2, DesiredHealthy: 1, ExpectedPods: 2})
	if err := evict(cs, "guarded"); err != nil {
		t.Fatalf("evict within the budget: %v", err)
	}
	pdb, err := cs.PolicyV1().PodDisruptionBudgets("default").Get(ctx, "loose", metav1.GetOptions{})
	if _, ok := pdb.Status.DisruptedPods["guarded"]; err != nil || pdb.Status.DisruptionsAllowed != 0 || !ok {
		t.Fatalf("budget after eviction: %v, %+v, want 0 allowed and guarded in disruptedPods", err, pdb.Status)
	}

	budget(t, cs, "second", policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 1, DisruptionsAllowed: 1})
	runningPod(t, cs, "doubly")
	err = evict(cs, "doubly")
	if st, ok := err.(apierrors.APIStatus); !ok || st.Status().Code != 500 || !strings.Contains(err.Error(), "more than one PodDisruptionBudget") {
		t.Fatalf("two budgets: got %v, want 500", err)
	}

	// A pending pod is deleted without a budget check.
	pending := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pending", Labels: map[string]string{"app": "web"}}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pending, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := evict(cs, "pending"); err != nil {
		t.Fatalf("evict a pending pod: %v", err)
	}
	if _, err := cs.CoreV1().Pods("default").Get(ctx, "pending", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("pending pod after eviction: %v, want NotFound", err)
	}
	if err := evict(cs, "nope"); !apierrors.IsNotFound(err) {
		t.Fatalf("evict a missing pod: %v, want NotFound", err)
	}
}
