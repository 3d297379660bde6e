package apiserver

import (
	"context"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"
)

// NodeAuthorizer is the Node authorizer alone, for tests that check its
// decisions apart from the rest of the chain.
func (s *Server) NodeAuthorizer() authorizer.Authorizer { return s.nodeAuthorizer }

// AdmitSubresourceCreate runs the admission chain's subresource create
// hooks as u for a create of ns/name's sub (of core/v1 plural), as the
// handler of that subresource does.
func (s *Server) AdmitSubresourceCreate(ctx context.Context, u user.Info, plural, ns, name, sub string, obj runtime.Object) error {
	k, err := internalCall(request.WithUser(ctx, u), "", "v1", plural, ns, name)
	if err != nil {
		return err
	}
	k.info.Subresource = sub
	return s.admitSubresourceCreate(k, obj)
}

// NodeAgentRules are the rules nodeAgentPolicy grants nodes, in the
// namespace given ("" for the cluster-wide ones).
func NodeAgentRules(ns string) []rbacv1.PolicyRule {
	cr, _, r, _ := nodeAgentPolicy()
	if ns == r.Namespace {
		return append(append([]rbacv1.PolicyRule{}, cr.Rules...), r.Rules...)
	}
	return cr.Rules
}

// EtcdEndpoint is the client URL of the server's embedded etcd, for a
// second apiserver on the same etcd.
func (s *Server) EtcdEndpoint() string { return s.etcd.Endpoint() }
