//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestRBACOnTheLab: the lab's controller-manager aggregates view; a user
// bound to view in one namespace reads there and is refused writes with
// upstream's message; a ClusterRole labelled aggregate-to-view extends
// what view grants.
func TestRBACOnTheLab(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	eventually(t, 30*time.Second, "view aggregated by the controller-manager", func() error {
		r, err := cs.RbacV1().ClusterRoles().Get(ctx, "view", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(r.Rules) == 0 {
			return fmt.Errorf("view has no rules")
		}
		return nil
	})
	if out, err := ctl("create", "rolebinding", "jane-view", "--clusterrole=view", "--user=jane", "-n", ns); err != nil {
		t.Fatalf("create rolebinding: %v: %s", err, out)
	}
	eventually(t, 10*time.Second, "jane may list pods", func() error {
		out, err := ctl("auth", "can-i", "list", "pods", "-n", ns, "--as", "jane")
		if err != nil || strings.TrimSpace(out) != "yes" {
			return fmt.Errorf("can-i: %v: %q", err, out)
		}
		return nil
	})
	if out, err := ctl("get", "pods", "-n", ns, "--as", "jane"); err != nil {
		t.Errorf("get pods as jane: %v: %s", err, out)
	}
	out, err := ctl("run", "web", "-n", ns, "--image=minik8s/echo", "--as", "jane")
	want := fmt.Sprintf(`pods is forbidden: User "jane" cannot create resource "pods" in API group "" in the namespace %q`, ns)
	if err == nil || !strings.Contains(out, want) {
		t.Errorf("run as jane: got %v: %q, want the error %q", err, out, want)
	}
	if out, err := ctl("auth", "can-i", "list", "pods", "-n", "default", "--as", "jane"); err == nil || strings.TrimSpace(out) != "no" {
		t.Errorf("can-i in another namespace: got %v: %q, want no", err, out)
	}

	name := "e2e-secrets-to-view"
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
		Rules:      []rbacv1.PolicyRule{{Verbs: []string{"list"}, APIGroups: []string{""}, Resources: []string{"secrets"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.RbacV1().ClusterRoles().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	eventually(t, 30*time.Second, "view extended by an aggregate-to-view role", func() error {
		out, err := ctl("auth", "can-i", "list", "secrets", "-n", ns, "--as", "jane")
		if err != nil || strings.TrimSpace(out) != "yes" {
			return fmt.Errorf("can-i: %v: %q", err, out)
		}
		return nil
	})
}
