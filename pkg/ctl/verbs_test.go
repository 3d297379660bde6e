package ctl

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestDayOneVerbs: the kubectl verbs of every tutorial's first page work
// against a real API server as kubectl's do.
func TestDayOneVerbs(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()

	wantLines(t, c.ctl("run", "nginx", "--image=nginx", "--labels=app=nginx"), "pod/nginx created")
	wantLines(t, c.ctl("create", "deployment", "web", "--image=minik8s/echo", "--replicas=1"), "deployment.apps/web created")
	wantLines(t, c.ctl("expose", "deployment", "web", "--port=80", "--target-port=8080", "--type=LoadBalancer"), "service/web exposed")
	svc, err := c.client.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil || svc.Spec.Type != "LoadBalancer" || svc.Spec.Ports[0].Port != 80 || svc.Spec.Selector["app"] != "web" {
		t.Fatalf("exposed service: %+v %v", svc, err)
	}

	// patch: strategic merge (the default), merge and JSON patches.
	wantLines(t, c.ctl("patch", "deployment", "web", "-p", `{"spec":{"replicas":3}}`), "deployment.apps/web patched")
	wantLines(t, c.ctl("patch", "deployment", "web", "--type=merge", "-p", `{"metadata":{"labels":{"tier":"front"}}}`), "deployment.apps/web patched")
	wantLines(t, c.ctl("patch", "deployment", "web", "--type=json", "-p", `[{"op":"replace","path":"/spec/replicas","value":2}]`), "deployment.apps/web patched")
	d, err := c.client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil || *d.Spec.Replicas != 2 || d.Labels["tier"] != "front" {
		t.Fatalf("patched deployment: replicas %v labels %v (%v)", d.Spec.Replicas, d.Labels, err)
	}
	if _, errOut, err := c.try("patch", "deployment", "web", "-p", `{"spec":{"replicas":-1}}`); err == nil || !strings.Contains(errOut, "spec.replicas: Invalid value: -1") {
		t.Errorf("invalid patch: got %v %q", err, errOut)
	}

	// wait: a condition already met, and one that is not within the timeout.
	if _, err := c.client.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	wantLines(t, c.ctl("wait", "--for=jsonpath={.status.phase}=Active", "namespace/default", "--timeout=5s"), "namespace/default condition met")
	if _, errOut, err := c.try("wait", "--for=condition=Ready", "pod/nginx", "--timeout=1s"); err == nil || !strings.Contains(errOut, "timed out waiting for the condition on pods/nginx") {
		t.Errorf("wait for an unready pod: got %v %q", err, errOut)
	}

	// replace and diff.
	f := c.file("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: a}\n")
	wantLines(t, c.ctl("create", "-f", f), "configmap/settings created")
	f = c.file("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: b}\n")
	out, _, err := c.try("diff", "-f", f)
	if ExitCode(err) != 1 || !strings.Contains(out, "-  mode: a") || !strings.Contains(out, "+  mode: b") {
		t.Errorf("diff: got exit %d and\n%s", ExitCode(err), out)
	}
	wantLines(t, c.ctl("replace", "-f", f), "configmap/settings replaced")
	if out, _, err := c.try("diff", "-f", f); err != nil || out != "" {
		t.Errorf("diff after replace: got %v %q, want no difference", err, out)
	}

	// autoscale and events.
	wantLines(t, c.ctl("autoscale", "deployment", "web", "--max=5", "--cpu=50%"), "horizontalpodautoscaler.autoscaling/web autoscaled")
	if _, err := c.client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Errorf("autoscaler: %v", err)
	}
	if out, errOut, err := c.try("events", "-n", "kube-system"); err != nil || !strings.Contains(errOut, "No events found in kube-system namespace") {
		t.Errorf("events: got %v %q %q", err, out, errOut)
	}
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "nginx.1", Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "nginx", Namespace: "default"},
		Reason:         "Pulled", Message: "Successfully pulled image", Type: "Normal",
		FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(), Count: 1,
	}
	if _, err := c.client.CoreV1().Events("default").Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if out := c.ctl("events"); !strings.Contains(out, "Pulled") || !strings.Contains(out, "Pod/nginx") || !strings.Contains(out, "Successfully pulled image") {
		t.Errorf("events: got %q", out)
	}

	// cluster-info and kustomize (local, no server).
	if out := c.ctl("cluster-info"); !strings.Contains(out, "Kubernetes control plane is running at "+c.server) {
		t.Errorf("cluster-info: got %q", out)
	}
	c.file("kustomization.yaml", "resources: [cm.yaml]\nnamePrefix: dev-\n")
	if out := c.ctl("kustomize", c.dir); !strings.Contains(out, "name: dev-settings") {
		t.Errorf("kustomize: got %q", out)
	}
	wantLines(t, c.ctl("apply", "-k", c.dir), "configmap/dev-settings created")
}
