package namespace

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
)

func TestNamespaceIsEmptiedThenFinalized(t *testing.T) {
	now := metav1.NewTime(time.Now())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team", DeletionTimestamp: &now},
		Spec:   corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}},
		Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "team"}}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "team"}}
	other := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"}}

	client := fake.NewClientset(ns)
	client.Resources = []*metav1.APIResourceList{{GroupVersion: "v1", APIResources: []metav1.APIResource{
		{Name: "pods", Namespaced: true, Kind: "Pod", Verbs: []string{"list", "delete", "get"}},
		{Name: "pods/status", Namespaced: true, Kind: "Pod", Verbs: []string{"update"}},
		{Name: "configmaps", Namespaced: true, Kind: "ConfigMap", Verbs: []string{"list", "delete"}},
		{Name: "nodes", Namespaced: false, Kind: "Node", Verbs: []string{"list", "delete"}},
	}}}
	dyn := dynamicfake.NewSimpleDynamicClient(scheme.Scheme, []runtime.Object{pod, cm, other}...)
	f := informers.NewSharedInformerFactory(client, 0)
	c := New(client, dyn, f, record.NewFakeRecorder(10))
	f.Core().V1().Namespaces().Informer().GetIndexer().Add(ns)
	ctx := context.Background()

	remaining, err := c.sync(ctx, "team")
	if err != nil {
		t.Fatal(err)
	}
	if remaining != 2 {
		t.Errorf("first pass: %d remaining, want 2 (deleted, to be confirmed)", remaining)
	}
	var deletes []string
	for _, a := range dyn.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok {
			deletes = append(deletes, d.GetNamespace()+"/"+d.GetResource().Resource+"/"+d.GetName())
		}
	}
	if len(deletes) != 2 {
		t.Fatalf("deletes %v, want the pod and configmap of team only", deletes)
	}
	for _, a := range client.Actions() {
		if a.GetSubresource() == "finalize" {
			t.Fatal("finalized while objects remained")
		}
	}
	remaining, err = c.sync(ctx, "team")
	if err != nil || remaining != 0 {
		t.Fatalf("second pass: remaining %d, err %v", remaining, err)
	}
	finalized := false
	for _, a := range client.Actions() {
		if u, ok := a.(k8stesting.UpdateAction); ok && a.GetSubresource() == "finalize" {
			finalized = len(u.GetObject().(*corev1.Namespace).Spec.Finalizers) == 0
		}
	}
	if !finalized {
		t.Error("namespace not finalized with empty spec.finalizers")
	}
	if _, err := dyn.Resource(corev1.SchemeGroupVersion.WithResource("pods")).Namespace("default").Get(ctx, "p", metav1.GetOptions{}); err != nil {
		t.Errorf("pod of another namespace touched: %v", err)
	}
}
