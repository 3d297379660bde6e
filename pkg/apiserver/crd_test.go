package apiserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"

	"minik8s/pkg/apiserver/apiservertest"
)

var widgetGVR = schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}

// widgetCRD has what the issue names: a structural schema with a
// defaulted field and a minimum, status and scale subresources, a
// printer column, a short name and a category.
func widgetCRD() *apiextensionsv1.CustomResourceDefinition {
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "widgets.example.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "example.com",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "widgets", Singular: "widget", Kind: "Widget", ShortNames: []string{"wd"}, Categories: []string{"all"}},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"spec": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
							"size":     {Type: "integer", Minimum: ptr.To(1.0)},
							"color":    {Type: "string", Default: &apiextensionsv1.JSON{Raw: []byte(`"blue"`)}},
							"replicas": {Type: "integer"},
						}},
						"status": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
							"replicas": {Type: "integer"},
							"selector": {Type: "string"},
						}},
					},
				}},
				Subresources: &apiextensionsv1.CustomResourceSubresources{
					Status: &apiextensionsv1.CustomResourceSubresourceStatus{},
					Scale:  &apiextensionsv1.CustomResourceSubresourceScale{SpecReplicasPath: ".spec.replicas", StatusReplicasPath: ".status.replicas", LabelSelectorPath: ptr.To(".status.selector")},
				},
				AdditionalPrinterColumns: []apiextensionsv1.CustomResourceColumnDefinition{{Name: "Color", Type: "string", JSONPath: ".spec.color"}},
			}},
		},
	}
}

func established(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}

// TestCustomResources: a CRD is established and its resources served,
// validated, defaulted, pruned, watched, scaled, printed and deleted
// with it.
func TestCustomResources(t *testing.T) {
	s := apiservertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ext := apiextensionsclient.NewForConfigOrDie(s.Config)
	dyn := dynamic.NewForConfigOrDie(s.Config)
	disc := discovery.NewDiscoveryClientForConfigOrDie(s.Config)

	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, widgetCRD(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var crd *apiextensionsv1.CustomResourceDefinition
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		crd, err = ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, "widgets.example.com", metav1.GetOptions{})
		return err == nil && established(crd), nil
	}); err != nil {
		t.Fatalf("the CRD is not Established: %+v", crd.Status)
	}
	if crd.Status.AcceptedNames.Plural != "widgets" || crd.Status.AcceptedNames.ListKind != "WidgetList" || !slices.Equal(crd.Status.StoredVersions, []string{"v1"}) {
		t.Errorf("status: got %+v", crd.Status)
	}
	list, err := disc.ServerResourcesForGroupVersion("example.com/v1")
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	var names []string
	for _, r := range list.APIResources {
		names = append(names, r.Name)
		if r.Name == "widgets" && (!slices.Equal(r.ShortNames, []string{"wd"}) || !slices.Equal(r.Categories, []string{"all"}) || !r.Namespaced || r.Kind != "Widget") {
			t.Errorf("discovery entry: got %+v", r)
		}
	}
	if !slices.Equal(names, []string{"widgets", "widgets/status", "widgets/scale"}) {
		t.Errorf("discovery: got %v", names)
	}

	// Watch from now on.
	w, err := dyn.Resource(widgetGVR).Namespace("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	// Unknown fields are pruned (a warning by default, 400 under Strict),
	// defaults applied.
	body := `{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w1"},"spec":{"size":2,"replicas":1,"extra":true},"status":{"replicas":5}}`
	r := do(t, s, "POST", "/apis/example.com/v1/namespaces/default/widgets?fieldValidation=Strict", "application/json", []byte(body))
	if want := `Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.extra"`; r.code != 400 || r.status.Message != want {
		t.Fatalf("strict create: got %d %q, want 400 %q", r.code, r.status.Message, want)
	}
	r = do(t, s, "POST", "/apis/example.com/v1/namespaces/default/widgets", "application/json", []byte(body))
	if r.code != 201 || !strings.Contains(r.header.Get("Warning"), `unknown field \"spec.extra\"`) {
		t.Fatalf("create: got %d %s (warning %q)", r.code, r.body, r.header.Get("Warning"))
	}
	got, err := dyn.Resource(widgetGVR).Namespace("default").Get(ctx, "w1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec, _, _ := unstructured.NestedMap(got.Object, "spec")
	if fmt.Sprint(spec) != "map[color:blue replicas:1 size:2]" || got.Object["status"] != nil || got.GetGeneration() != 1 {
		t.Errorf("stored: got spec %v status %v generation %d, want the extra field pruned, color defaulted, status reset, generation 1", spec, got.Object["status"], got.GetGeneration())
	}
	select {
	case ev := <-w.ResultChan():
		if ev.Type != "ADDED" {
			t.Errorf("watch: got %s", ev.Type)
		}
	case <-time.After(5 * time.Second):
		t.Error("watch: no event for the create")
	}

	// Schema validation with the field path.
	r = do(t, s, "POST", "/apis/example.com/v1/namespaces/default/widgets", "application/json",
		[]byte(`{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w2"},"spec":{"size":0}}`))
	if r.code != 422 || fmt.Sprint(causeFields(r.status)) != "[spec.size]" || !strings.Contains(r.status.Message, "should be greater than or equal to 1") {
		t.Errorf("invalid create: got %d %v %q", r.code, causeFields(r.status), r.status.Message)
	}

	// The status subresource writes status only; the main resource not.
	got.Object["status"] = map[string]any{"replicas": int64(3), "selector": "app=w"}
	if _, err := dyn.Resource(widgetGVR).Namespace("default").UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("status update: %v", err)
	}
	// The scale subresource reads and writes the definition's paths.
	sc := do(t, s, "GET", "/apis/example.com/v1/namespaces/default/widgets/w1/scale", "", nil)
	var scale struct {
		Spec   struct{ Replicas int32 }
		Status struct {
			Replicas int32
			Selector string
		}
	}
	if err := json.Unmarshal(sc.body, &scale); err != nil || scale.Spec.Replicas != 1 || scale.Status.Replicas != 3 || scale.Status.Selector != "app=w" {
		t.Errorf("scale: got %d %s", sc.code, sc.body)
	}
	if r := do(t, s, "PATCH", "/apis/example.com/v1/namespaces/default/widgets/w1/scale", "application/merge-patch+json", []byte(`{"spec":{"replicas":4}}`)); r.code != 200 {
		t.Errorf("scale patch: got %d %s", r.code, r.body)
	}
	got, _ = dyn.Resource(widgetGVR).Namespace("default").Get(ctx, "w1", metav1.GetOptions{})
	if n, _, _ := unstructured.NestedInt64(got.Object, "spec", "replicas"); n != 4 || got.GetGeneration() != 2 {
		t.Errorf("after scale: got replicas %d generation %d, want 4 and 2", n, got.GetGeneration())
	}
	// A strategic merge patch is 415, as kube-apiserver answers.
	if r := do(t, s, "PATCH", "/apis/example.com/v1/namespaces/default/widgets/w1", "application/strategic-merge-patch+json", []byte(`{"spec":{"size":3}}`)); r.code != 415 {
		t.Errorf("strategic merge patch: got %d, want 415", r.code)
	}

	// The printer column is in the Table.
	table := getTable(t, s, "/apis/example.com/v1/namespaces/default/widgets")
	var cols []string
	for _, c := range table.ColumnDefinitions {
		cols = append(cols, c.Name)
	}
	if !slices.Equal(cols, []string{"Name", "Color"}) || len(table.Rows) != 1 || fmt.Sprint(table.Rows[0].Cells) != "[w1 blue]" {
		t.Errorf("table: got columns %v rows %v", cols, table.Rows)
	}

	// Deleting the definition deletes its resources, then itself, and
	// the resource leaves discovery.
	if err := ext.ApiextensionsV1().CustomResourceDefinitions().Delete(ctx, "widgets.example.com", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, "widgets.example.com", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}); err != nil {
		t.Fatal("the CRD is not gone")
	}
	if _, err := disc.ServerResourcesForGroupVersion("example.com/v1"); !apierrors.IsNotFound(err) {
		t.Errorf("discovery after delete: got %v, want NotFound", err)
	}
	if n, err := s.Server.Store().Count(ctx, "/registry/example.com/widgets/"); err != nil || n != 0 {
		t.Errorf("stored widgets after the CRD's deletion: %d (%v)", n, err)
	}
}

// getTable GETs path as a server-side Table.
func getTable(t *testing.T, s *apiservertest.Server, path string) metav1.Table {
	t.Helper()
	req, err := http.NewRequest("GET", s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := s.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var table metav1.Table
	if err := json.NewDecoder(resp.Body).Decode(&table); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s as Table: %d %v", path, resp.StatusCode, err)
	}
	return table
}

// TestCustomResourceOpenAPIAndApply: a custom resource's group/version
// has its OpenAPI v3 document (kubectl explain reads it) and both the
// definition and its objects take server-side apply.
func TestCustomResourceOpenAPIAndApply(t *testing.T) {
	s := apiservertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ext := apiextensionsclient.NewForConfigOrDie(s.Config)
	crd := widgetCRD()
	crd.TypeMeta = metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"}
	body, _ := json.Marshal(crd)
	if r := do(t, s, "PATCH", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com?fieldManager=test", "application/apply-patch+yaml", body); r.code != 201 {
		t.Fatalf("applying the CRD: got %d %s", r.code, r.body)
	}
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, "widgets.example.com", metav1.GetOptions{})
		return err == nil && established(got), nil
	}); err != nil {
		t.Fatal("the CRD is not Established")
	}
	r := do(t, s, "PATCH", "/apis/example.com/v1/namespaces/default/widgets/w?fieldManager=test", "application/apply-patch+yaml",
		[]byte(`{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"},"spec":{"size":3}}`))
	if r.code != 201 || !strings.Contains(string(r.body), `"manager":"test"`) || !strings.Contains(string(r.body), `"color":"blue"`) {
		t.Fatalf("applying a widget: got %d %s", r.code, r.body)
	}
	// Its status too: the status subresource's own entry, the spec left.
	r = do(t, s, "PATCH", "/apis/example.com/v1/namespaces/default/widgets/w/status?fieldManager=status-test", "application/apply-patch+yaml",
		[]byte(`{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"},"spec":{"size":9},"status":{"replicas":2}}`))
	if r.code != 200 || !strings.Contains(string(r.body), `"replicas":2`) || !strings.Contains(string(r.body), `"size":3`) ||
		!strings.Contains(string(r.body), `"manager":"status-test","operation":"Apply","subresource":"status"`) {
		t.Fatalf("applying a widget's status: got %d %s", r.code, r.body)
	}
	r = do(t, s, "GET", "/openapi/v3/apis/example.com/v1", "", nil)
	var doc struct {
		Components struct {
			Schemas map[string]json.RawMessage
		}
	}
	if err := json.Unmarshal(r.body, &doc); err != nil || r.code != 200 {
		t.Fatalf("openapi: got %d %v", r.code, err)
	}
	for _, name := range []string{"com.example.v1.Widget", "com.example.v1.WidgetList", "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"} {
		if _, ok := doc.Components.Schemas[name]; !ok {
			t.Errorf("openapi: no schema %s", name)
		}
	}
	if !strings.Contains(string(doc.Components.Schemas["com.example.v1.Widget"]), `"x-kubernetes-group-version-kind"`) {
		t.Errorf("openapi: the Widget schema has no group-version-kind: %s", doc.Components.Schemas["com.example.v1.Widget"])
	}
}

// TestCustomResourceVersions: a definition with two served versions
// stores in its storage version and answers each request in the version
// asked for (the None conversion); discovery prefers the higher version.
func TestCustomResourceVersions(t *testing.T) {
	s := apiservertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ext := apiextensionsclient.NewForConfigOrDie(s.Config)
	dyn := dynamic.NewForConfigOrDie(s.Config)
	crd := widgetCRD()
	beta := crd.Spec.Versions[0]
	beta.Name, beta.Storage = "v1beta1", false
	crd.Spec.Versions = append([]apiextensionsv1.CustomResourceDefinitionVersion{beta}, crd.Spec.Versions...)
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	betaGVR := widgetGVR.GroupVersion().WithResource("widgets")
	betaGVR.Version = "v1beta1"
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := dyn.Resource(betaGVR).Namespace("default").List(ctx, metav1.ListOptions{})
		return err == nil, nil
	}); err != nil {
		t.Fatal("v1beta1 is not served")
	}
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1beta1", "kind": "Widget", "metadata": map[string]any{"name": "old"}, "spec": map[string]any{"size": int64(1)}}}
	got, err := dyn.Resource(betaGVR).Namespace("default").Create(ctx, u, metav1.CreateOptions{})
	if err != nil || got.GetAPIVersion() != "example.com/v1beta1" {
		t.Fatalf("create through v1beta1: got %v %v", got, err)
	}
	v1, err := dyn.Resource(widgetGVR).Namespace("default").Get(ctx, "old", metav1.GetOptions{})
	if err != nil || v1.GetAPIVersion() != "example.com/v1" {
		t.Fatalf("read through v1: got %v %v", v1, err)
	}
	r := do(t, s, "GET", "/apis/example.com", "", nil)
	var group metav1.APIGroup
	if err := json.Unmarshal(r.body, &group); err != nil || group.PreferredVersion.Version != "v1" || len(group.Versions) != 2 {
		t.Errorf("group discovery: got %s", r.body)
	}
}

// TestCustomResourceCELRules: x-kubernetes-validations rules are checked
// as kube-apiserver checks them, transition rules (oldSelf) included.
func TestCustomResourceCELRules(t *testing.T) {
	s := apiservertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ext := apiextensionsclient.NewForConfigOrDie(s.Config)
	crd := widgetCRD()
	spec := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	spec.XValidations = apiextensionsv1.ValidationRules{
		{Rule: "self.size <= 10", Message: "size is at most 10"},
		{Rule: "!has(oldSelf.color) || self.color == oldSelf.color", Message: "color is immutable"},
	}
	crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = spec
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		r := do(t, s, "GET", "/apis/example.com/v1/namespaces/default/widgets", "", nil)
		return r.code == 200, nil
	}); err != nil {
		t.Fatal("widgets not served")
	}
	r := do(t, s, "POST", "/apis/example.com/v1/namespaces/default/widgets", "application/json",
		[]byte(`{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"big"},"spec":{"size":11}}`))
	if r.code != 422 || fmt.Sprint(causeFields(r.status)) != "[spec]" || !strings.Contains(r.status.Message, "size is at most 10") {
		t.Errorf("create over the rule: got %d %v %q", r.code, causeFields(r.status), r.status.Message)
	}
	if r := do(t, s, "POST", "/apis/example.com/v1/namespaces/default/widgets", "application/json",
		[]byte(`{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"},"spec":{"size":2,"color":"red"}}`)); r.code != 201 {
		t.Fatalf("create: got %d %s", r.code, r.body)
	}
	r = do(t, s, "PATCH", "/apis/example.com/v1/namespaces/default/widgets/w", "application/merge-patch+json", []byte(`{"spec":{"color":"green"}}`))
	if r.code != 422 || !strings.Contains(r.status.Message, "color is immutable") {
		t.Errorf("transition rule: got %d %q", r.code, r.status.Message)
	}
}

// TestOpenAPIV2: /openapi/v2 serves the built-in kinds' definitions and
// the custom resources', in JSON and in protobuf, as kube-apiserver does;
// client-go's OpenAPI v2 client (which kubectl and Helm use) parses it.
func TestOpenAPIV2(t *testing.T) {
	s := apiservertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ext := apiextensionsclient.NewForConfigOrDie(s.Config)
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, widgetCRD(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, "widgets.example.com", metav1.GetOptions{})
		return err == nil && established(got), nil
	}); err != nil {
		t.Fatal("the CRD is not Established")
	}
	r := do(t, s, "GET", "/openapi/v2", "", nil)
	var doc struct {
		Swagger     string
		Definitions map[string]json.RawMessage
	}
	if err := json.Unmarshal(r.body, &doc); err != nil || r.code != 200 || doc.Swagger != "2.0" {
		t.Fatalf("GET /openapi/v2: %d %v", r.code, err)
	}
	for _, name := range []string{"io.k8s.api.core.v1.Pod", "io.k8s.api.apps.v1.Deployment", "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition", "com.example.v1.Widget"} {
		if _, ok := doc.Definitions[name]; !ok {
			t.Errorf("no definition %s in /openapi/v2", name)
		}
	}
	// The protobuf form, through client-go's discovery client.
	disc := discovery.NewDiscoveryClientForConfigOrDie(s.Config)
	pb, err := disc.OpenAPISchema()
	if err != nil {
		t.Fatalf("OpenAPISchema (protobuf): %v", err)
	}
	found := false
	for _, d := range pb.GetDefinitions().GetAdditionalProperties() {
		if d.GetName() == "com.example.v1.Widget" {
			found = true
		}
	}
	if !found {
		t.Error("the protobuf document has no com.example.v1.Widget")
	}
}
