//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestInClusterClient: a client-go program in a pod (testdata/incluster,
// rest.InClusterConfig) reaches the API through the kubernetes Service
// with its ServiceAccount's token and CA bundle, and lists its
// namespace's pods when a RoleBinding lets its ServiceAccount, and gets
// Kubernetes' 403 when none does.
func TestInClusterClient(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	// The program reaches the pods through a hostPath: the lab's nodes
	// share this machine's filesystem.
	dir := t.TempDir()
	bin := filepath.Join(dir, "incluster")
	build := exec.Command("go", "build", "-o", bin, "./testdata/incluster")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building testdata/incluster: %v\n%s", err, out)
	}
	for _, name := range []string{"reader", "nobody"} {
		if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "reader"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "reader", Namespace: ns}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	file := corev1.HostPathFile
	for _, tt := range []struct {
		sa, node string
		phase    corev1.PodPhase
		want     string
	}{
		{"reader", "node1", corev1.PodSucceeded, "listed "},
		{"nobody", "node2", corev1.PodFailed, `pods is forbidden: User "system:serviceaccount:` + ns + `:nobody" cannot list resource "pods" in API group "" in the namespace "` + ns + `"`},
	} {
		pod := toolboxPod(tt.sa, tt.node, "/incluster", corev1.RestartPolicyNever)
		pod.Spec.ServiceAccountName = tt.sa
		pod.Spec.Containers[0].Command = []string{"/incluster"}
		pod.Spec.Volumes = []corev1.Volume{{Name: "bin", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: bin, Type: &file}}}}
		pod.Spec.Containers[0].VolumeMounts = append(pod.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "bin", MountPath: "/incluster", ReadOnly: true})
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var phase corev1.PodPhase
		eventually(t, 90*time.Second, "pod "+tt.sa+" done", func() error {
			p, err := cs.CoreV1().Pods(ns).Get(ctx, tt.sa, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if phase = p.Status.Phase; phase != corev1.PodSucceeded && phase != corev1.PodFailed {
				return fmt.Errorf("phase %s", phase)
			}
			return nil
		})
		out, err := podLogs(ns, tt.sa, "toolbox")
		if err != nil {
			t.Fatal(err)
		}
		if phase != tt.phase || !strings.Contains(out, tt.want) {
			t.Errorf("pod of %s: got %s with log %q, want %s with %q in it", tt.sa, phase, out, tt.phase, tt.want)
		}
	}
}
