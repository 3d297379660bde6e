package apiserver

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// NodeAuthorizer is the Node authorizer alone, for tests that check its
// decisions apart from the rest of the chain.
func (s *Server) NodeAuthorizer() authorizer.Authorizer { return s.nodeAuthorizer }

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
