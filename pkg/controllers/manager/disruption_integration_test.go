package manager

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
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"minik8s/pkg/apiserver/apiservertest"
)

// TestReplicationControllerAndDisruptionBudget: a ReplicationController
// keeps its pods (replacing an evicted one, following its scale
// subresource) and reports their status; a PodDisruptionBudget over them
// gets its status from the disruption controller, which makes evictions
// succeed within the budget and fail with 429 beyond it; a percentage over
// a pod of a Deployment reads the Deployment's scale subresource.
func TestReplicationControllerAndDisruptionBudget(t *testing.T) {
	srv := apiservertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client := kubernetes.NewForConfigOrDie(srv.Config)
	startManager(t, srv.Config, ReplicationController, Disruption)

	lbl := map[string]string{"app": "web"}
	rc := &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ReplicationControllerSpec{
			Replicas: ptr.To(int32(3)),
			Selector: lbl,
			Template: &corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img"}}},
			},
		},
	}
	if _, err := client.CoreV1().ReplicationControllers("default").Create(ctx, rc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Stand in for the agents: every new pod of the test runs and is ready.
	markReady := func() {
		t.Helper()
		pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.Status.Phase == corev1.PodRunning || p.DeletionTimestamp != nil {
				continue
			}
			p.Status.Phase = corev1.PodRunning
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
			if _, err := client.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
				t.Fatal(err)
			}
		}
	}
	waitFor := func(what string, cond func() (bool, string)) {
		t.Helper()
		var last string
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			markReady()
			ok, got := cond()
			last = got
			return ok, nil
		})
		if err != nil {
			t.Fatalf("%s: %v (last: %s)", what, err, last)
		}
	}
	rcStatus := func(replicas, ready int32) func() (bool, string) {
		return func() (bool, string) {
			got, err := client.CoreV1().ReplicationControllers("default").Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			s := got.Status
			return s.Replicas == replicas && s.ReadyReplicas == ready && s.AvailableReplicas == ready &&
				s.FullyLabeledReplicas == replicas && s.ObservedGeneration == got.Generation, fmt.Sprintf("%+v", s)
		}
	}
	waitFor("the ReplicationController has 3 ready pods", rcStatus(3, 3))

	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector:       &metav1.LabelSelector{MatchLabels: lbl},
		},
	}
	if _, err := client.PolicyV1().PodDisruptionBudgets("default").Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	budget := func(name string, expected, healthy, desired, allowed int32, reason string) func() (bool, string) {
		return func() (bool, string) {
			got, err := client.PolicyV1().PodDisruptionBudgets("default").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			s := got.Status
			cond := apimeta.FindStatusCondition(s.Conditions, policyv1.DisruptionAllowedCondition)
			return s.ObservedGeneration == got.Generation && s.ExpectedPods == expected && s.CurrentHealthy == healthy &&
					s.DesiredHealthy == desired && s.DisruptionsAllowed == allowed && cond != nil && cond.Reason == reason,
				fmt.Sprintf("%+v", s)
		}
	}
	waitFor("the budget allows one disruption", budget("web", 3, 3, 2, 1, policyv1.SufficientPodsReason))

	pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil || len(pods.Items) != 3 {
		t.Fatalf("got %d pods (%v), want 3", len(pods.Items), err)
	}
	evict := func(name string) error {
		return client.PolicyV1().Evictions("default").Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}})
	}
	if err := evict(pods.Items[0].Name); err != nil {
		t.Fatalf("first eviction: got %v, want success", err)
	}
	err = evict(pods.Items[1].Name)
	if !apierrors.IsTooManyRequests(err) || !strings.Contains(err.Error(), "Cannot evict pod as it would violate the pod's disruption budget.") {
		t.Fatalf("second eviction: got %v, want 429 Cannot evict pod as it would violate the pod's disruption budget.", err)
	}
	// The replacement pod becomes ready and the budget allows one again.
	waitFor("the ReplicationController replaced the evicted pod", rcStatus(3, 3))
	waitFor("the budget allows one disruption again", budget("web", 3, 3, 2, 1, policyv1.SufficientPodsReason))
	if err := evict(pods.Items[1].Name); err != nil {
		t.Fatalf("eviction after the replacement: got %v, want success", err)
	}

	// Scaling through /scale moves both the pods and the budget.
	// The controller writes status meanwhile: retry the scale's conflicts.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		sc, err := client.CoreV1().ReplicationControllers("default").GetScale(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		sc.Spec.Replicas = 5
		_, err = client.CoreV1().ReplicationControllers("default").UpdateScale(ctx, "web", sc, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor("the ReplicationController scaled to 5", rcStatus(5, 5))
	waitFor("the budget follows the scale", budget("web", 5, 5, 4, 1, policyv1.SufficientPodsReason))

	// A controller the disruption controller has no lister for is read
	// through its scale subresource.
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "odd", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(4)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "odd"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "odd"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img"}}},
			},
		},
	}
	if d, err = client.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	odd := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "odd", Namespace: "default", Labels: map[string]string{"app": "odd"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "odd", UID: d.UID, Controller: ptr.To(true)}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img"}}},
	}
	if _, err := client.CoreV1().Pods("default").Create(ctx, odd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	oddPDB := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "odd", Namespace: "default"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromString("50%")),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "odd"}},
		},
	}
	if _, err := client.PolicyV1().PodDisruptionBudgets("default").Create(ctx, oddPDB, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("the percentage is of the Deployment's scale", budget("odd", 4, 1, 2, 0, policyv1.InsufficientPodsReason))
}
