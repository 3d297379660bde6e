package apiserver_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"minik8s/pkg/apiserver/apiservertest"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
)

func appliedDeployment(name string, replicas int32, image string) *appsv1ac.DeploymentApplyConfiguration {
	return appsv1ac.Deployment(name, "default").WithSpec(appsv1ac.DeploymentSpec().
		WithReplicas(replicas).
		WithSelector(metav1ac.LabelSelector().WithMatchLabels(map[string]string{"app": name})).
		WithTemplate(corev1ac.PodTemplateSpec().
			WithLabels(map[string]string{"app": name}).
			WithSpec(corev1ac.PodSpec().WithContainers(corev1ac.Container().WithName("c").WithImage(image)))))
}

// Server-side apply as client-go and kubectl send it: create, change, the
// conflict with another manager and force, a field dropped from the
// applied configuration, and an update by a non-applier recorded.
func TestServerSideApply(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx := context.Background()
	deps := cs.AppsV1().Deployments("default")

	got, err := deps.Apply(ctx, appliedDeployment("web", 2, "minik8s/echo:1").WithLabels(map[string]string{"tier": "front"}), metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil {
		t.Fatalf("apply that creates: %v", err)
	}
	if *got.Spec.Replicas != 2 || got.Labels["tier"] != "front" || got.UID == "" {
		t.Fatalf("created by apply: %+v", got.ObjectMeta)
	}
	// Defaults of the kind were filled in, as on any create.
	if got.Spec.Strategy.Type == "" || got.Spec.Template.Spec.RestartPolicy == "" {
		t.Errorf("apply skipped defaulting: strategy %q restartPolicy %q", got.Spec.Strategy.Type, got.Spec.Template.Spec.RestartPolicy)
	}
	if m := managers(got.ManagedFields); m != "alice/Apply" {
		t.Errorf("managedFields after the first apply: %s", m)
	}

	// The same manager changes its own field.
	if got, err = deps.Apply(ctx, appliedDeployment("web", 3, "minik8s/echo:1").WithLabels(map[string]string{"tier": "front"}), metav1.ApplyOptions{FieldManager: "alice"}); err != nil || *got.Spec.Replicas != 3 {
		t.Fatalf("re-apply: %v %v", err, got)
	}

	// Another manager setting the same field to another value conflicts,
	// and the error names the field and its owner.
	_, err = deps.Apply(ctx, appliedDeployment("web", 5, "minik8s/echo:1"), metav1.ApplyOptions{FieldManager: "bob"})
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), ".spec.replicas") || !strings.Contains(err.Error(), `"alice"`) {
		t.Fatalf("conflicting apply: got %v, want a 409 naming .spec.replicas and alice", err)
	}
	if cur, _ := deps.Get(ctx, "web", metav1.GetOptions{}); *cur.Spec.Replicas != 3 {
		t.Fatalf("a refused apply changed replicas to %d", *cur.Spec.Replicas)
	}
	// With force, bob takes the field.
	if got, err = deps.Apply(ctx, appliedDeployment("web", 5, "minik8s/echo:1"), metav1.ApplyOptions{FieldManager: "bob", Force: true}); err != nil || *got.Spec.Replicas != 5 {
		t.Fatalf("forced apply: %v", err)
	}

	// alice stops applying the label: it is removed, as she alone owned it.
	if got, err = deps.Apply(ctx, appliedDeployment("web", 5, "minik8s/echo:1"), metav1.ApplyOptions{FieldManager: "alice"}); err != nil {
		t.Fatalf("apply without the label: %v", err)
	}
	if _, ok := got.Labels["tier"]; ok {
		t.Errorf("label tier survived its only manager dropping it: %v", got.Labels)
	}

	// An update by a client that does not apply is recorded under its
	// fieldManager, and then conflicts with an applier.
	patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"minik8s/echo:2"}]}}}}`)
	if _, err := deps.Patch(ctx, "web", types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: "carol"}); err != nil {
		t.Fatal(err)
	}
	cur, _ := deps.Get(ctx, "web", metav1.GetOptions{})
	if m := managers(cur.ManagedFields); !strings.Contains(m, "carol/Update") {
		t.Errorf("a patch of an applied object was not recorded: %s", m)
	}
	if _, err := deps.Apply(ctx, appliedDeployment("web", 5, "minik8s/echo:1"), metav1.ApplyOptions{FieldManager: "alice"}); !apierrors.IsConflict(err) || !strings.Contains(err.Error(), "image") {
		t.Errorf("apply over carol's image: got %v, want a conflict on the image", err)
	}
}

// Bad applies are refused with what to do, and store nothing.
func TestServerSideApplyErrors(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx := context.Background()
	send := func(path, contentType, query, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPatch, s.URL+path+query, strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		resp, err := s.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var sb strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			sb.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp.StatusCode, sb.String()
	}
	const apply = "application/apply-patch+yaml"
	svc := "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  ports:\n  - port: 80\n"
	for _, tt := range []struct {
		name, path, ct, query, body string
		code                        int
		want                        string
	}{
		{"no fieldManager", "/api/v1/namespaces/default/services/s", apply, "", svc, 422, "fieldManager: Required value"},
		{"long fieldManager", "/api/v1/namespaces/default/services/s", apply, "?fieldManager=" + strings.Repeat("m", 129), svc, 422, "fieldManager: Too long"},
		{"force on a merge patch", "/api/v1/namespaces/default/services/kubernetes", "application/merge-patch+json", "?force=true", "{}", 422, "may not be specified for non-apply patch"},
		{"wrong kind", "/api/v1/namespaces/default/services/s", apply, "?fieldManager=t", strings.Replace(svc, "Service", "Pod", 1), 400, "this path takes /v1, Kind=Service"},
		{"other name", "/api/v1/namespaces/default/services/other", apply, "?fieldManager=t", svc, 400, "does not match the name on the URL"},
		{"not YAML", "/api/v1/namespaces/default/services/s", apply, "?fieldManager=t", "{", 400, "error decoding YAML"},
		{"uid of nothing", "/api/v1/namespaces/default/services/s", apply, "?fieldManager=t", strings.Replace(svc, "name: s\n", "name: s\n  uid: \"1234\"\n", 1), 409, "uid mismatch"},
		{"scale", "/apis/apps/v1/namespaces/default/deployments/d/scale", apply, "?fieldManager=t", svc, 415, "scale subresource"},
		{"invalid object", "/api/v1/namespaces/default/services/s", apply, "?fieldManager=t", strings.Replace(svc, "80", "0", 1), 422, "spec.ports[0].port"},
		{"CBOR", "/api/v1/namespaces/default/services/s", "application/apply-patch+cbor", "?fieldManager=t", svc, 415, "apply-patch+yaml"},
		{"status of nothing", "/api/v1/namespaces/default/services/s/status", apply, "?fieldManager=t", svc, 404, `services \"s\" not found`},
		{"no namespace", "/api/v1/namespaces/nowhere/services/s", apply, "?fieldManager=t", svc, 404, `"details":{"name":"nowhere","kind":"namespaces"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, body := send(tt.path, tt.ct, tt.query, tt.body)
			if code != tt.code || !strings.Contains(body, tt.want) {
				t.Errorf("got %d %s, want %d with %q", code, body, tt.code, tt.want)
			}
		})
	}
	if l, err := cs.CoreV1().Services("default").List(ctx, metav1.ListOptions{}); err != nil || len(l.Items) != 1 {
		t.Fatalf("bad applies stored something: %v %d services (want only kubernetes)", err, len(l.Items))
	}
	// And a good one through the same path makes the Service, ClusterIP
	// allocated as on any create.
	code, body := send("/api/v1/namespaces/default/services/s", apply, "?fieldManager=t", svc)
	if code != http.StatusCreated || !strings.Contains(body, `"clusterIP"`) {
		t.Fatalf("apply of a new Service: %d %s", code, body)
	}
}

// Writers that do not apply keep an applied object's managedFields: a
// status update without them (the agent and scheduler send none), a
// create that sends undecodable ones.
func TestServerSideApplyAndOtherWriters(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx := context.Background()
	pods := cs.CoreV1().Pods("default")
	pod := corev1ac.Pod("p", "default").WithSpec(corev1ac.PodSpec().WithContainers(corev1ac.Container().WithName("c").WithImage("minik8s/echo:1")))
	got, err := pods.Apply(ctx, pod, metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	got.ManagedFields = nil
	got.Status.Phase = "Running"
	if _, err := pods.UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	cur, _ := pods.Get(ctx, "p", metav1.GetOptions{})
	if m := managers(cur.ManagedFields); m != "alice/Apply" {
		t.Errorf("managedFields after a status update without them: %q, want alice/Apply", m)
	}
	if _, err := pods.Apply(ctx, pod, metav1.ApplyOptions{FieldManager: "alice"}); err != nil {
		t.Errorf("re-apply after a status update: %v", err)
	}

	bad := newPod("q")
	bad.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "x", Operation: metav1.ManagedFieldsOperationUpdate}}
	if _, err := pods.Create(ctx, bad, metav1.CreateOptions{FieldManager: "creator"}); err != nil {
		t.Fatal(err)
	}
	q := corev1ac.Pod("q", "default").WithLabels(map[string]string{"applied": "yes"})
	if _, err := pods.Apply(ctx, q, metav1.ApplyOptions{FieldManager: "alice"}); err != nil {
		t.Errorf("apply over a create that sent undecodable managedFields: %v", err)
	}
}

func managers(entries []metav1.ManagedFieldsEntry) string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Manager+"/"+string(e.Operation))
	}
	return strings.Join(out, ",")
}
