package apiserver_test

import (
	"context"
	"strings"
	"testing"

	"minik8s/pkg/apiserver/apiservertest"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestEphemeralContainersSubresource: pods/ephemeralcontainers is served
// with upstream's strategy: ephemeral containers are added (defaulted),
// never removed nor changed, with kube-apiserver's messages; the rest of
// the pod does not change through it; a strategic merge patch (kubectl
// debug's) adds one.
func TestEphemeralContainersSubresource(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx := context.Background()
	pods := cs.CoreV1().Pods("default")
	pod, err := pods.Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "e", Labels: map[string]string{"app": "e"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	debug := corev1.EphemeralContainer{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox", Stdin: true, TTY: true},
		TargetContainerName:      "c",
	}
	pod.Spec.EphemeralContainers = []corev1.EphemeralContainer{debug}
	pod.Labels["app"] = "changed"        // not through this subresource
	pod.Spec.ActiveDeadlineSeconds = nil // nor this
	pod.Spec.Containers[0].Image = "nginx"
	got, err := pods.UpdateEphemeralContainers(ctx, "e", pod, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("adding an ephemeral container: %v", err)
	}
	if n := len(got.Spec.EphemeralContainers); n != 1 {
		t.Fatalf("got %d ephemeral containers, want 1", n)
	}
	ec := got.Spec.EphemeralContainers[0]
	if ec.TerminationMessagePolicy != corev1.TerminationMessageReadFile || ec.ImagePullPolicy != corev1.PullAlways {
		t.Errorf("got terminationMessagePolicy %q, imagePullPolicy %q, want File and Always (defaulted)", ec.TerminationMessagePolicy, ec.ImagePullPolicy)
	}
	if got.Labels["app"] != "e" || got.Spec.Containers[0].Image != "busybox" {
		t.Errorf("got label %q, image %q, want the stored e and busybox: only ephemeral containers change here", got.Labels["app"], got.Spec.Containers[0].Image)
	}

	read, err := cs.CoreV1().RESTClient().Get().Namespace("default").Resource("pods").Name("e").SubResource("ephemeralcontainers").Do(ctx).Get()
	if err != nil {
		t.Fatalf("get pods/ephemeralcontainers: %v", err)
	}
	if p, ok := read.(*corev1.Pod); !ok || len(p.Spec.EphemeralContainers) != 1 {
		t.Errorf("get pods/ephemeralcontainers: got %T %v, want the Pod with its ephemeral container", read, read)
	}

	patch := `{"spec":{"ephemeralContainers":[{"name":"debug2","image":"busybox","targetContainerName":"c","stdin":true}]}}`
	got, err = pods.Patch(ctx, "e", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "ephemeralcontainers")
	if err != nil {
		t.Fatalf("strategic merge patch: %v", err)
	}
	if n := len(got.Spec.EphemeralContainers); n != 2 {
		t.Fatalf("after the patch: got %d ephemeral containers, want 2 (merged by name)", n)
	}

	for _, tt := range []struct {
		name   string
		change func(p *corev1.Pod)
		want   string // in the 422's message
	}{
		{"remove", func(p *corev1.Pod) { p.Spec.EphemeralContainers = p.Spec.EphemeralContainers[1:] },
			`Pod "e" is invalid: spec.ephemeralContainers: Forbidden: existing ephemeral containers "debug2" may not be removed`},
		{"change", func(p *corev1.Pod) { p.Spec.EphemeralContainers[0].Image = "nginx" },
			`Pod "e" is invalid: spec.ephemeralContainers: Forbidden: existing ephemeral containers "debug2" may not be changed`},
		{"unknown target", func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{
				EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "d3", Image: "busybox", TerminationMessagePolicy: "File", ImagePullPolicy: "Always"},
				TargetContainerName:      "nope"})
		}, `spec.ephemeralContainers[2].targetContainerName: Not found: "nope"`},
		{"name of a container", func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{
				EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "c", Image: "busybox", TerminationMessagePolicy: "File", ImagePullPolicy: "Always"}})
		}, `spec.ephemeralContainers[2].name: Duplicate value: "c"`},
		{"with ports", func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{
				EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "d4", Image: "busybox", TerminationMessagePolicy: "File", ImagePullPolicy: "Always",
					Ports: []corev1.ContainerPort{{ContainerPort: 80}}}})
		}, `spec.ephemeralContainers[2].ports: Forbidden: cannot be set for an Ephemeral Container`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cur, err := pods.Get(ctx, "e", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			tt.change(cur)
			_, err = pods.UpdateEphemeralContainers(ctx, "e", cur, metav1.UpdateOptions{})
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want 422 with %q", err, tt.want)
			}
		})
	}

	// Through the pod itself, ephemeral containers do not change.
	cur, err := pods.Get(ctx, "e", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Spec.EphemeralContainers = nil
	if _, err := pods.Update(ctx, cur, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("removing ephemeral containers through an update of the pod: got %v, want 422", err)
	}
}

// TestEphemeralContainersRBAC: as upstream's bootstrap roles have it, edit
// (and so admin) does not cover pods/ephemeralcontainers; a role naming
// the subresource does.
func TestEphemeralContainersRBAC(t *testing.T) {
	s := startRBAC(t)
	ctx := context.Background()
	waitFor(t, func() bool {
		r, err := s.admin.RbacV1().ClusterRoles().Get(ctx, "edit", metav1.GetOptions{})
		return err == nil && len(r.Rules) > 0
	})
	s.create(t, nsObj("team"),
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}},
		roleBinding("team", "ed-edit", "ClusterRole", "edit", userSubject("ed")),
		role("team", "debugger", rule([]string{"update", "patch"}, "", "pods/ephemeralcontainers")),
		roleBinding("team", "dee-debugs", "Role", "debugger", userSubject("dee")),
	)
	s.settle(t)
	pod, err := s.admin.CoreV1().Pods("team").Get(ctx, "p", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}}
	_, err = s.as("ed").CoreV1().Pods("team").UpdateEphemeralContainers(ctx, "p", pod, metav1.UpdateOptions{})
	want := `pods "p" is forbidden: User "ed" cannot update resource "pods/ephemeralcontainers" in API group "" in the namespace "team"`
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), want) {
		t.Errorf("edit: got %v, want 403 %q", err, want)
	}
	if _, err := s.as("dee").CoreV1().Pods("team").UpdateEphemeralContainers(ctx, "p", pod, metav1.UpdateOptions{}); err != nil {
		t.Errorf("a role with pods/ephemeralcontainers: got %v, want allowed", err)
	}
}
