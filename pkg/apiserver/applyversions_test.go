package apiserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"

	"minik8s/pkg/apiserver/apiservertest"
)

// noxuCRD is the conformance suite's "ServerSideApply should work for
// CRDs" definition: cluster-scoped, v1beta1 served and v1 stored, and a
// spec whose ports are a list map keyed by containerPort and protocol.
func noxuCRD(t *testing.T) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	var schema apiextensionsv1.CustomResourceValidation
	if err := json.Unmarshal([]byte(`{"openAPIV3Schema": {"type": "object", "properties": {"spec": {
		"type": "object", "x-kubernetes-preserve-unknown-fields": true,
		"properties": {
			"cronSpec": {"type": "string"},
			"ports": {"type": "array", "x-kubernetes-list-map-keys": ["containerPort", "protocol"], "x-kubernetes-list-type": "map",
				"items": {"type": "object", "required": ["containerPort", "protocol"], "properties": {
					"containerPort": {"type": "integer", "format": "int32"},
					"name": {"type": "string"},
					"protocol": {"type": "string"}}}}}}}}}`), &schema); err != nil {
		t.Fatal(err)
	}
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "noxus.mygroup.example.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "mygroup.example.com",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "noxus", Singular: "nonenglishnoxu", Kind: "WishIHadChosenNoxu", ListKind: "NoxuItemList"},
			Scope: apiextensionsv1.ClusterScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{
				{Name: "v1beta1", Served: true, Storage: false, Schema: &schema},
				{Name: "v1", Served: true, Storage: true, Schema: &schema},
			},
		},
	}
}

func noxuApplied(version, manager string, body string) string {
	return fmt.Sprintf(`{"apiVersion":"mygroup.example.com/%s","kind":"WishIHadChosenNoxu","metadata":{"name":"mytest"%s},"spec":%s}`, version, manager, body)
}

// spec reads the answer's spec.
func noxuSpec(t *testing.T, body []byte) (replicas int64, ports []any, finalizers []string) {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(body); err != nil {
		t.Fatalf("the answer is not an object: %v: %s", err, body)
	}
	replicas, _, _ = unstructured.NestedInt64(u.Object, "spec", "replicas")
	ports, _, _ = unstructured.NestedSlice(u.Object, "spec", "ports")
	return replicas, ports, u.GetFinalizers()
}

// TestServerSideApplyCustomResourceVersions is the conformance suite's
// "ServerSideApply should work for CRDs": apply through the served
// version that is not stored (v1beta1) and the stored one, with the
// definition's schema as the field manager's types: metadata.finalizers
// is a set, spec.ports a list map whose items have owners of their own,
// and a field another writer changed conflicts until forced.
func TestServerSideApplyCustomResourceVersions(t *testing.T) {
	s := apiservertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ext := apiextensionsclient.NewForConfigOrDie(s.Config)
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, noxuCRD(t), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		return do(t, s, "GET", "/apis/mygroup.example.com/v1beta1/noxus", "", nil).code == http.StatusOK, nil
	}); err != nil {
		t.Fatal("v1beta1 is not served")
	}
	const first = `{"cronSpec":"* * * * */5","replicas":1,"ports":[{"name":"x","containerPort":80,"protocol":"TCP"}]}`
	path := func(version, query string) string {
		return "/apis/mygroup.example.com/" + version + "/noxus/mytest?" + query
	}
	apply := "application/apply-patch+yaml"
	merge := "application/merge-patch+json"

	steps := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		wantCode    int
		// wantCauses is the number of conflicts a 409 lists.
		wantCauses     int
		wantReplicas   int64
		wantPorts      int
		wantFinalizers int
	}{
		{"apply creates through v1beta1", "PATCH", path("v1beta1", "fieldManager=apply_test"), apply,
			noxuApplied("v1beta1", `,"finalizers":["test-finalizer"]`, first), http.StatusCreated, 0, 1, 1, 1},
		{"apply through v1, the stored version, without the finalizer removes it", "PATCH", path("v1", "fieldManager=apply_test"), apply,
			noxuApplied("v1", "", first), http.StatusOK, 0, 1, 1, 0},
		{"merge patch adds a finalizer", "PATCH", path("v1beta1", ""), merge,
			`{"metadata":{"finalizers":["test-finalizer","another-one"]}}`, http.StatusOK, 0, 1, 1, 2},
		{"re-apply keeps the other finalizer (a set)", "PATCH", path("v1beta1", "fieldManager=apply_test"), apply,
			noxuApplied("v1beta1", `,"finalizers":["test-finalizer"]`, first), http.StatusOK, 0, 1, 1, 2},
		{"merge patch changes replicas", "PATCH", path("v1beta1", ""), merge,
			`{"spec":{"replicas":5}}`, http.StatusOK, 0, 5, 1, 2},
		{"re-apply conflicts on replicas", "PATCH", path("v1beta1", "fieldManager=apply_test"), apply,
			noxuApplied("v1beta1", `,"finalizers":["test-finalizer"]`, first), http.StatusConflict, 1, 0, 0, 0},
		{"forced re-apply", "PATCH", path("v1beta1", "fieldManager=apply_test&force=true"), apply,
			noxuApplied("v1beta1", `,"finalizers":["test-finalizer"]`, first), http.StatusOK, 0, 1, 1, 2},
		{"another applier changes a list item it does not own", "PATCH", path("v1beta1", "fieldManager=apply_test_2"), apply,
			noxuApplied("v1beta1", "", `{"ports":[{"name":"y","containerPort":80,"protocol":"TCP"}]}`), http.StatusConflict, 1, 0, 0, 0},
		{"another applier adds its own list item", "PATCH", path("v1beta1", "fieldManager=apply_test_2"), apply,
			noxuApplied("v1beta1", "", `{"ports":[{"name":"y","containerPort":8080,"protocol":"TCP"}]}`), http.StatusOK, 0, 1, 2, 2},
		{"the item is the other applier's at v1 too", "PATCH", path("v1", "fieldManager=apply_test_3"), apply,
			noxuApplied("v1", "", `{"ports":[{"name":"z","containerPort":8080,"protocol":"TCP"}]}`), http.StatusConflict, 1, 0, 0, 0},
	}
	for _, st := range steps {
		r := do(t, s, st.method, st.path, st.contentType, []byte(st.body))
		if r.code != st.wantCode {
			t.Fatalf("%s: got %d %s, want %d", st.name, r.code, r.body, st.wantCode)
		}
		if r.isError {
			if st.wantCauses > 0 && (r.status.Details == nil || len(r.status.Details.Causes) != st.wantCauses) {
				t.Errorf("%s: got %s, want %d conflicts", st.name, r.body, st.wantCauses)
			}
			continue
		}
		replicas, ports, finalizers := noxuSpec(t, r.body)
		if replicas != st.wantReplicas || len(ports) != st.wantPorts || len(finalizers) != st.wantFinalizers {
			t.Errorf("%s: got replicas %d, %d ports, finalizers %v; want %d, %d, %d", st.name, replicas, len(ports), finalizers, st.wantReplicas, st.wantPorts, st.wantFinalizers)
		}
	}
	// Each applier is recorded in the version it applied through.
	r := do(t, s, "GET", path("v1", ""), "", nil)
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(r.body); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range u.GetManagedFields() {
		got = append(got, m.Manager+"/"+string(m.Operation)+"@"+m.APIVersion)
	}
	want := "apply_test/Apply@mygroup.example.com/v1beta1 apply_test_2/Apply@mygroup.example.com/v1beta1 Go-http-client/Update@mygroup.example.com/v1"
	if strings.Join(got, " ") != want {
		t.Errorf("managedFields: got %v, want %s", got, want)
	}
	do(t, s, "PATCH", path("v1", ""), merge, []byte(`{"metadata":{"finalizers":[]}}`))
}

// TestServerSideApplySecondVersions: apply through the built-in versions
// that are served from another version's objects (autoscaling/v1
// HorizontalPodAutoscalers stored as v2, events.k8s.io/v1 Events stored
// as core/v1), with conflicts across the two versions.
func TestServerSideApplySecondVersions(t *testing.T) {
	s := apiservertest.Start(t)
	apply := "application/apply-patch+yaml"
	hpa := func(version, body string) string {
		return fmt.Sprintf(`{"apiVersion":"autoscaling/%s","kind":"HorizontalPodAutoscaler","metadata":{"name":"h"},"spec":%s}`, version, body)
	}
	const target = `"scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"web"}`
	event := func(version, note string) string {
		if version == "v1" {
			return fmt.Sprintf(`{"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"e"},"eventTime":"2026-01-01T00:00:00.000000Z","reportingController":"example.com/c","reportingInstance":"i","action":"Tested","reason":"Testing","type":"Normal","note":%q,"regarding":{"kind":"Pod","name":"p","namespace":"default"}}`, note)
		}
		return fmt.Sprintf(`{"apiVersion":"v1","kind":"Event","metadata":{"name":"e"},"message":%q}`, note)
	}
	for _, st := range []struct {
		name     string
		path     string
		body     string
		wantCode int
		want     string
	}{
		{"create through autoscaling/v1", "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers/h?fieldManager=a",
			hpa("v1", `{`+target+`,"maxReplicas":4,"targetCPUUtilizationPercentage":50}`), http.StatusCreated, `"targetCPUUtilizationPercentage":50`},
		{"the same field through autoscaling/v2 by another manager conflicts", "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/h?fieldManager=b",
			hpa("v2", `{`+target+`,"maxReplicas":6}`), http.StatusConflict, `conflict with \"a\"`},
		{"forced through autoscaling/v2", "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/h?fieldManager=b&force=true",
			hpa("v2", `{`+target+`,"maxReplicas":6}`), http.StatusOK, `"maxReplicas":6`},
		{"the first manager re-applies at v1 and conflicts back", "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers/h?fieldManager=a",
			hpa("v1", `{`+target+`,"maxReplicas":4,"targetCPUUtilizationPercentage":50}`), http.StatusConflict, `.spec.maxReplicas`},
		{"create through events.k8s.io/v1", "/apis/events.k8s.io/v1/namespaces/default/events/e?fieldManager=a",
			event("v1", "first"), http.StatusCreated, `"note":"first"`},
		// The conflict names the field in the version its owner applied
		// in, as structured-merge-diff reports it.
		{"the note through core/v1 by another manager conflicts", "/api/v1/namespaces/default/events/e?fieldManager=b",
			event("core", "second"), http.StatusConflict, `"field":".note"`},
	} {
		r := do(t, s, "PATCH", st.path, apply, []byte(st.body))
		if r.code != st.wantCode || !strings.Contains(string(r.body), st.want) {
			t.Errorf("%s: got %d %s, want %d with %s", st.name, r.code, r.body, st.wantCode, st.want)
		}
	}
}

// TestServerSideApplyDuplicateFields is the conformance suite's
// FieldValidation "detect duplicates in a CR": an applied configuration
// with a field twice is refused under fieldValidation=Strict, warned
// under Warn.
func TestServerSideApplyDuplicateFields(t *testing.T) {
	s := apiservertest.Start(t)
	body := []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dup\ndata:\n  foo: a\n  foo: b\n")
	for _, tt := range []struct {
		validation  string
		wantCode    int
		wantBody    string
		wantWarning string
	}{
		{"Strict", http.StatusBadRequest, `error strict decoding patch: error converting YAML to JSON: yaml: unmarshal errors:\n  line 7: key \"foo\" already set in map`, ""},
		{"Warn", http.StatusCreated, `"foo":"b"`, `already set in map`},
	} {
		r := do(t, s, "PATCH", "/api/v1/namespaces/default/configmaps/dup?fieldManager=t&fieldValidation="+tt.validation, "application/apply-patch+yaml", body)
		if r.code != tt.wantCode || !strings.Contains(string(r.body), tt.wantBody) || !strings.Contains(r.header.Get("Warning"), tt.wantWarning) {
			t.Errorf("fieldValidation=%s: got %d %s (Warning %q), want %d with %s", tt.validation, r.code, r.body, r.header.Get("Warning"), tt.wantCode, tt.wantBody)
		}
	}
}
