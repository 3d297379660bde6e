package apiserver

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	authorizerunion "k8s.io/apiserver/pkg/authorization/union"
)

// authorizationModes are kube-apiserver's --authorization-mode list
// after the system:masters short cut: the first to allow or deny
// decides. The Node authorizer goes before RBAC, as upstream orders them.
func (s *Server) authorizationModes() []authorizerunion.NamedAuthorizer {
	return []authorizerunion.NamedAuthorizer{
		{AuthorizerName: "Node", Authorizer: s.nodeAuthorizer},
		{AuthorizerName: "RBAC", Authorizer: s.rbac},
	}
}

// ruleResolvers are the modes' rule resolvers, in the same order, for
// SelfSubjectRulesReview.
func ruleResolvers(modes []authorizerunion.NamedAuthorizer) authorizer.RuleResolver {
	var out []authorizer.RuleResolver
	for _, m := range modes {
		if r, ok := m.Authorizer.(authorizer.RuleResolver); ok {
			out = append(out, r)
		}
	}
	return authorizerunion.NewRuleResolvers(out...)
}

// untilSynced holds decisions back until the policy's informers have
// their first listing, so that no request is refused for want of a
// cache in the moments after a start: the listeners serve before the
// bootstrap policy is reconciled and the informers filled (the
// reconciliation itself goes through them as system:masters, which
// never reaches RBAC).
type untilSynced struct {
	synced <-chan struct{}
	authz  interface {
		authorizer.Authorizer
		authorizer.RuleResolver
	}
}

var errPolicyNotLoaded = errors.New("the RBAC policy is not loaded yet")

func (u untilSynced) wait(ctx context.Context) error {
	select {
	case <-u.synced:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", errPolicyNotLoaded, ctx.Err())
	}
}

func (u untilSynced) Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	if err := u.wait(ctx); err != nil {
		return authorizer.DecisionNoOpinion, "", err
	}
	return u.authz.Authorize(ctx, a)
}

// ConditionsAwareAuthorize: RBAC has no conditions.
func (u untilSynced) ConditionsAwareAuthorize(ctx context.Context, a authorizer.Attributes) authorizer.ConditionsAwareDecision {
	return authorizer.ConditionsAwareDecisionFromParts(u.Authorize(ctx, a))
}

func (u untilSynced) EvaluateConditions(ctx context.Context, d authorizer.ConditionsAwareDecision, data authorizer.ConditionsData) (authorizer.Decision, string, error) {
	return u.authz.EvaluateConditions(ctx, d, data)
}

func (u untilSynced) RulesFor(ctx context.Context, user user.Info, namespace string) ([]authorizer.ResourceRuleInfo, []authorizer.NonResourceRuleInfo, bool, error) {
	if err := u.wait(ctx); err != nil {
		return nil, nil, true, err
	}
	return u.authz.RulesFor(ctx, user, namespace)
}
