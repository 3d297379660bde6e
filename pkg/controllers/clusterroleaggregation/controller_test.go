package clusterroleaggregation

import (
	"context"
	"encoding/json"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func role(name string, labels map[string]string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Rules: rules}
}

func aggregated(name string, match map[string]string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
	r := role(name, nil, rules...)
	r.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: match}}}
	return r
}

func rule(verb, resource string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: []string{verb}, APIGroups: []string{""}, Resources: []string{resource}}
}

var toView = map[string]string{"aggregate-to-view": "true"}

func TestSync(t *testing.T) {
	tests := []struct {
		name    string
		objs    []runtime.Object
		sync    string
		want    []rbacv1.PolicyRule // nil: no apply sent
		wantAny bool
	}{
		{
			name: "rules of the matched roles, in name order, without duplicates",
			objs: []runtime.Object{
				aggregated("view", toView),
				role("b-pods", toView, rule("get", "pods"), rule("list", "pods")),
				role("a-svc", toView, rule("get", "services"), rule("get", "pods")),
				role("other", nil, rule("delete", "pods")),
			},
			sync:    "view",
			want:    []rbacv1.PolicyRule{rule("get", "services"), rule("get", "pods"), rule("list", "pods")},
			wantAny: true,
		},
		{
			name:    "rules removed when nothing matches any more",
			objs:    []runtime.Object{aggregated("view", toView, rule("get", "pods"))},
			sync:    "view",
			want:    []rbacv1.PolicyRule{},
			wantAny: true,
		},
		{
			name: "up to date: no write",
			objs: []runtime.Object{
				aggregated("view", toView, rule("get", "pods")),
				role("pods", toView, rule("get", "pods")),
			},
			sync: "view",
		},
		{
			name: "a role without aggregationRule is left alone",
			objs: []runtime.Object{role("plain", toView, rule("get", "pods"))},
			sync: "plain",
		},
		{name: "gone", sync: "view"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset(tt.objs...)
			factory := informers.NewSharedInformerFactory(client, 0)
			c := New(client.RbacV1(), factory)
			for _, o := range tt.objs {
				if err := factory.Rbac().V1().ClusterRoles().Informer().GetIndexer().Add(o); err != nil {
					t.Fatal(err)
				}
			}
			client.ClearActions()
			if err := c.sync(context.Background(), tt.sync); err != nil {
				t.Fatalf("sync: %v", err)
			}
			var applied []k8stesting.PatchAction
			for _, a := range client.Actions() {
				if p, ok := a.(k8stesting.PatchAction); ok {
					applied = append(applied, p)
				}
			}
			if !tt.wantAny {
				if len(applied) != 0 {
					t.Fatalf("got %d applies, want none", len(applied))
				}
				return
			}
			if len(applied) != 1 {
				t.Fatalf("got %d applies, want 1", len(applied))
			}
			// What was applied, as the server would read it.
			var got rbacv1.ClusterRole
			if err := json.Unmarshal(applied[0].GetPatch(), &got); err != nil {
				t.Fatalf("decoding the apply: %v", err)
			}
			if applied[0].GetPatchType() != types.ApplyPatchType || got.Name != tt.sync {
				t.Errorf("got a %s patch of %q, want an apply of %q", applied[0].GetPatchType(), got.Name, tt.sync)
			}
			if len(got.Rules) != len(tt.want) || (len(tt.want) > 0 && !equality.Semantic.DeepEqual(got.Rules, tt.want)) {
				t.Errorf("got rules %v, want %v", got.Rules, tt.want)
			}
		})
	}
}
