package apiserver

import "k8s.io/apiserver/pkg/authorization/authorizer"

// NodeAuthorizer is the Node authorizer alone, for tests that check its
// decisions apart from the rest of the chain.
func (s *Server) NodeAuthorizer() authorizer.Authorizer { return s.nodeAuthorizer }
