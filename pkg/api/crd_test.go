package api

import (
	"encoding/json"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

func newCRD() *apiextensionsv1.CustomResourceDefinition {
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: clusterMeta("widgets.example.com"),
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "example.com",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "widgets", Kind: "Widget"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type:       "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{"spec": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{"size": {Type: "integer"}}}},
				}},
			}},
		},
	}
}

// TestKindCustomResourceDefinition: definitions are checked as
// kube-apiserver checks them (apiextensions-apiserver's strategy).
func TestKindCustomResourceDefinition(t *testing.T) {
	crd := newCRD()
	runCreates(t, []createCase{
		{name: "valid", obj: crd, check: checked(func(t *testing.T, c *apiextensionsv1.CustomResourceDefinition) {
			if c.Spec.Names.ListKind != "WidgetList" || c.Spec.Names.Singular != "widget" || c.Spec.Conversion == nil || c.Spec.Conversion.Strategy != apiextensionsv1.NoneConverter {
				t.Errorf("defaults: got names %+v conversion %+v", c.Spec.Names, c.Spec.Conversion)
			}
			if c.Generation != 1 || len(c.Status.Conditions) != 0 {
				t.Errorf("got generation %d status %+v, want 1 and an empty status", c.Generation, c.Status)
			}
		})},
		{name: "name not plural.group", obj: variant(crd, func(c *apiextensionsv1.CustomResourceDefinition) { c.Name = "widget.example.com" }), want: []wantErr{invalid("metadata.name")}},
		{name: "group without a dot", obj: variant(crd, func(c *apiextensionsv1.CustomResourceDefinition) { c.Name, c.Spec.Group = "widgets.example", "example" }), want: []wantErr{invalid("spec.group")}},
		{name: "no storage version", obj: variant(crd, func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.Versions[0].Storage = false }), want: []wantErr{invalid("spec.versions"), invalid("status.storedVersions")}},
		{name: "no schema", obj: variant(crd, func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.Versions[0].Schema = nil }), want: []wantErr{required("spec.versions[0].schema.openAPIV3Schema")}},
		{name: "a property without a type", obj: variant(crd, func(c *apiextensionsv1.CustomResourceDefinition) {
			c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = apiextensionsv1.JSONSchemaProps{Properties: map[string]apiextensionsv1.JSONSchemaProps{"size": {Type: "integer"}}}
		}), // The path kube-apiserver gives too: a schema shared by every
			// version is checked as the internal version's spec.validation.
			want: []wantErr{required("spec.validation.openAPIV3Schema.properties[spec].type")}},
		{name: "kind not a CamelCase name", obj: variant(crd, func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.Names.Kind = "widget kind" }), want: []wantErr{invalid("spec.names.kind"), invalid("spec.names.listKind"), invalid("spec.names.singular")}},
	})
	runUpdates(t, []updateCase{
		{name: "scope of an established definition changed", old: crd, stored: establish, edit: hook(func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.Scope = apiextensionsv1.ClusterScoped }), want: []wantErr{invalid("spec.scope")}},
		{name: "a version added", old: crd, edit: hook(func(c *apiextensionsv1.CustomResourceDefinition) {
			v := c.Spec.Versions[0]
			v.Name, v.Storage = "v2", false
			c.Spec.Versions = append(c.Spec.Versions, v)
		}), check: checkedUpdate(func(t *testing.T, c, old *apiextensionsv1.CustomResourceDefinition) {
			if c.Generation != old.Generation+1 {
				t.Errorf("got generation %d, want %d", c.Generation, old.Generation+1)
			}
		})},
		{name: "status written by the main resource is kept", old: crd, edit: hook(func(c *apiextensionsv1.CustomResourceDefinition) {
			c.Status.AcceptedNames.Plural = "x"
		}), check: checkedUpdate(func(t *testing.T, c, _ *apiextensionsv1.CustomResourceDefinition) {
			if c.Status.AcceptedNames.Plural != "" {
				t.Errorf("status changed through the main resource: %+v", c.Status)
			}
		})},
	})
}

// establish marks a stored definition as the server does once it serves it.
func establish(obj runtime.Object) {
	c := obj.(*apiextensionsv1.CustomResourceDefinition)
	c.Status.StoredVersions = []string{"v1"}
	c.Status.Conditions = []apiextensionsv1.CustomResourceDefinitionCondition{{Type: apiextensionsv1.Established, Status: apiextensionsv1.ConditionTrue}}
}

// TestCRDDeleteAddsTheCleanupFinalizer: the first DELETE turns into the
// cleanup finalizer and the Terminating condition.
func TestCRDDeleteAddsTheCleanupFinalizer(t *testing.T) {
	crd := newCRD()
	r := resourceFor(t, crd)
	mark, done := r.Strategy.BeforeDelete(crd, &metav1.DeleteOptions{}, metav1.Now())
	if mark || done {
		t.Fatalf("got mark %t done %t, want the finalizer to hold it", mark, done)
	}
	if len(crd.Finalizers) != 1 || crd.Finalizers[0] != apiextensionsv1.CustomResourceCleanupFinalizer {
		t.Errorf("finalizers: got %v", crd.Finalizers)
	}
	if len(crd.Status.Conditions) != 1 || crd.Status.Conditions[0].Type != apiextensionsv1.Terminating || crd.Status.Conditions[0].Reason != "InstanceDeletionPending" {
		t.Errorf("conditions: got %+v", crd.Status.Conditions)
	}
}

// TestCustomResourceRead: what a read from storage does to a custom
// resource, by its version's current schema: defaults filled, unknown
// fields pruned unless the schema preserves them (the conformance test's
// definition does, at the root), malformed metadata dropped and a
// missing generation repaired, as kube-apiserver's storage codec does.
func TestCustomResourceRead(t *testing.T) {
	props := map[string]apiextensionsv1.JSONSchemaProps{
		"a": {Type: "string", Default: &apiextensionsv1.JSON{Raw: []byte(`"A"`)}},
		"b": {Type: "string"},
	}
	tests := []struct {
		name     string
		preserve bool
		stored   string
		want     string
	}{
		{
			name:   "defaults and pruning",
			stored: `{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w","generation":2},"b":"B","c":"C"}`,
			want:   `{"a":"A","apiVersion":"example.com/v1","b":"B","kind":"Widget","metadata":{"generation":2,"name":"w"}}`,
		},
		{
			name:     "unknown fields preserved",
			preserve: true,
			stored:   `{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w","generation":1},"a":"set","c":"C"}`,
			want:     `{"a":"set","apiVersion":"example.com/v1","c":"C","kind":"Widget","metadata":{"generation":1,"name":"w"}}`,
		},
		{
			name:   "malformed metadata dropped, generation repaired",
			stored: `{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w","labels":"not a map"}}`,
			want:   `{"a":"A","apiVersion":"example.com/v1","kind":"Widget","metadata":{"generation":1,"name":"w"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			crd := newCRD()
			crd.Status.AcceptedNames = apiextensionsv1.CustomResourceDefinitionNames{Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList"}
			crd.Spec.Versions[0].Schema.OpenAPIV3Schema = &apiextensionsv1.JSONSchemaProps{Type: "object", Properties: props, XPreserveUnknownFields: ptr.To(tt.preserve)}
			if !tt.preserve {
				crd.Spec.Versions[0].Schema.OpenAPIV3Schema.XPreserveUnknownFields = nil
			}
			rs, err := CustomResources(crd)
			if err != nil {
				t.Fatal(err)
			}
			u := &unstructured.Unstructured{}
			if err := u.UnmarshalJSON([]byte(tt.stored)); err != nil {
				t.Fatal(err)
			}
			if err := rs[0].CRD.Read(u); err != nil {
				t.Fatalf("read: %v", err)
			}
			got, _ := json.Marshal(u.Object)
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
