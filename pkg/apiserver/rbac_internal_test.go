package apiserver

import (
	"context"
	"errors"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	rbacregistryvalidation "k8s.io/kubernetes/pkg/registry/rbac/validation"
	"k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac"
)

// TestUntilSynced: before the policy is loaded a decision waits (and
// gives up with the request), after it the RBAC authorizer decides.
func TestUntilSynced(t *testing.T) {
	_, static := rbacregistryvalidation.NewTestRuleResolver(
		[]*rbacv1.Role{{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "reader"}, Rules: []rbacv1.PolicyRule{{Verbs: []string{"list"}, APIGroups: []string{""}, Resources: []string{"pods"}}}}},
		[]*rbacv1.RoleBinding{{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "jane"}, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "reader"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "jane"}}}},
		nil, nil)
	synced := make(chan struct{})
	u := untilSynced{synced: synced, authz: rbac.New(static, static, static, static)}
	attrs := authorizer.AttributesRecord{User: &user.DefaultInfo{Name: "jane"}, Verb: "list", Namespace: "team", Resource: "pods", ResourceRequest: true}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d, _, err := u.Authorize(ctx, attrs)
	if d != authorizer.DecisionNoOpinion || !errors.Is(err, errPolicyNotLoaded) {
		t.Errorf("before the policy is loaded: got %v, %v; want no opinion, %v", d, err, errPolicyNotLoaded)
	}
	close(synced)
	if d, reason, err := u.Authorize(context.Background(), attrs); d != authorizer.DecisionAllow || err != nil {
		t.Errorf("once loaded: got %v %q %v, want allowed", d, reason, err)
	}
}
