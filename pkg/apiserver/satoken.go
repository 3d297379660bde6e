package apiserver

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"minik8s/pkg/storage"

	"github.com/gin-gonic/gin"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	genericfeatures "k8s.io/apiserver/pkg/features"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/apiserver/pkg/warning"
	"k8s.io/client-go/util/keyutil"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	authenticationapi "k8s.io/kubernetes/pkg/apis/authentication"
	_ "k8s.io/kubernetes/pkg/apis/authentication/install" // TokenRequest's internal version, defaults and conversions
	authenticationvalidation "k8s.io/kubernetes/pkg/apis/authentication/validation"
	core "k8s.io/kubernetes/pkg/apis/core"
	"k8s.io/kubernetes/pkg/features"
	token "k8s.io/kubernetes/pkg/serviceaccount"
)

// DefaultServiceAccountIssuer is kube-apiserver's usual issuer (kubeadm's,
// kind's): the in-cluster name of the `kubernetes` Service.
const DefaultServiceAccountIssuer = "https://kubernetes.default.svc.cluster.local"

// serviceAccounts issues and verifies ServiceAccount tokens: the JWTs of
// the serviceaccounts/token subresource (TokenRequest), signed with the
// key the server keeps, checked by the authenticator of every request.
type serviceAccounts struct {
	issuer    token.TokenGenerator
	audiences authenticator.Audiences
	// maxExpiration caps requested lifetimes (0: no cap), as
	// --service-account-max-token-expiration.
	maxExpiration int64
	// extendExpiration: pod-bound tokens asked for with the admission
	// plugin's 3607 s live a year, warning after 3607 s, as with
	// kube-apiserver's --service-account-extend-token-expiration.
	extendExpiration bool
	authenticator    authenticator.Request
	// discovery serves the issuer's OIDC discovery document and keys.
	discovery token.OpenIDMetadataProvider
}

// Key file names in <data-dir>/pki; the CA's files there are the lead's
// (ca.crt, ca.key, apiserver.crt, …).
const (
	saKeyFile = "sa.key"
	saPubFile = "sa.pub"
)

// serviceAccountKeys returns the signing key and the verification keys:
// --service-account-signing-key-file, or a 2048-bit RSA key made at first
// start in <data-dir>/pki/sa.key (sa.pub beside it) and reused after, so
// tokens outlive a restart; the verification keys are
// --service-account-key-file's, or the signing key's public half when
// none is given (as kube-apiserver defaults them).
func (c *Config) serviceAccountKeys() (crypto.Signer, []any, error) {
	path := c.ServiceAccountSigningKeyFile
	if path == "" {
		if c.DataDir == "" {
			return nil, nil, errors.New("--service-account-signing-key-file is needed when --data-dir is not set")
		}
		path = filepath.Join(c.DataDir, "pki", saKeyFile)
		if err := ensureServiceAccountKey(path, filepath.Join(c.DataDir, "pki", saPubFile)); err != nil {
			return nil, nil, err
		}
	}
	key, err := keyutil.PrivateKeyFromFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("service account signing key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("service account signing key %s: not an RSA or ECDSA private key", path)
	}
	var pubs []any
	for _, f := range c.ServiceAccountKeyFiles {
		keys, err := keyutil.PublicKeysFromFile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("--service-account-key-file %s: %w", f, err)
		}
		pubs = append(pubs, keys...)
	}
	if len(c.ServiceAccountKeyFiles) == 0 {
		pubs = []any{signer.Public()}
	}
	return signer, pubs, nil
}

// ensureServiceAccountKey makes the RSA key at keyPath (0600) and its
// public half at pubPath, unless the key is there.
func ensureServiceAccountKey(keyPath, pubPath string) error {
	if _, err := os.Stat(keyPath); err == nil {
		return nil
	} else if !os.IsNotExist(err) {
		return err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("making the service account key: %w", err)
	}
	pemKey, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	// The public half first: a crash between the two leaves no key
	// without its public file.
	if err := keyutil.WriteKey(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})); err != nil {
		return fmt.Errorf("writing %s: %w", pubPath, err)
	}
	if err := keyutil.WriteKey(keyPath, pemKey); err != nil {
		return fmt.Errorf("writing %s: %w", keyPath, err)
	}
	return nil
}

func (s *Server) newServiceAccounts() (*serviceAccounts, error) {
	signer, pubs, err := s.cfg.serviceAccountKeys()
	if err != nil {
		return nil, err
	}
	gen, err := token.JWTTokenGenerator(s.cfg.ServiceAccountIssuers[0], signer)
	if err != nil {
		return nil, fmt.Errorf("service account token generator: %w", err)
	}
	keys, err := token.StaticPublicKeysGetter(pubs)
	if err != nil {
		return nil, fmt.Errorf("service account verification keys: %w", err)
	}
	auds := authenticator.Audiences(s.cfg.APIAudiences)
	jwtAuth := token.JWTTokenAuthenticator(s.cfg.ServiceAccountIssuers, keys, auds, token.NewValidator(storeTokenGetter{s.store}))
	// The issuer's discovery is served when the issuer is an https URL
	// (as OIDC wants); otherwise it is left out with a log line, as
	// kube-apiserver does.
	_, port, _ := net.SplitHostPort(s.listeners[0].Addr().String())
	discovery, err := token.NewOpenIDMetadataProvider(s.cfg.ServiceAccountIssuers[0], s.cfg.ServiceAccountJWKSURI, net.JoinHostPort(s.cfg.AdvertiseAddress, port), keys)
	if err != nil {
		s.logf("service account issuer discovery is not served: %v", err)
	}
	return &serviceAccounts{
		discovery:        discovery,
		issuer:           gen,
		audiences:        auds,
		maxExpiration:    int64(s.cfg.ServiceAccountMaxTokenExpiration / time.Second),
		extendExpiration: s.cfg.ServiceAccountExtendTokenExpiration,
		authenticator:    bearertoken.New(jwtAuth),
	}, nil
}

// storeTokenGetter reads what a token's claims name — its ServiceAccount
// and the Pod, Secret or Node it is bound to — straight from the store, so
// a token dies with its object at once (kube-apiserver reads through its
// informers with the same fallback to a live read).
type storeTokenGetter struct{ store *storage.Store }

func getFrom[T runtime.Object](ctx context.Context, st *storage.Store, resource string, gr schema.GroupResource, ns, name string, obj T) (T, error) {
	if err := st.Get(ctx, storage.Key(resource, ns, name), obj); err != nil {
		var zero T
		if errors.Is(err, storage.ErrNotFound) {
			return zero, apierrors.NewNotFound(gr, name)
		}
		return zero, err
	}
	return obj, nil
}

func (g storeTokenGetter) GetServiceAccount(ctx context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	return getFrom(ctx, g.store, "serviceaccounts", corev1.Resource("serviceaccounts"), ns, name, &corev1.ServiceAccount{})
}

func (g storeTokenGetter) GetPod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	return getFrom(ctx, g.store, "pods", corev1.Resource("pods"), ns, name, &corev1.Pod{})
}

func (g storeTokenGetter) GetSecret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	return getFrom(ctx, g.store, "secrets", corev1.Resource("secrets"), ns, name, &corev1.Secret{})
}

func (g storeTokenGetter) GetNode(ctx context.Context, name string) (*corev1.Node, error) {
	return getFrom(ctx, g.store, "nodes", corev1.Resource("nodes"), "", name, &corev1.Node{})
}

func (g storeTokenGetter) GetValidatingWebhookConfiguration(ctx context.Context, name string) (*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	return getFrom(ctx, g.store, "validatingwebhookconfigurations", admissionregistrationv1.Resource("validatingwebhookconfigurations"), "", name, &admissionregistrationv1.ValidatingWebhookConfiguration{})
}

func (g storeTokenGetter) GetMutatingWebhookConfiguration(ctx context.Context, name string) (*admissionregistrationv1.MutatingWebhookConfiguration, error) {
	return getFrom(ctx, g.store, "mutatingwebhookconfigurations", admissionregistrationv1.Resource("mutatingwebhookconfigurations"), "", name, &admissionregistrationv1.MutatingWebhookConfiguration{})
}

var tokenRequestGK = schema.GroupKind{Group: authenticationv1.GroupName, Kind: "TokenRequest"}

// tokenRequest serves create of serviceaccounts/NAME/token: upstream's
// TokenREST.Create (pkg/registry/core/serviceaccount/storage/token.go)
// on our store — the request validated, the audiences defaulted to the
// API's, the bound Pod, Secret or Node checked by name and UID, the
// claims and the JWT made by k8s.io/kubernetes/pkg/serviceaccount.
// Tokens bound to webhook configurations are not issued.
func (s *Server) tokenRequest(k *call) {
	obj, err := s.decodeRequest(k.c, authenticationv1.SchemeGroupVersion.WithKind("TokenRequest"), func() runtime.Object { return &authenticationv1.TokenRequest{} })
	if err != nil {
		writeError(k.c, err)
		return
	}
	legacyscheme.Scheme.Default(obj)
	// Mutating admission runs before the REST create, as in
	// kube-apiserver: NodeRestriction lets a node ask only for tokens
	// bound to its own pods.
	if err := s.admitSubresourceCreate(k, obj); err != nil {
		writeError(k.c, err)
		return
	}
	req := &authenticationapi.TokenRequest{}
	if err := legacyscheme.Scheme.Convert(obj, req, nil); err != nil {
		writeError(k.c, apierrors.NewBadRequest(err.Error()))
		return
	}
	out, err := s.issueToken(k, req)
	if err != nil {
		writeError(k.c, err)
		return
	}
	v1 := &authenticationv1.TokenRequest{}
	if err := legacyscheme.Scheme.Convert(out, v1, nil); err != nil {
		writeError(k.c, apierrors.NewInternalError(err))
		return
	}
	v1.SetGroupVersionKind(authenticationv1.SchemeGroupVersion.WithKind("TokenRequest"))
	writeJSON(k.c, http.StatusCreated, v1)
}

func (s *Server) issueToken(k *call, req *authenticationapi.TokenRequest) (*authenticationapi.TokenRequest, error) {
	ctx, name, namespace := k.ctx(), k.name, k.ns
	if len(req.Name) > 0 && req.Name != name {
		return nil, apierrors.NewInvalid(tokenRequestGK, name, field.ErrorList{field.Invalid(field.NewPath("metadata").Child("name"), req.Name, "must match the service account name if specified")})
	}
	if len(req.Namespace) > 0 && req.Namespace != namespace {
		return nil, apierrors.NewInvalid(tokenRequestGK, name, field.ErrorList{field.Invalid(field.NewPath("metadata").Child("namespace"), req.Namespace, "must match the service account namespace if specified")})
	}
	getter := storeTokenGetter{s.store}
	svcacct, err := getter.GetServiceAccount(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	if len(req.UID) > 0 && req.UID != svcacct.UID {
		if utilfeature.DefaultFeatureGate.Enabled(genericfeatures.TokenRequestServiceAccountUIDValidation) {
			return nil, apierrors.NewConflict(schema.GroupResource{Group: tokenRequestGK.Group, Resource: tokenRequestGK.Kind}, name, fmt.Errorf("the UID in the token request (%s) does not match the UID of the service account (%s)", req.UID, svcacct.UID))
		}
		warning.AddWarning(ctx, "", fmt.Sprintf("the UID in the token request (%s) does not match the UID of the service account (%s) but TokenRequestServiceAccountUIDValidation is not enabled. In the future, this will return a conflict error", req.UID, svcacct.UID))
	}
	if len(req.Spec.Audiences) == 0 {
		req.Spec.Audiences = s.serviceAccounts.audiences
	}
	if len(req.Name) == 0 {
		req.Name = svcacct.Name
	}
	if len(req.Namespace) == 0 {
		req.Namespace = svcacct.Namespace
	}
	if len(req.UID) == 0 {
		req.UID = svcacct.UID
	}
	// The time before the token: the expiration returned is never later
	// than the token's exp.
	nowTime := time.Now()
	req.CreationTimestamp = metav1.NewTime(nowTime)
	req.Status = authenticationapi.TokenRequestStatus{}
	if errs := authenticationvalidation.ValidateTokenRequest(req); len(errs) != 0 {
		return nil, apierrors.NewInvalid(tokenRequestGK, "", errs)
	}
	var (
		pod    *core.Pod
		node   *core.Node
		secret *core.Secret
	)
	if ref := req.Spec.BoundObjectRef; ref != nil {
		var uid types.UID
		gvk := schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind)
		switch {
		case gvk.Group == "" && gvk.Kind == "Pod":
			p, err := getter.GetPod(ctx, namespace, ref.Name)
			if err != nil {
				return nil, err
			}
			if pod, err = toInternal[core.Pod](p); err != nil {
				return nil, err
			}
			if name != pod.Spec.ServiceAccountName {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("cannot bind token for serviceaccount %q to pod running with different serviceaccount name.", name))
			}
			uid = pod.UID
			if utilfeature.DefaultFeatureGate.Enabled(features.ServiceAccountTokenPodNodeInfo) && pod.Spec.NodeName != "" {
				// A Node that is gone still names the pod's node in
				// the claims, without its UID, as upstream.
				n, err := getter.GetNode(ctx, pod.Spec.NodeName)
				switch {
				case apierrors.IsNotFound(err):
					node = &core.Node{ObjectMeta: metav1.ObjectMeta{Name: pod.Spec.NodeName}}
				case err != nil:
					return nil, apierrors.NewInternalError(err)
				default:
					if node, err = toInternal[core.Node](n); err != nil {
						return nil, err
					}
				}
			}
		case gvk.Group == "" && gvk.Kind == "Node":
			if !utilfeature.DefaultFeatureGate.Enabled(features.ServiceAccountTokenNodeBinding) {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("cannot bind token to a Node object as the %q feature-gate is disabled", features.ServiceAccountTokenNodeBinding))
			}
			n, err := getter.GetNode(ctx, ref.Name)
			if err != nil {
				return nil, err
			}
			if node, err = toInternal[core.Node](n); err != nil {
				return nil, err
			}
			uid = node.UID
		case gvk.Group == "" && gvk.Kind == "Secret":
			sec, err := getter.GetSecret(ctx, namespace, ref.Name)
			if err != nil {
				return nil, err
			}
			if secret, err = toInternal[core.Secret](sec); err != nil {
				return nil, err
			}
			uid = secret.UID
		default:
			return nil, apierrors.NewBadRequest(fmt.Sprintf("cannot bind token to object of type %s", gvk.String()))
		}
		if ref.UID != "" && uid != ref.UID {
			return nil, apierrors.NewConflict(schema.GroupResource{Group: gvk.Group, Resource: gvk.Kind}, ref.Name, fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
		}
	}
	sa := s.serviceAccounts
	if sa.maxExpiration > 0 && req.Spec.ExpirationSeconds > sa.maxExpiration {
		warning.AddWarning(ctx, "", fmt.Sprintf("requested expiration of %d seconds shortened to %d seconds", req.Spec.ExpirationSeconds, sa.maxExpiration))
		req.Spec.ExpirationSeconds = sa.maxExpiration
	}
	var warnAfter int64
	exp := req.Spec.ExpirationSeconds
	if sa.extendExpiration && pod != nil && exp == token.WarnOnlyBoundTokenExpirationSeconds && sets.New(sa.audiences...).HasAll(req.Spec.Audiences...) {
		warnAfter = exp
		exp = token.ExpirationExtensionSeconds
	}
	internalSA, err := toInternal[core.ServiceAccount](svcacct)
	if err != nil {
		return nil, err
	}
	sc, pc, err := token.Claims(*internalSA, pod, secret, node, nil, nil, exp, warnAfter, req.Spec.Audiences, nil)
	if err != nil {
		return nil, err
	}
	tokdata, err := sa.issuer.GenerateToken(ctx, sc, pc)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("failed to generate token: %v", err))
	}
	out := req.DeepCopy()
	out.Status = authenticationapi.TokenRequestStatus{
		Token:               tokdata,
		ExpirationTimestamp: metav1.Time{Time: nowTime.Add(time.Duration(out.Spec.ExpirationSeconds) * time.Second)},
	}
	return out, nil
}

// toInternal converts a v1 object to Kubernetes' internal type T, the
// form upstream's claims code takes.
func toInternal[T any, PT interface {
	*T
	runtime.Object
}](obj runtime.Object) (*T, error) {
	out := PT(new(T))
	if err := legacyscheme.Scheme.Convert(obj, out, nil); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return out, nil
}

// tokenReview answers a TokenReview (authentication.k8s.io/v1) as
// kube-apiserver's TokenReview REST does: the token alone is
// authenticated for the audiences asked (the API's when none), and the
// answer says whether it passed and as whom. The authenticators asked are
// the bearer-token ones of the chain (the ServiceAccount JWTs).
func (s *Server) tokenReview(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
	tr := obj.(*authenticationv1.TokenReview)
	if len(tr.Spec.Token) == 0 {
		return nil, apierrors.NewBadRequest("token is required for TokenReview in authentication")
	}
	fakeReq := (&http.Request{Header: http.Header{}}).WithContext(ctx)
	fakeReq.Header.Add("Authorization", "Bearer "+tr.Spec.Token)
	auds := tr.Spec.Audiences
	if len(auds) == 0 {
		auds = s.serviceAccounts.audiences
	}
	if len(auds) > 0 {
		fakeReq = fakeReq.WithContext(authenticator.WithAudiences(fakeReq.Context(), auds))
	}
	resp, ok, err := s.tokenAuthenticator.AuthenticateRequest(fakeReq)
	tr.Status = authenticationv1.TokenReviewStatus{Authenticated: ok}
	if err != nil {
		tr.Status.Error = err.Error()
	}
	if len(auds) > 0 && resp != nil && len(authenticator.Audiences(auds).Intersect(resp.Audiences)) == 0 {
		return nil, apierrors.NewInternalError(errors.New("error validating audience"))
	}
	if resp != nil && resp.User != nil {
		u := resp.User
		tr.Status.User = authenticationv1.UserInfo{Username: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups(), Extra: map[string]authenticationv1.ExtraValue{}}
		for k, v := range u.GetExtra() {
			tr.Status.User.Extra[k] = v
		}
		tr.Status.Audiences = resp.Audiences
	}
	return tr, nil
}

// serveOpenIDConfiguration and serveJWKS are kube-apiserver's service
// account issuer discovery (pkg/routes/openidmetadata.go): the OIDC
// discovery document of --service-account-issuer and the keys that verify
// its tokens, for relying parties outside the cluster (cloud identity
// federation, Vault).
func (s *Server) serveOpenIDConfiguration(c *gin.Context) {
	if s.serviceAccounts.discovery == nil {
		writeError(c, notFoundPath(c.Request.URL.Path))
		return
	}
	data, maxAge := s.serviceAccounts.discovery.GetConfigJSON()
	serveDiscovery(c, "application/json", data, maxAge)
}

func (s *Server) serveJWKS(c *gin.Context) {
	if s.serviceAccounts.discovery == nil {
		writeError(c, notFoundPath(c.Request.URL.Path))
		return
	}
	data, maxAge := s.serviceAccounts.discovery.GetKeysetJSON()
	serveDiscovery(c, "application/jwk-set+json", data, maxAge)
}

func serveDiscovery(c *gin.Context, contentType string, data []byte, maxAge int) {
	c.Header("Cache-Control", fmt.Sprintf("public, max-age=%d", maxAge))
	c.Data(http.StatusOK, contentType, data)
}
