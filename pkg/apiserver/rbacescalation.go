package apiserver

import (
	"context"
	"errors"

	"minik8s/pkg/api"
	"minik8s/pkg/storage"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/kubernetes/pkg/apis/rbac"
	rbacregistry "k8s.io/kubernetes/pkg/registry/rbac"
	rbacregistryvalidation "k8s.io/kubernetes/pkg/registry/rbac/validation"
)

// rbacEscalation is the escalation prevention of upstream's policybased
// RBAC storage (pkg/registry/rbac/*/policybased): a Role or ClusterRole
// may hold only rules its writer holds, unless the writer may `escalate`
// it; a binding may grant only a role whose rules its writer holds,
// unless the writer may `bind` it; an aggregationRule needs
// cluster-admin's rights. system:masters may do anything. The refusals
// are upstream's 403s and messages.
type rbacEscalation struct{ s *Server }

var rbacWrites = map[schema.GroupResource]bool{
	rbacv1.Resource("roles"):               true,
	rbacv1.Resource("clusterroles"):        true,
	rbacv1.Resource("rolebindings"):        true,
	rbacv1.Resource("clusterrolebindings"): true,
}

func (rbacEscalation) handles(gr schema.GroupResource) bool { return rbacWrites[gr] }

// fullAuthority is what an aggregationRule needs, as upstream's
// clusterrole policybased storage says.
var fullAuthority = []rbacv1.PolicyRule{
	{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}},
	{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}},
}

func (e rbacEscalation) admitCreate(k *call, obj runtime.Object) (func(), error) {
	return nil, e.check(k, obj, nil)
}

func (e rbacEscalation) admitUpdate(k *call, obj, cur runtime.Object) error {
	return e.check(k, obj, cur)
}

// check refuses obj (cur: the stored object on update, nil on create)
// when its writer would gain rights through it.
func (e rbacEscalation) check(k *call, obj, cur runtime.Object) error {
	ctx := request.WithNamespace(k.ctx(), k.ns)
	if _, ok := request.UserFrom(ctx); !ok {
		// The server's own writes (internalCall) carry no user.
		return nil
	}
	if rbacregistry.EscalationAllowed(ctx) {
		return nil
	}
	if cur != nil && rbacregistry.IsOnlyMutatingGCFields(obj, cur, equality.Semantic) {
		return nil
	}
	gr := k.gr()
	rules := e.s.escalation
	switch o := obj.(type) {
	case *rbacv1.Role:
		if rbacregistry.RoleEscalationAuthorized(ctx, e.s.authorizer) {
			return nil
		}
		return forbidden(gr, o.Name, rbacregistryvalidation.ConfirmNoEscalation(ctx, rules, o.Rules))
	case *rbacv1.ClusterRole:
		if rbacregistry.RoleEscalationAuthorized(ctx, e.s.authorizer) {
			return nil
		}
		if err := rbacregistryvalidation.ConfirmNoEscalation(ctx, rules, o.Rules); err != nil {
			return forbidden(gr, o.Name, err)
		}
		aggregated := hasAggregationRule(o)
		if old, ok := cur.(*rbacv1.ClusterRole); ok && hasAggregationRule(old) {
			aggregated = true
		}
		if aggregated {
			if err := rbacregistryvalidation.ConfirmNoEscalation(ctx, rules, fullAuthority); err != nil {
				return forbidden(gr, o.Name, errors.New("must have cluster-admin privileges to use the aggregationRule"))
			}
		}
		return nil
	case *rbacv1.RoleBinding:
		return e.checkBinding(ctx, gr, o.Name, o.RoleRef, k.ns)
	case *rbacv1.ClusterRoleBinding:
		return e.checkBinding(ctx, gr, o.Name, o.RoleRef, "")
	}
	return nil
}

// checkBinding lets a binding be written by who may `bind` its role or
// already holds the role's rules (upstream's rolebinding and
// clusterrolebinding policybased storage).
func (e rbacEscalation) checkBinding(ctx context.Context, gr schema.GroupResource, name string, ref rbacv1.RoleRef, ns string) error {
	internalRef := rbac.RoleRef{APIGroup: ref.APIGroup, Kind: ref.Kind, Name: ref.Name}
	if rbacregistry.BindingAuthorized(ctx, internalRef, ns, e.s.authorizer) {
		return nil
	}
	rules, err := e.s.escalation.GetRoleReferenceRules(ctx, ref, ns)
	if err != nil {
		return err
	}
	return forbidden(gr, name, rbacregistryvalidation.ConfirmNoEscalation(ctx, e.s.escalation, rules))
}

func forbidden(gr schema.GroupResource, name string, err error) error {
	if err == nil {
		return nil
	}
	return apierrors.NewForbidden(gr, name, err)
}

func hasAggregationRule(r *rbacv1.ClusterRole) bool {
	return r.AggregationRule != nil && len(r.AggregationRule.ClusterRoleSelectors) > 0
}

// storedPolicy reads roles and bindings from storage, as upstream's
// escalation checks read them from the registries: a role written just
// before its binding is found even while the informers lag.
type storedPolicy struct{ s *Server }

func (p storedPolicy) read(ctx context.Context, plural, ns, name string, out runtime.Object) error {
	r, _ := api.Lookup(rbacv1.GroupName, "v1", plural)
	return storageError(r, name, p.s.store.Get(ctx, storage.Key(r.StorageName(), ns, name), out))
}

func (p storedPolicy) list(ctx context.Context, plural, ns string, item func() runtime.Object) ([]runtime.Object, error) {
	r, _ := api.Lookup(rbacv1.GroupName, "v1", plural)
	l, err := p.s.store.List(ctx, storage.Prefix(r.StorageName(), ns), item, storage.ListOptions{})
	if err != nil {
		return nil, storageError(r, "", err)
	}
	return l.Items, nil
}

func (p storedPolicy) GetRole(ctx context.Context, ns, name string) (*rbacv1.Role, error) {
	var out rbacv1.Role
	return &out, p.read(ctx, "roles", ns, name, &out)
}

func (p storedPolicy) GetClusterRole(ctx context.Context, name string) (*rbacv1.ClusterRole, error) {
	var out rbacv1.ClusterRole
	return &out, p.read(ctx, "clusterroles", "", name, &out)
}

func (p storedPolicy) ListRoleBindings(ctx context.Context, ns string) ([]*rbacv1.RoleBinding, error) {
	items, err := p.list(ctx, "rolebindings", ns, func() runtime.Object { return &rbacv1.RoleBinding{} })
	out := make([]*rbacv1.RoleBinding, len(items))
	for i, o := range items {
		out[i] = o.(*rbacv1.RoleBinding)
	}
	return out, err
}

func (p storedPolicy) ListClusterRoleBindings(ctx context.Context) ([]*rbacv1.ClusterRoleBinding, error) {
	items, err := p.list(ctx, "clusterrolebindings", "", func() runtime.Object { return &rbacv1.ClusterRoleBinding{} })
	out := make([]*rbacv1.ClusterRoleBinding, len(items))
	for i, o := range items {
		out[i] = o.(*rbacv1.ClusterRoleBinding)
	}
	return out, err
}

func (p storedPolicy) resolver() *rbacregistryvalidation.DefaultRuleResolver {
	return rbacregistryvalidation.NewDefaultRuleResolver(p, p, p, p)
}
