package apiserver_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"

	"minik8s/pkg/apiserver/apiservertest"
)

// watchedNames collects the names a watch reports ADDED and DELETED.
type watchedNames struct {
	w              watch.Interface
	added, deleted sets.Set[string]
}

func watchNames(t *testing.T, ctx context.Context, ri dynamic.ResourceInterface, selector string) *watchedNames {
	t.Helper()
	w, err := ri.Watch(ctx, metav1.ListOptions{FieldSelector: selector})
	if err != nil {
		t.Fatalf("watch %s: %v", selector, err)
	}
	t.Cleanup(w.Stop)
	return &watchedNames{w: w, added: sets.New[string](), deleted: sets.New[string]()}
}

// waitFor reads events until the names seen are added and deleted, and
// a little longer to catch an event too many.
func (n *watchedNames) waitFor(t *testing.T, what string, added, deleted []string) {
	t.Helper()
	want := func() bool { return n.added.Equal(sets.New(added...)) && n.deleted.Equal(sets.New(deleted...)) }
	deadline := time.After(10 * time.Second)
	settle := time.Duration(0)
	for {
		if want() && settle == 0 {
			settle = 200 * time.Millisecond
		}
		var quiet <-chan time.Time
		if settle > 0 {
			quiet = time.After(settle)
		}
		select {
		case ev, ok := <-n.w.ResultChan():
			if !ok {
				t.Fatalf("%s: the watch ended", what)
			}
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				t.Fatalf("%s: got event %s %T", what, ev.Type, ev.Object)
			}
			switch ev.Type {
			case watch.Added:
				n.added.Insert(u.GetName())
			case watch.Deleted:
				n.deleted.Insert(u.GetName())
			}
		case <-quiet:
			return
		case <-deadline:
			t.Fatalf("%s: got added %v deleted %v, want %v and %v", what, sets.List(n.added), sets.List(n.deleted), added, deleted)
		}
		if settle > 0 && !want() {
			t.Fatalf("%s: got added %v deleted %v, want %v and %v", what, sets.List(n.added), sets.List(n.deleted), added, deleted)
		}
	}
}

func listNames(t *testing.T, ctx context.Context, ri dynamic.ResourceInterface, selector string) []string {
	t.Helper()
	list, err := ri.List(ctx, metav1.ListOptions{FieldSelector: selector})
	if err != nil {
		t.Fatalf("list %s: %v", selector, err)
	}
	var names []string
	for _, u := range list.Items {
		names = append(names, u.GetName())
	}
	slices.Sort(names)
	return names
}

// TestCustomResourceFieldSelectors is the conformance test
// "CustomResourceFieldSelectors MUST list and watch custom resources
// matching the field selector": each version's selectableFields select
// among objects read in that version (v2's host and port out of v1's
// stored hostPort, through the conversion webhook), in lists, watches
// and deletecollection; a field a version does not offer is a 400.
func TestCustomResourceFieldSelectors(t *testing.T) {
	s := apiservertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ext := apiextensionsclient.NewForConfigOrDie(s.Config)
	dyn := dynamic.NewForConfigOrDie(s.Config)
	conv := startConverter(t)
	serveConverterService(t, ctx, s, conv)
	crd := conversionCRD("v1", apiextensionsv1.WebhookClientConfig{
		CABundle: conv.caPEM,
		Service:  &apiextensionsv1.ServiceReference{Namespace: "default", Name: "convert", Path: ptr.To("/crdconvert"), Port: ptr.To[int32](443)},
	})
	crd.Spec.Versions[0].SelectableFields = []apiextensionsv1.SelectableField{{JSONPath: ".hostPort"}}
	crd.Spec.Versions[1].SelectableFields = []apiextensionsv1.SelectableField{{JSONPath: ".host"}, {JSONPath: ".port"}}
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := dyn.Resource(e2eV2).Namespace("default").List(ctx, metav1.ListOptions{})
		return err == nil, nil
	}); err != nil {
		t.Fatal("v2 is not served")
	}
	v1, v2 := dyn.Resource(e2eV1).Namespace("default"), dyn.Resource(e2eV2).Namespace("default")

	// A field the version does not offer: upstream's 400.
	for _, tt := range []struct {
		name     string
		ri       dynamic.ResourceInterface
		selector string
		want     string
	}{
		{"v1 field at v2", v2, "hostPort=a:1", "field label not supported: hostPort"},
		{"v2 field at v1", v1, "host=a", "field label not supported: host"},
		{"unknown", v2, "spec.foo=x", "field label not supported: spec.foo"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.ri.List(ctx, metav1.ListOptions{FieldSelector: tt.selector})
			var st apierrors.APIStatus
			if !asStatus(err, &st) || st.Status().Code != http.StatusBadRequest || st.Status().Message != tt.want {
				t.Errorf("list %s: got %v, want 400 %q", tt.selector, err, tt.want)
			}
		})
	}
	if got := listNames(t, ctx, v2, "metadata.namespace=default,metadata.name=none"); len(got) != 0 {
		t.Errorf("metadata fields: got %v", got)
	}

	hostWatch := watchNames(t, ctx, v2, "host=host1")
	hostPortWatch := watchNames(t, ctx, v2, "host=host1,port=80")
	v1Watch := watchNames(t, ctx, v1, "hostPort=host1:80")

	specs := []map[string]any{{"host": "host1", "port": "80"}, {"host": "host1", "port": "8080"}, {"host": "host2"}}
	var names []string
	for i, spec := range specs {
		name := fmt.Sprintf("selectable-%d", i)
		names = append(names, name)
		if _, err := v2.Create(ctx, e2eObject("v2", name, spec), metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	for _, tt := range []struct {
		ri       dynamic.ResourceInterface
		selector string
		want     []string
	}{
		{v2, "host=host1", names[:2]},
		{v2, "host=host1,port=80", names[:1]},
		{v2, "host!=host1", names[2:]},
		{v1, "hostPort=host1:80", names[:1]},
		{v1, "hostPort=host1:8080", names[1:2]},
		{v2, "metadata.name=" + names[2], names[2:]},
	} {
		if got := listNames(t, ctx, tt.ri, tt.selector); !slices.Equal(got, tt.want) {
			t.Errorf("list %s: got %v, want %v", tt.selector, got, tt.want)
		}
	}
	hostWatch.waitFor(t, "watch host=host1", names[:2], nil)
	hostPortWatch.waitFor(t, "watch host=host1,port=80", names[:1], nil)
	v1Watch.waitFor(t, "watch hostPort=host1:80", names[:1], nil)

	// One deleted by a selector, one moved out of host1.
	if err := v2.DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{FieldSelector: "host=host1,port=80"}); err != nil {
		t.Fatalf("deletecollection: %v", err)
	}
	u, err := v2.Get(ctx, names[1], metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u.Object["host"] = "host2"
	if _, err := v2.Update(ctx, u, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update: %v", err)
	}
	if got := listNames(t, ctx, v2, "host=host1"); len(got) != 0 {
		t.Errorf("list host=host1 after the changes: got %v, want none", got)
	}
	if got := listNames(t, ctx, v2, "host=host2"); !slices.Equal(got, names[1:]) {
		t.Errorf("list host=host2 after the changes: got %v, want %v", got, names[1:])
	}
	hostWatch.waitFor(t, "watch host=host1 after the changes", names[:2], names[:2])
	hostPortWatch.waitFor(t, "watch host=host1,port=80 after the changes", names[:1], names[:1])
	v1Watch.waitFor(t, "watch hostPort=host1:80 after the changes", names[:1], names[:1])
}
