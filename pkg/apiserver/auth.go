package apiserver

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"

	"minik8s/pkg/api"

	"k8s.io/apimachinery/pkg/util/uuid"
	apiserverapi "k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/group"
	"k8s.io/apiserver/pkg/authentication/request/anonymous"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	"k8s.io/apiserver/pkg/authentication/request/union"
	"k8s.io/apiserver/pkg/authentication/token/tokenfile"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	authorizerunion "k8s.io/apiserver/pkg/authorization/union"
	genericfilters "k8s.io/apiserver/pkg/endpoints/filters"
	"k8s.io/apiserver/pkg/endpoints/filters/impersonation"
)

// The request path is kube-apiserver's: the audit context, the request's
// info, who sent it (authentication, a failure audited), the audit event
// of who it was (impersonation and authorization are inside it, so a 403
// is logged), whom it acts as (impersonation), whether that one may
// (authorization), then the API's own handlers. The filters are
// k8s.io/apiserver's, so the 401s, 403s, their messages and the audit
// events are upstream's.
func (s *Server) handler() http.Handler {
	sink, policy := s.audit.sinkAndPolicy()
	h := http.Handler(s.engine)
	h = genericfilters.WithAuthorization(h, s.authorizer, api.Codecs)
	h = impersonation.WithImpersonation(h, s.authorizer, api.Codecs)
	h = genericfilters.WithAudit(h, sink, policy, longRunning)
	failed := http.Handler(http.HandlerFunc(s.unauthorized))
	failed = genericfilters.WithFailedAuthenticationAudit(failed, sink, policy)
	h = genericfilters.WithAuthentication(h, s.authenticator, failed, nil, nil)
	h = genericfilters.WithRequestInfo(h, s.infos)
	h = genericfilters.WithRequestReceivedTimestamp(h)
	h = genericfilters.WithAuditInit(h)
	return h
}

func (s *Server) unauthorized(w http.ResponseWriter, req *http.Request) {
	genericfilters.Unauthorized(api.Codecs).ServeHTTP(w, req)
}

// Anonymous requests may read only what system:public-info-viewer
// allows; elsewhere they are 401, as with kube-apiserver's anonymous
// authentication limited to those paths.
var publicInfoPaths = []string{"/healthz", "/livez", "/readyz", "/version", "/version/"}

// authenticators builds the authentication chain: the loopback token
// first, then the credentials requests carry (extra: client
// certificates, ServiceAccount and bootstrap tokens), then, on a
// plain-HTTP listener only,
// everyone as an unsecured admin (what --insecure-listen means), and
// last anonymous for the public paths.
func (s *Server) authenticators(extra ...authenticator.Request) authenticator.Request {
	loopbackUser := &user.DefaultInfo{
		Name:   user.APIServerUser,
		UID:    string(uuid.NewUUID()),
		Groups: []string{user.SystemPrivilegedGroup},
	}
	chain := []authenticator.Request{bearertoken.New(tokenfile.New(map[string]*user.DefaultInfo{s.loopbackToken: loopbackUser}))}
	for _, a := range extra {
		if a != nil {
			chain = append(chain, a)
		}
	}
	// Credentials that fail every authenticator are a 401 even on plain
	// HTTP: the unsecured admin is only for requests that carry none.
	creds := union.NewFailOnError(union.New(chain...), insecure{})
	var conds []apiserverapi.AnonymousAuthCondition
	for _, p := range publicInfoPaths {
		conds = append(conds, apiserverapi.AnonymousAuthCondition{Path: p})
	}
	return union.New(group.NewAuthenticatedGroupAdder(creds), anonymous.NewAuthenticator(conds))
}

// insecure makes a request that came over plain HTTP an admin's,
// as kube-apiserver's old insecure port did: plain HTTP is for
// loopback-only setups that say so (--insecure-listen).
type insecure struct{}

func (insecure) AuthenticateRequest(req *http.Request) (*authenticator.Response, bool, error) {
	if req.TLS != nil {
		return nil, false, nil
	}
	return &authenticator.Response{User: &user.DefaultInfo{
		Name:   "system:unsecured",
		Groups: []string{user.SystemPrivilegedGroup},
	}}, true, nil
}

// authorizers builds the authorization chain: system:masters may do
// anything; then the given authorizers in order (the first to allow or
// deny decides).
func authorizers(extra ...authorizerunion.NamedAuthorizer) (authorizer.Authorizer, error) {
	chain := []authorizerunion.NamedAuthorizer{{AuthorizerName: "privileged", Authorizer: authorizerfactory.NewPrivilegedGroups(user.SystemPrivilegedGroup)}}
	return authorizerunion.New(append(chain, extra...)...)
}

var errNoUser = errors.New("the request has no user: the authentication filter did not run")

func newLoopbackToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}
