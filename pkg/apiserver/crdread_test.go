package apiserver_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"

	"minik8s/pkg/apiserver/apiservertest"
)

var gadgetGVR = schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "gadgets"}

// gadgetCRD is the conformance test's definition: cluster scoped, a
// schema with the strings a, b and c, none defaulted.
func gadgetCRD() *apiextensionsv1.CustomResourceDefinition {
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "gadgets.example.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "example.com",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "gadgets", Singular: "gadget", Kind: "Gadget", ListKind: "GadgetList"},
			Scope: apiextensionsv1.ClusterScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"a": {Type: "string"}, "b": {Type: "string"}, "c": {Type: "string"},
					},
				}},
			}},
		},
	}
}

// patchCRD applies a JSON patch to the definition and waits until the
// served schema is the patched one (the entries are made again from the
// definition's new generation).
func patchCRD(t *testing.T, ctx context.Context, ext apiextensionsclient.Interface, dyn dynamic.Interface, patch string, ready func(*unstructured.Unstructured) bool, probe string) {
	t.Helper()
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Patch(ctx, "gadgets.example.com", types.JSONPatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("patching the CRD: %v", err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		u, err := dyn.Resource(gadgetGVR).Get(ctx, probe, metav1.GetOptions{})
		return err == nil && ready(u), nil
	}); err != nil {
		t.Fatalf("after %s: %s never read as wanted", patch, probe)
	}
}

func fieldsOf(u *unstructured.Unstructured) string {
	return fmt.Sprintf("a=%v b=%v c=%v", u.Object["a"], u.Object["b"], u.Object["c"])
}

// TestCustomResourceDefaultingFromStorage is the conformance test
// "custom resource defaulting for requests and from storage works", and
// more: a default added to the schema shows on an object stored without
// it, in a get, a list, a watch's events and the object an update
// starts from; a field dropped from the schema is pruned on read as
// well; what is stored does not change until an object is written.
func TestCustomResourceDefaultingFromStorage(t *testing.T) {
	s := apiservertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ext := apiextensionsclient.NewForConfigOrDie(s.Config)
	dyn := dynamic.NewForConfigOrDie(s.Config)
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, gadgetCRD(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	gadgets := dyn.Resource(gadgetGVR)
	newGadget := func(name string, fields map[string]any) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": map[string]any{"name": name}}}
		for k, v := range fields {
			u.Object[k] = v
		}
		return u
	}
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := gadgets.Create(ctx, newGadget("cr-1", map[string]any{"c": "C"}), metav1.CreateOptions{})
		return err == nil, nil
	}); err != nil {
		t.Fatal("gadgets are not served")
	}
	storedOf := func(name string) string {
		t.Helper()
		var u unstructured.Unstructured
		resp, err := s.Server.Store().Client().Get(ctx, "/registry/example.com/gadgets/"+name)
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("reading %s from etcd: %v", name, err)
		}
		if err := u.UnmarshalJSON(resp.Kvs[0].Value); err != nil {
			t.Fatal(err)
		}
		return fieldsOf(&u)
	}

	// A default for a: cr-1 reads with it, in a get, a list and a watch.
	patchCRD(t, ctx, ext, dyn, `[{"op":"add","path":"/spec/versions/0/schema/openAPIV3Schema/properties/a/default","value":"A"}]`,
		func(u *unstructured.Unstructured) bool { return u.Object["a"] != nil }, "cr-1")
	got, err := gadgets.Get(ctx, "cr-1", metav1.GetOptions{})
	if err != nil || fieldsOf(got) != "a=A b=<nil> c=C" {
		t.Fatalf("get: got %v (%v), want a defaulted", got, err)
	}
	list, err := gadgets.List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 || fieldsOf(&list.Items[0]) != "a=A b=<nil> c=C" {
		t.Fatalf("list: got %v (%v), want a defaulted", list, err)
	}
	w, err := gadgets.Watch(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	nextEvent := func() watch.Event {
		t.Helper()
		select {
		case ev := <-w.ResultChan():
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("watch: no event")
		}
		return watch.Event{}
	}
	if ev := nextEvent(); ev.Type != watch.Added || fieldsOf(ev.Object.(*unstructured.Unstructured)) != "a=A b=<nil> c=C" {
		t.Errorf("watch's initial event: got %s %v, want ADDED with a defaulted", ev.Type, ev.Object)
	}
	if got := storedOf("cr-1"); got != "a=<nil> b=<nil> c=C" {
		t.Errorf("stored cr-1: got %s, want it as written (reads do not write)", got)
	}

	// A request is defaulted.
	cr2, err := gadgets.Create(ctx, newGadget("cr-2", nil), metav1.CreateOptions{})
	if err != nil || fieldsOf(cr2) != "a=A b=<nil> c=<nil>" {
		t.Fatalf("create cr-2: got %v (%v), want a defaulted", cr2, err)
	}
	if ev := nextEvent(); ev.Type != watch.Added || fieldsOf(ev.Object.(*unstructured.Unstructured)) != "a=A b=<nil> c=<nil>" {
		t.Errorf("watch: got %s %v, want cr-2 ADDED", ev.Type, ev.Object)
	}

	// The default of a removed, one for b added, c dropped from the
	// schema: cr-2 keeps the a it was stored with, and gets b; cr-1
	// loses both a (never stored) and c (pruned).
	patchCRD(t, ctx, ext, dyn, `[
		{"op":"remove","path":"/spec/versions/0/schema/openAPIV3Schema/properties/a/default"},
		{"op":"add","path":"/spec/versions/0/schema/openAPIV3Schema/properties/b/default","value":"B"},
		{"op":"remove","path":"/spec/versions/0/schema/openAPIV3Schema/properties/c"}]`,
		func(u *unstructured.Unstructured) bool { return u.Object["b"] != nil }, "cr-2")
	if got, err := gadgets.Get(ctx, "cr-2", metav1.GetOptions{}); err != nil || fieldsOf(got) != "a=A b=B c=<nil>" {
		t.Errorf("get cr-2: got %v (%v), want a kept and b defaulted", got, err)
	}
	if got, err := gadgets.Get(ctx, "cr-1", metav1.GetOptions{}); err != nil || fieldsOf(got) != "a=<nil> b=B c=<nil>" {
		t.Errorf("get cr-1: got %v (%v), want b defaulted and c pruned", got, err)
	}

	// An update starts from the object as read: a label added to cr-1
	// stores the default and the pruning.
	patched, err := gadgets.Patch(ctx, "cr-1", types.MergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`), metav1.PatchOptions{})
	if err != nil || fieldsOf(patched) != "a=<nil> b=B c=<nil>" {
		t.Fatalf("patch cr-1: got %v (%v)", patched, err)
	}
	if got := storedOf("cr-1"); got != "a=<nil> b=B c=<nil>" {
		t.Errorf("stored cr-1 after an update: got %s, want b stored and c gone", got)
	}
}
