package ctl

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestRollout stands in for the deployment controller (it writes the
// ReplicaSets and status the controller would) to check that kubectl's
// rollout rules work against the API server's objects.
func TestRollout(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	deployments := c.client.AppsV1().Deployments("default")
	c.ctl("apply", "-f", c.file("web.yaml", webYAML))

	addReplicaSet := func(revision, hash string) {
		t.Helper()
		d, err := deployments.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		template := *d.Spec.Template.DeepCopy()
		template.Labels["pod-template-hash"] = hash
		rs := &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{
				Name: "web-" + hash, Namespace: "default",
				Labels:          template.Labels,
				Annotations:     map[string]string{"deployment.kubernetes.io/revision": revision},
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))},
			},
			Spec: appsv1.ReplicaSetSpec{
				Replicas: d.Spec.Replicas,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "pod-template-hash": hash}},
				Template: template,
			},
		}
		if _, err := c.client.AppsV1().ReplicaSets("default").Create(ctx, rs, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if d.Annotations == nil {
			d.Annotations = map[string]string{}
		}
		d.Annotations["deployment.kubernetes.io/revision"] = revision
		if _, err := deployments.Update(ctx, d, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	image := func() string {
		t.Helper()
		d, err := deployments.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d.Spec.Template.Spec.Containers[0].Image
	}

	addReplicaSet("1", "aaaa")
	wantLines(t, c.ctl("set", "image", "deployment/web", "echo=minik8s/echo:v2"), "deployment.apps/web image updated")
	if got := image(); got != "minik8s/echo:v2" {
		t.Fatalf("got image %s after set image, want minik8s/echo:v2", got)
	}
	addReplicaSet("2", "bbbb")

	out := c.ctl("rollout", "history", "deployment/web")
	if !strings.Contains(out, "REVISION") || !strings.Contains(out, "1 ") || !strings.Contains(out, "2 ") {
		t.Errorf("rollout history: got\n%s\nwant revisions 1 and 2", out)
	}
	if out := c.ctl("rollout", "history", "deployment/web", "--revision=1"); !strings.Contains(out, "minik8s/echo:latest") {
		t.Errorf("rollout history --revision=1: got\n%s\nwant the first image", out)
	}

	wantLines(t, c.ctl("rollout", "undo", "deployment/web", "--to-revision=1"), "deployment.apps/web rolled back")
	if got := image(); got != "minik8s/echo:latest" {
		t.Errorf("got image %s after undo, want minik8s/echo:latest", got)
	}

	wantLines(t, c.ctl("rollout", "pause", "deployment/web"), "deployment.apps/web paused")
	if d, _ := deployments.Get(ctx, "web", metav1.GetOptions{}); !d.Spec.Paused {
		t.Errorf("deployment not paused")
	}
	wantLines(t, c.ctl("rollout", "resume", "deployment/web"), "deployment.apps/web resumed")
	wantLines(t, c.ctl("rollout", "restart", "deployment/web"), "deployment.apps/web restarted")
	d, err := deployments.Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Spec.Paused || d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] == "" {
		t.Errorf("got paused=%v, template annotations %v; want resumed and restartedAt set", d.Spec.Paused, d.Spec.Template.Annotations)
	}

	// Not yet observed: status times out and fails.
	if _, _, err := c.try("rollout", "status", "deployment/web", "--timeout=1s"); err == nil {
		t.Errorf("rollout status before the controller observed the spec: got success, want a timeout")
	}
	d.Status = appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2,
	}
	if _, err := deployments.UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	wantLines(t, c.ctl("rollout", "status", "deployment/web", "--timeout=10s"), `deployment "web" successfully rolled out`)
}
