package apiserver

import (
	"context"

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
