package namespace

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"

	"minik8s/pkg/apiserver/apiservertest"
)

// TestPodsGoFirst is the conformance spec "OrderedNamespaceDeletion
// namespace deletion should delete pod first" against a real apiserver: a
// pod held by a finalizer keeps every other object of its namespace (here
// a ConfigMap) from being deleted, the namespace says so in its
// conditions, and once the finalizer goes, the rest is deleted and the
// namespace removed.
func TestPodsGoFirst(t *testing.T) {
	srv := apiservertest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	client := kubernetes.NewForConfigOrDie(srv.Config)
	const ns, hold = "team", "example.com/hold"
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "config"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app", Finalizers: []string{hold}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "img"}}}}
	if _, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, metadata.NewForConfigOrDie(srv.Config), factory)
	factory.Start(ctx.Done())
	go c.Run(ctx, 1)

	if err := client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll := func(what string, cond func(ctx context.Context) (bool, error)) {
		t.Helper()
		if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, cond); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}
	// What the conformance spec waits for: the controller has been at
	// work (while pods are left, upstream's deleter writes each of its
	// conditions in its "ok" form).
	var got *corev1.Namespace
	poll("the namespace's deletion conditions", func(ctx context.Context) (bool, error) {
		n, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		got = n
		return condition(n, corev1.NamespaceDeletionContentFailure) != nil, nil
	})
	if got.Status.Phase != corev1.NamespaceTerminating {
		t.Errorf("phase %q, want Terminating", got.Status.Phase)
	}
	if cond := condition(got, corev1.NamespaceDeletionContentFailure); cond.Status != corev1.ConditionFalse || cond.Reason != "ContentDeleted" {
		t.Errorf("NamespaceDeletionContentFailure = %+v, want False/ContentDeleted", cond)
	}

	// A few rechecks later the ConfigMap is still untouched.
	time.Sleep(3 * RecheckInterval)
	cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, "config", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the ConfigMap went while a pod was left: %v", err)
	}
	if cm.DeletionTimestamp != nil {
		t.Error("the ConfigMap is being deleted while a pod is left")
	}
	p, err := client.CoreV1().Pods(ns).Get(ctx, "app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.DeletionTimestamp == nil {
		t.Error("the pod has no deletionTimestamp")
	}

	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"finalizers": nil}})
	if _, err := client.CoreV1().Pods(ns).Patch(ctx, "app", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	poll("the namespace to be removed", func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if _, err := client.CoreV1().ConfigMaps(ns).Get(ctx, "config", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the ConfigMap after the namespace went: %v", err)
	}
}

func condition(ns *corev1.Namespace, typ corev1.NamespaceConditionType) *corev1.NamespaceCondition {
	for i := range ns.Status.Conditions {
		if ns.Status.Conditions[i].Type == typ {
			return &ns.Status.Conditions[i]
		}
	}
	return nil
}
