package ctl

import (
	"context"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// TestAuthCanI: `ctl auth can-i` asks the server (SelfSubjectAccessReview
// and, for --list, SelfSubjectRulesReview) for the caller, or for whom
// --as names, with kubectl's answers and exit codes.
func TestAuthCanI(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	if _, err := c.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.RbacV1().Roles("team").Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
		Rules:      []rbacv1.PolicyRule{{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.RbacV1().RoleBindings("team").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "jane"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "jane"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitAllowed(t, c.client, "jane", "team", "list", "pods")
	tests := []struct {
		args     []string
		want     string
		wantExit int
	}{
		{[]string{"auth", "can-i", "delete", "nodes"}, "yes", 0},
		{[]string{"auth", "can-i", "list", "pods", "-n", "team", "--as", "jane"}, "yes", 0},
		{[]string{"auth", "can-i", "get", "pods/p", "-n", "team", "--as", "jane"}, "yes", 0},
		{[]string{"auth", "can-i", "delete", "pods", "-n", "team", "--as", "jane"}, "no", 1},
		{[]string{"auth", "can-i", "list", "pods", "-n", "default", "--as", "jane"}, "no", 1},
		{[]string{"auth", "can-i", "get", "/version", "--as", "jane"}, "yes", 0},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, _, err := c.try(tt.args...)
			if got := strings.TrimSpace(out); got != tt.want || ExitCode(err) != tt.wantExit {
				t.Errorf("got %q exit %d (%v), want %q exit %d", got, ExitCode(err), err, tt.want, tt.wantExit)
			}
		})
	}
	t.Run("list", func(t *testing.T) {
		out := c.ctl("auth", "can-i", "--list", "-n", "team", "--as", "jane")
		if !strings.Contains(out, "pods ") || !strings.Contains(out, "[get list]") {
			t.Errorf("got\n%s\nwant a pods line with [get list]", out)
		}
	})
}

// TestAuthWhoAmI: `ctl auth whoami` shows whom the server takes the
// caller for.
func TestAuthWhoAmI(t *testing.T) {
	c := startCluster(t)
	out := c.ctl("auth", "whoami", "--as", "jane", "--as-group", "devs")
	for _, want := range []string{"Username    jane", "Groups      [devs system:authenticated]"} {
		if !strings.Contains(out, want) {
			t.Errorf("got\n%s\nwant a line %q", out, want)
		}
	}
	out = c.ctl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
	if out != "kubernetes-admin" {
		t.Errorf("got %q, want kubernetes-admin (the kubeconfig's client certificate)", out)
	}
}

// TestAuthReconcile: `ctl auth reconcile` creates RBAC objects, adds what
// is missing to existing ones, and says so as kubectl does.
func TestAuthReconcile(t *testing.T) {
	c := startCluster(t)
	f := c.file("rbac.yaml", `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: widget-reader}
rules:
- {apiGroups: [""], resources: [configmaps], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: widget-readers}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: widget-reader}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: jane}
`)
	wantLines(t, c.ctl("auth", "reconcile", "-f", f),
		"clusterrole.rbac.authorization.k8s.io/widget-reader reconciled",
		"clusterrolebinding.rbac.authorization.k8s.io/widget-readers reconciled")
	waitAllowed(t, c.client, "jane", "default", "get", "configmaps")
	out, _, err := c.try("auth", "can-i", "get", "configmaps", "--as", "jane", "-n", "default")
	if strings.TrimSpace(out) != "yes" || err != nil {
		t.Errorf("can-i after reconcile: got %q (%v), want yes", out, err)
	}
}

// waitAllowed polls a SubjectAccessReview until user may: the server's
// RBAC informers see a new binding a moment after its write.
func waitAllowed(t *testing.T, cs kubernetes.Interface, user, ns, verb, resource string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		r, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user, ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: verb, Resource: resource}}}, metav1.CreateOptions{})
		return err == nil && r.Status.Allowed, nil
	})
	if err != nil {
		t.Fatalf("%s never allowed to %s %s in %s: %v", user, verb, resource, ns, err)
	}
}
