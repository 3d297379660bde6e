package api

import (
	"slices"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestTableIsConsistent(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Resources() {
		gvr := r.GroupVersionResource().String()
		if seen[gvr] {
			t.Errorf("%s listed twice", gvr)
		}
		seen[gvr] = true
		if r.Virtual {
			if r.Strategy != nil || r.NewList != nil || !slices.Equal(r.Verbs, []string{"create"}) {
				t.Errorf("%s: a virtual resource has only create and no strategy or list", gvr)
			}
			continue
		}
		obj, list := r.New(), r.NewList()
		gvks, _, err := Scheme.ObjectKinds(obj)
		if err != nil || len(gvks) == 0 || gvks[0] != r.GroupVersionKind() {
			t.Errorf("%s: New() is %v in the scheme (err %v), want %v", gvr, gvks, err, r.GroupVersionKind())
		}
		lgvks, _, err := Scheme.ObjectKinds(list)
		if err != nil || len(lgvks) == 0 || lgvks[0] != r.GroupVersion().WithKind(r.ListKind) {
			t.Errorf("%s: NewList() is %v in the scheme (err %v), want %s", gvr, lgvks, err, r.ListKind)
		}
		if r.Strategy == nil {
			t.Errorf("%s: no strategy", gvr)
		}
		if got, ok := LookupKind(r.GroupVersionKind()); !ok || got != r {
			t.Errorf("LookupKind(%v) = %v, %v", r.GroupVersionKind(), got, ok)
		}
		if got, ok := Lookup(r.Group, r.Version, r.Plural); !ok || got != r {
			t.Errorf("Lookup(%s) = %v, %v", gvr, got, ok)
		}
	}
	// What kube-scheduler's and kube-controller-manager's informers list,
	// and the kinds real manifests use most.
	for _, gvr := range []string{
		"/v1, Resource=configmaps", "/v1, Resource=secrets", "/v1, Resource=serviceaccounts",
		"/v1, Resource=persistentvolumes", "/v1, Resource=persistentvolumeclaims", "/v1, Resource=replicationcontrollers",
		"/v1, Resource=resourcequotas", "/v1, Resource=limitranges", "/v1, Resource=podtemplates",
		"apps/v1, Resource=statefulsets", "apps/v1, Resource=daemonsets", "apps/v1, Resource=controllerrevisions",
		"batch/v1, Resource=jobs", "batch/v1, Resource=cronjobs", "autoscaling/v2, Resource=horizontalpodautoscalers",
		"policy/v1, Resource=poddisruptionbudgets", "networking.k8s.io/v1, Resource=networkpolicies",
		"networking.k8s.io/v1, Resource=ingresses", "networking.k8s.io/v1, Resource=ingressclasses",
		"rbac.authorization.k8s.io/v1, Resource=roles", "rbac.authorization.k8s.io/v1, Resource=clusterroles",
		"rbac.authorization.k8s.io/v1, Resource=rolebindings", "rbac.authorization.k8s.io/v1, Resource=clusterrolebindings",
		"storage.k8s.io/v1, Resource=storageclasses", "storage.k8s.io/v1, Resource=csidrivers", "storage.k8s.io/v1, Resource=csinodes",
		"storage.k8s.io/v1, Resource=csistoragecapacities", "storage.k8s.io/v1, Resource=volumeattachments",
		"scheduling.k8s.io/v1, Resource=priorityclasses", "node.k8s.io/v1, Resource=runtimeclasses",
		"certificates.k8s.io/v1, Resource=certificatesigningrequests",
		"resource.k8s.io/v1, Resource=resourceclaims", "resource.k8s.io/v1, Resource=resourceslices", "resource.k8s.io/v1, Resource=deviceclasses",
	} {
		if !seen[gvr] {
			t.Errorf("%s is not served", gvr)
		}
	}
}

func TestSchemeKnowsServerTypes(t *testing.T) {
	tests := []struct {
		obj  runtime.Object
		want schema.GroupVersionKind
	}{
		{&metav1.Table{}, metav1.SchemeGroupVersion.WithKind("Table")},
		{&metav1.PartialObjectMetadata{}, metav1.SchemeGroupVersion.WithKind("PartialObjectMetadata")},
		{&autoscalingv1.Scale{}, autoscalingv1.SchemeGroupVersion.WithKind("Scale")},
		{&corev1.Binding{}, corev1.SchemeGroupVersion.WithKind("Binding")},
	}
	for _, tt := range tests {
		gvks, _, err := Scheme.ObjectKinds(tt.obj)
		if err != nil {
			t.Errorf("%T: %v", tt.obj, err)
			continue
		}
		found := false
		for _, g := range gvks {
			found = found || g == tt.want
		}
		if !found {
			t.Errorf("%T: kinds %v, want %v among them", tt.obj, gvks, tt.want)
		}
	}
	for _, obj := range []runtime.Object{&metav1.Status{}, &metav1.WatchEvent{}, &metav1.DeleteOptions{}, &metav1.ListOptions{}} {
		if _, _, err := Scheme.ObjectKinds(obj); err != nil {
			t.Errorf("%T: %v", obj, err)
		}
	}
}

func TestCodecsRoundTripPod(t *testing.T) {
	data := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"default"},"spec":{"containers":[{"name":"c","image":"x"}]}}`)
	obj, gvk, err := Codecs.UniversalDeserializer().Decode(data, nil, nil)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if gvk.Kind != "Pod" {
		t.Fatalf("got kind %s, want Pod", gvk.Kind)
	}
	if pod, ok := obj.(*corev1.Pod); !ok || pod.Spec.Containers[0].Image != "x" {
		t.Fatalf("got %#v", obj)
	}
}

func TestAPIResources(t *testing.T) {
	r, _ := Lookup("apps", "v1", "deployments")
	got := r.APIResources()
	if len(got) != 3 || got[0].Name != "deployments" || got[2].Name != "deployments/scale" ||
		got[2].Group != "autoscaling" || got[2].Kind != "Scale" {
		t.Errorf("got %+v", got)
	}
	p, _ := Lookup("", "v1", "pods")
	for _, ar := range p.APIResources() {
		if ar.Name == "pods/binding" && (ar.Kind != "Binding" || len(ar.Verbs) != 1 || ar.Verbs[0] != "create") {
			t.Errorf("pods/binding: %+v", ar)
		}
	}
}
