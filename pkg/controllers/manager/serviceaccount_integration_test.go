package manager

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"minik8s/pkg/apiserver/apiservertest"
	"minik8s/pkg/controllers/rootcacertpublisher"
	"minik8s/pkg/controllers/serviceaccount"
)

// TestNamespaceDefaults: with the default --controllers, every namespace
// gets a default ServiceAccount and kube-root-ca.crt (the CA of the
// controller-manager's kubeconfig, as upstream publishes it) within
// seconds, and both come back when deleted or changed.
func TestNamespaceDefaults(t *testing.T) {
	srv := apiservertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client := kubernetes.NewForConfigOrDie(srv.Config)
	startManager(t, srv.Config, NewConfig().Controllers...)

	within := func(what string, d time.Duration, cond func(ctx context.Context) bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !cond(ctx) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %s", what, d)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	sa := func(ns string) *corev1.ServiceAccount {
		got, err := client.CoreV1().ServiceAccounts(ns).Get(ctx, serviceaccount.Default, metav1.GetOptions{})
		if err != nil {
			return nil
		}
		return got
	}
	published := func(ns string) bool {
		cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, rootcacertpublisher.ConfigMapName, metav1.GetOptions{})
		if err != nil {
			return false
		}
		ca, ok := cm.Data["ca.crt"]
		return ok && ca == string(srv.Config.CAData) && len(cm.Data) == 1 &&
			cm.Annotations["kubernetes.io/description"] == rootcacertpublisher.Description
	}

	for _, ns := range []string{"default", "kube-system"} {
		within(ns+" has its default ServiceAccount", 10*time.Second, func(context.Context) bool { return sa(ns) != nil })
		within(ns+" has kube-root-ca.crt", 10*time.Second, func(context.Context) bool { return published(ns) })
	}

	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	within("a new namespace gets its default ServiceAccount", 5*time.Second, func(context.Context) bool { return sa("team") != nil })
	within("a new namespace gets kube-root-ca.crt", 5*time.Second, func(context.Context) bool { return published("team") })

	old := sa("team")
	if err := client.CoreV1().ServiceAccounts("team").Delete(ctx, serviceaccount.Default, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	within("the deleted default ServiceAccount comes back", 5*time.Second, func(context.Context) bool {
		got := sa("team")
		return got != nil && got.UID != old.UID
	})

	if err := client.CoreV1().ConfigMaps("team").Delete(ctx, rootcacertpublisher.ConfigMapName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	within("the deleted kube-root-ca.crt comes back", 5*time.Second, func(context.Context) bool { return published("team") })

	patch := []byte(`{"data":{"ca.crt":"forged","extra":"x"},"metadata":{"annotations":{"kubernetes.io/description":null}}}`)
	if _, err := client.CoreV1().ConfigMaps("team").Patch(ctx, rootcacertpublisher.ConfigMapName, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	within("a changed kube-root-ca.crt is put back", 5*time.Second, func(context.Context) bool { return published("team") })
}
