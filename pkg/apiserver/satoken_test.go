package apiserver_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"minik8s/pkg/apiserver"
	"minik8s/pkg/apiserver/apiservertest"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/keyutil"
	"k8s.io/kubernetes/pkg/apis/core"
	token "k8s.io/kubernetes/pkg/serviceaccount"
	"k8s.io/utils/ptr"
)

// saFixture is a server with a namespace "team", its ServiceAccount
// "robot", a node and a pod of robot's on it.
type saFixture struct {
	s    *apiservertest.Server
	cs   kubernetes.Interface
	sa   *corev1.ServiceAccount
	pod  *corev1.Pod
	node *corev1.Node
}

func newSAFixture(t *testing.T, dir string, configure func(*apiserver.Config)) *saFixture {
	t.Helper()
	s := apiservertest.StartWith(t, dir, configure)
	cs := kubernetes.NewForConfigOrDie(s.Config)
	ctx := context.Background()
	f := &saFixture{s: s, cs: cs}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var err error
	if f.sa, err = cs.CoreV1().ServiceAccounts("team").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if f.node, err = cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.pod = f.newPod(t, "worker", "robot")
	return f
}

func (f *saFixture) newPod(t *testing.T, name, sa string) *corev1.Pod {
	t.Helper()
	p, err := f.cs.CoreV1().Pods("team").Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{ServiceAccountName: sa, NodeName: "n1", AutomountServiceAccountToken: ptr.To(false),
			Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *saFixture) token(t *testing.T, spec authenticationv1.TokenRequestSpec) string {
	t.Helper()
	tr, err := f.cs.CoreV1().ServiceAccounts("team").CreateToken(context.Background(), "robot", &authenticationv1.TokenRequest{Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	return tr.Status.Token
}

func (f *saFixture) podRef() *authenticationv1.BoundObjectReference {
	return &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: f.pod.Name, UID: f.pod.UID}
}

// jwtClaims decodes a token's payload (not verified: for inspection).
func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a compact JWS", tok)
	}
	data, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTokenRequest: serviceaccounts/token validates the request as
// upstream, defaults the lifetime and audiences, binds to the pod (and
// its node) and answers with a token whose claims say so.
func TestTokenRequest(t *testing.T) {
	f := newSAFixture(t, t.TempDir(), func(c *apiserver.Config) { c.ServiceAccountMaxTokenExpiration = 2 * time.Hour })
	ctx := context.Background()
	for _, tt := range []struct {
		name    string
		sa      string
		req     authenticationv1.TokenRequest
		wantErr func(error) bool
		wantMsg string
		// wantExp is the spec's expirationSeconds after defaulting
		// and capping; wantJWTLife the token's exp - iat.
		wantExp, wantJWTLife int64
		wantAud              []string
		wantPod, wantNode    bool
	}{
		{name: "defaults", sa: "robot", wantExp: 3600, wantJWTLife: 3600, wantAud: []string{apiserver.DefaultServiceAccountIssuer}},
		{name: "audience and lifetime", sa: "robot", req: authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: []string{"vault"}, ExpirationSeconds: ptr.To[int64](1200)}},
			wantExp: 1200, wantJWTLife: 1200, wantAud: []string{"vault"}},
		{name: "capped at --service-account-max-token-expiration", sa: "robot", req: authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](10 * 3600)}},
			wantExp: 7200, wantJWTLife: 7200, wantAud: []string{apiserver.DefaultServiceAccountIssuer}},
		{name: "bound to the pod, with its node", sa: "robot", req: authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{BoundObjectRef: f.podRef()}},
			wantExp: 3600, wantJWTLife: 3600, wantAud: []string{apiserver.DefaultServiceAccountIssuer}, wantPod: true, wantNode: true},
		{name: "the admission plugin's 3607 s bound to a pod live a year", sa: "robot", req: authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{BoundObjectRef: f.podRef(), ExpirationSeconds: ptr.To[int64](3607)}},
			wantExp: 3607, wantJWTLife: token.ExpirationExtensionSeconds, wantAud: []string{apiserver.DefaultServiceAccountIssuer}, wantPod: true, wantNode: true},
		{name: "missing ServiceAccount", sa: "ghost", wantErr: apierrors.IsNotFound, wantMsg: `serviceaccounts "ghost" not found`},
		{name: "under 10 minutes", sa: "robot", req: authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](60)}},
			wantErr: apierrors.IsInvalid, wantMsg: "spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes"},
		{name: "name mismatch", sa: "robot", req: authenticationv1.TokenRequest{ObjectMeta: metav1.ObjectMeta{Name: "other"}},
			wantErr: apierrors.IsInvalid, wantMsg: "must match the service account name if specified"},
		{name: "pod of another ServiceAccount", sa: "robot", req: authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "other"}}},
			wantErr: apierrors.IsBadRequest, wantMsg: `cannot bind token for serviceaccount "robot" to pod running with different serviceaccount name.`},
		{name: "pod with another UID", sa: "robot", req: authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "worker", UID: "not-it"}}},
			wantErr: apierrors.IsConflict, wantMsg: "the UID in the bound object reference (not-it) does not match the UID in record"},
		{name: "missing pod", sa: "robot", req: authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "gone"}}},
			wantErr: apierrors.IsNotFound, wantMsg: `pods "gone" not found`},
		{name: "ConfigMap binding", sa: "robot", req: authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "ConfigMap", APIVersion: "v1", Name: "x"}}},
			wantErr: apierrors.IsBadRequest, wantMsg: "cannot bind token to object of type /v1, Kind=ConfigMap"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "pod of another ServiceAccount" {
				if _, err := f.cs.CoreV1().ServiceAccounts("team").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "other-sa"}}, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
				f.newPod(t, "other", "other-sa")
			}
			before := time.Now().Truncate(time.Second)
			got, err := f.cs.CoreV1().ServiceAccounts("team").CreateToken(ctx, tt.sa, &tt.req, metav1.CreateOptions{})
			if tt.wantErr != nil {
				if err == nil || !tt.wantErr(err) || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("token request: %v", err)
			}
			if got.Spec.ExpirationSeconds == nil || *got.Spec.ExpirationSeconds != tt.wantExp {
				t.Errorf("got spec.expirationSeconds %v, want %d", got.Spec.ExpirationSeconds, tt.wantExp)
			}
			if !slices.Equal(got.Spec.Audiences, tt.wantAud) {
				t.Errorf("got audiences %v, want %v", got.Spec.Audiences, tt.wantAud)
			}
			exp := got.Status.ExpirationTimestamp.Time
			if exp.Before(before.Add(time.Duration(tt.wantExp)*time.Second)) || got.Name != "robot" || got.Namespace != "team" || got.UID != f.sa.UID {
				t.Errorf("got expiration %v for %s/%s uid %s, want at least %v for team/robot uid %s", exp, got.Namespace, got.Name, got.UID, before.Add(time.Duration(tt.wantExp)*time.Second), f.sa.UID)
			}
			c := jwtClaims(t, got.Status.Token)
			if life := int64(c["exp"].(float64) - c["iat"].(float64)); life != tt.wantJWTLife {
				t.Errorf("got token lifetime %d s, want %d", life, tt.wantJWTLife)
			}
			if c["sub"] != "system:serviceaccount:team:robot" || c["iss"] != apiserver.DefaultServiceAccountIssuer {
				t.Errorf("got sub %v iss %v, want system:serviceaccount:team:robot %s", c["sub"], c["iss"], apiserver.DefaultServiceAccountIssuer)
			}
			k8s := c["kubernetes.io"].(map[string]any)
			pod, _ := k8s["pod"].(map[string]any)
			node, _ := k8s["node"].(map[string]any)
			if gotPod := pod != nil && pod["uid"] == string(f.pod.UID); gotPod != tt.wantPod {
				t.Errorf("got pod claim %v, want the pod's: %v", pod, tt.wantPod)
			}
			if gotNode := node != nil && node["name"] == "n1" && node["uid"] == string(f.node.UID); gotNode != tt.wantNode {
				t.Errorf("got node claim %v, want n1's: %v", node, tt.wantNode)
			}
		})
	}
}

// tokenWhoami is the SelfSubjectReview of a bearer token; err is the API's.
func tokenWhoami(s *apiservertest.Server, tok string) (authenticationv1.UserInfo, error) {
	cfg := rest.AnonymousClientConfig(s.Config)
	cfg.BearerToken = tok
	got, err := kubernetes.NewForConfigOrDie(cfg).AuthenticationV1().SelfSubjectReviews().Create(context.Background(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return authenticationv1.UserInfo{}, err
	}
	return got.Status.UserInfo, nil
}

// signed makes a token for team/robot with key, as the apiserver would
// with its own, for lifetimes and keys a TokenRequest cannot ask for.
func signed(t *testing.T, f *saFixture, key any, expirationSeconds int64) string {
	t.Helper()
	gen, err := token.JWTTokenGenerator(apiserver.DefaultServiceAccountIssuer, key)
	if err != nil {
		t.Fatal(err)
	}
	sa := core.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: f.sa.Name, Namespace: f.sa.Namespace, UID: f.sa.UID}}
	sc, pc, err := token.Claims(sa, nil, nil, nil, nil, nil, expirationSeconds, 0, []string{apiserver.DefaultServiceAccountIssuer}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := gen.GenerateToken(context.Background(), sc, pc)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestServiceAccountTokenAuthentication: a token authenticates as its
// ServiceAccount (with the pod it is bound to), and every way a token
// can be wrong is a 401, on plain HTTP too.
func TestServiceAccountTokenAuthentication(t *testing.T) {
	dir := t.TempDir()
	f := newSAFixture(t, dir, nil)
	ctx := context.Background()
	keyFile := filepath.Join(dir, "pki", "sa.key")
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("got %v (%v), want the signing key made 0600 at %s", fi, err, keyFile)
	}
	ownKey, err := keyutil.PrivateKeyFromFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	// Tokens bound to a pod and to a ServiceAccount that are deleted
	// before the requests.
	doomedPod := f.newPod(t, "doomed", "robot")
	podGone := f.token(t, authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "doomed", UID: doomedPod.UID}})
	if err := f.cs.CoreV1().Pods("team").Delete(ctx, "doomed", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.cs.CoreV1().ServiceAccounts("team").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "temp"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := f.cs.CoreV1().ServiceAccounts("team").CreateToken(ctx, "temp", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	saGone := tr.Status.Token
	if err := f.cs.CoreV1().ServiceAccounts("team").Delete(ctx, "temp", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	saGroups := []string{"system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated"}
	for _, tt := range []struct {
		name      string
		token     string
		wantUser  string
		wantExtra map[string]authenticationv1.ExtraValue
	}{
		{name: "unbound", token: f.token(t, authenticationv1.TokenRequestSpec{}), wantUser: "system:serviceaccount:team:robot"},
		{name: "bound to a pod", token: f.token(t, authenticationv1.TokenRequestSpec{BoundObjectRef: f.podRef()}), wantUser: "system:serviceaccount:team:robot",
			wantExtra: map[string]authenticationv1.ExtraValue{
				"authentication.kubernetes.io/pod-name":  {"worker"},
				"authentication.kubernetes.io/pod-uid":   {string(f.pod.UID)},
				"authentication.kubernetes.io/node-name": {"n1"},
				"authentication.kubernetes.io/node-uid":  {string(f.node.UID)},
			}},
		{name: "signed with the server's key", token: signed(t, f, ownKey, 3600), wantUser: "system:serviceaccount:team:robot"},
		{name: "expired", token: signed(t, f, ownKey, -3600)},
		{name: "signed by another key", token: signed(t, f, otherKey, 3600)},
		{name: "for another audience", token: f.token(t, authenticationv1.TokenRequestSpec{Audiences: []string{"vault"}})},
		{name: "its pod deleted", token: podGone},
		{name: "its ServiceAccount deleted", token: saGone},
		{name: "not a JWT", token: "not-a-token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u, err := tokenWhoami(f.s, tt.token)
			if tt.wantUser == "" {
				if !apierrors.IsUnauthorized(err) {
					t.Fatalf("got user %q, error %v; want 401", u.Username, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v, want %s", err, tt.wantUser)
			}
			if u.Username != tt.wantUser || u.UID != string(f.sa.UID) || !slices.Equal(u.Groups, saGroups) {
				t.Errorf("got %s uid %s %v, want %s uid %s %v", u.Username, u.UID, u.Groups, tt.wantUser, f.sa.UID, saGroups)
			}
			for k, v := range tt.wantExtra {
				if !slices.Equal(u.Extra[k], v) {
					t.Errorf("got extra %s=%v, want %v", k, u.Extra[k], v)
				}
			}
		})
	}

	// The key is kept: a token outlives a restart on the same data.
	tok := f.token(t, authenticationv1.TokenRequestSpec{})
	f.s.Server.Close()
	s2 := apiservertest.StartWith(t, dir, nil)
	if u, err := tokenWhoami(s2, tok); err != nil || u.Username != "system:serviceaccount:team:robot" {
		t.Errorf("after a restart: got %q, %v; want system:serviceaccount:team:robot", u.Username, err)
	}
}

// TestTokenReview: the review says whether a token passes, for which
// audiences, and as whom; a missing token is a 400.
func TestTokenReview(t *testing.T) {
	f := newSAFixture(t, t.TempDir(), nil)
	ctx := context.Background()
	api := f.cs.AuthenticationV1().TokenReviews()
	apiTok := f.token(t, authenticationv1.TokenRequestSpec{BoundObjectRef: f.podRef()})
	vaultTok := f.token(t, authenticationv1.TokenRequestSpec{Audiences: []string{"vault"}})
	for _, tt := range []struct {
		name      string
		spec      authenticationv1.TokenReviewSpec
		wantAuth  bool
		wantAuds  []string
		wantError string
	}{
		{name: "API token", spec: authenticationv1.TokenReviewSpec{Token: apiTok}, wantAuth: true, wantAuds: []string{apiserver.DefaultServiceAccountIssuer}},
		{name: "audience asked", spec: authenticationv1.TokenReviewSpec{Token: vaultTok, Audiences: []string{"vault", "other"}}, wantAuth: true, wantAuds: []string{"vault"}},
		{name: "not for the API", spec: authenticationv1.TokenReviewSpec{Token: vaultTok}, wantError: "token audiences"},
		{name: "garbage", spec: authenticationv1.TokenReviewSpec{Token: "garbage"}, wantError: "invalid bearer token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := api.Create(ctx, &authenticationv1.TokenReview{Spec: tt.spec}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			st := got.Status
			if st.Authenticated != tt.wantAuth || !strings.Contains(st.Error, tt.wantError) {
				t.Fatalf("got authenticated %v error %q, want %v and an error containing %q", st.Authenticated, st.Error, tt.wantAuth, tt.wantError)
			}
			if !tt.wantAuth {
				return
			}
			if st.User.Username != "system:serviceaccount:team:robot" || !slices.Equal(st.Audiences, tt.wantAuds) {
				t.Errorf("got %s for %v, want system:serviceaccount:team:robot for %v", st.User.Username, st.Audiences, tt.wantAuds)
			}
		})
	}
	if _, err := api.Create(ctx, &authenticationv1.TokenReview{}, metav1.CreateOptions{}); !apierrors.IsBadRequest(err) {
		t.Errorf("empty token: got %v, want 400", err)
	}
}

// TestServiceAccountAdmission: with the plugin on, pods get the default
// ServiceAccount and the projected token volume in every container,
// unless the pod or its ServiceAccount turns automounting off; a pod of
// a missing ServiceAccount is refused.
func TestServiceAccountAdmission(t *testing.T) {
	f := newSAFixture(t, t.TempDir(), func(c *apiserver.Config) { c.DisableAdmissionPlugins = nil })
	ctx := context.Background()
	for _, sa := range []*corev1.ServiceAccount{
		{ObjectMeta: metav1.ObjectMeta{Name: "default"}, ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "quiet"}, AutomountServiceAccountToken: ptr.To(false)},
	} {
		if _, err := f.cs.CoreV1().ServiceAccounts("team").Create(ctx, sa, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	own := corev1.VolumeMount{Name: "mine", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}
	for _, tt := range []struct {
		name      string
		spec      corev1.PodSpec
		wantSA    string
		wantMount []bool // per init then app container: mounted by the plugin
		wantErr   string
	}{
		{name: "default ServiceAccount, every container", spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox"}},
			Containers:     []corev1.Container{{Name: "a", Image: "busybox"}, {Name: "b", Image: "busybox"}}},
			wantSA: "default", wantMount: []bool{true, true, true}},
		{name: "a container with its own mount there", spec: corev1.PodSpec{
			Volumes:    []corev1.Volume{{Name: "mine", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			Containers: []corev1.Container{{Name: "a", Image: "busybox", VolumeMounts: []corev1.VolumeMount{own}}, {Name: "b", Image: "busybox"}}},
			wantSA: "default", wantMount: []bool{false, true}},
		{name: "automount off on the pod", spec: corev1.PodSpec{AutomountServiceAccountToken: ptr.To(false),
			Containers: []corev1.Container{{Name: "a", Image: "busybox"}}},
			wantSA: "default", wantMount: []bool{false}},
		{name: "automount off on the ServiceAccount", spec: corev1.PodSpec{ServiceAccountName: "quiet",
			Containers: []corev1.Container{{Name: "a", Image: "busybox"}}},
			wantSA: "quiet", wantMount: []bool{false}},
		{name: "the pod overrides its ServiceAccount", spec: corev1.PodSpec{ServiceAccountName: "quiet", AutomountServiceAccountToken: ptr.To(true),
			Containers: []corev1.Container{{Name: "a", Image: "busybox"}}},
			wantSA: "quiet", wantMount: []bool{true}},
		{name: "missing ServiceAccount", spec: corev1.PodSpec{ServiceAccountName: "ghost",
			Containers: []corev1.Container{{Name: "a", Image: "busybox"}}},
			wantErr: `pods "p" is forbidden: error looking up service account team/ghost: serviceaccount "ghost" not found`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_ = f.cs.CoreV1().Pods("team").Delete(ctx, "p", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
			got, err := f.cs.CoreV1().Pods("team").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: tt.spec}, metav1.CreateOptions{})
			if tt.wantErr != "" {
				if !apierrors.IsForbidden(err) || err.Error() != tt.wantErr {
					t.Fatalf("got %v, want 403 %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Spec.ServiceAccountName != tt.wantSA {
				t.Errorf("got serviceAccountName %q, want %q", got.Spec.ServiceAccountName, tt.wantSA)
			}
			var vol *corev1.Volume
			for i := range got.Spec.Volumes {
				if strings.HasPrefix(got.Spec.Volumes[i].Name, "kube-api-access-") {
					vol = &got.Spec.Volumes[i]
				}
			}
			anyMount := slices.Contains(tt.wantMount, true)
			if (vol != nil) != anyMount {
				t.Fatalf("got volume %v, want one: %v", vol, anyMount)
			}
			if vol != nil {
				src := vol.Projected
				if len(vol.Name) != len("kube-api-access-")+5 || src == nil || len(src.Sources) != 3 ||
					src.Sources[0].ServiceAccountToken == nil || *src.Sources[0].ServiceAccountToken.ExpirationSeconds != 3607 || src.Sources[0].ServiceAccountToken.Path != "token" ||
					src.Sources[1].ConfigMap == nil || src.Sources[1].ConfigMap.Name != "kube-root-ca.crt" ||
					src.Sources[2].DownwardAPI == nil || src.Sources[2].DownwardAPI.Items[0].FieldRef.FieldPath != "metadata.namespace" {
					t.Errorf("got volume %s %+v, want upstream's kube-api-access-XXXXX projection", vol.Name, src)
				}
			}
			cs := append(append([]corev1.Container(nil), got.Spec.InitContainers...), got.Spec.Containers...)
			for i, c := range cs {
				mounted := vol != nil && slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
					return m.Name == vol.Name && m.ReadOnly && m.MountPath == "/var/run/secrets/kubernetes.io/serviceaccount"
				})
				if mounted != tt.wantMount[i] {
					t.Errorf("container %s: got mounted %v, want %v (mounts %v)", c.Name, mounted, tt.wantMount[i], c.VolumeMounts)
				}
			}
			if wantPull := tt.wantSA == "default"; wantPull != slices.Contains(got.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: "regcred"}) {
				t.Errorf("got imagePullSecrets %v, want the ServiceAccount's: %v", got.Spec.ImagePullSecrets, wantPull)
			}
		})
	}
	// A namespace nobody made a "default" ServiceAccount in: refused
	// after upstream's wait for the controller-manager.
	if _, err := f.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bare"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := f.cs.CoreV1().Pods("bare").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "busybox"}}}}, metav1.CreateOptions{})
	if want := `pods "p" is forbidden: error looking up service account bare/default: serviceaccount "default" not found`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
}

// TestServiceAccountIssuerDiscovery: the issuer's OIDC discovery document
// and key set are served, and the keys verify the tokens issued, as a
// relying party outside the cluster checks them; an issuer that is not
// an https URL has no discovery.
func TestServiceAccountIssuerDiscovery(t *testing.T) {
	f := newSAFixture(t, t.TempDir(), nil)
	get := func(s *apiservertest.Server, path string) (*http.Response, []byte) {
		t.Helper()
		resp, err := s.Client.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	resp, body := get(f.s, "/.well-known/openid-configuration")
	var doc struct {
		Issuer  string   `json:"issuer"`
		JWKSURI string   `json:"jwks_uri"`
		Algs    []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("discovery: got %d %s (%v)", resp.StatusCode, body, err)
	}
	_, port, _ := net.SplitHostPort(f.s.Server.Addrs()[0])
	if wantURI := "https://127.0.0.1:" + port + "/openid/v1/jwks"; doc.Issuer != apiserver.DefaultServiceAccountIssuer || doc.JWKSURI != wantURI || !slices.Equal(doc.Algs, []string{"RS256"}) {
		t.Errorf("got issuer %s jwks_uri %s algs %v, want %s %s [RS256]", doc.Issuer, doc.JWKSURI, doc.Algs, apiserver.DefaultServiceAccountIssuer, wantURI)
	}
	resp, body = get(f.s, "/openid/v1/jwks")
	if ct := resp.Header.Get("Content-Type"); ct != "application/jwk-set+json" {
		t.Errorf("got content type %q, want application/jwk-set+json", ct)
	}
	var keys struct {
		Keys []struct{ Kty, Alg, Use, Kid, N, E string }
	}
	if err := json.Unmarshal(body, &keys); err != nil || len(keys.Keys) != 1 || keys.Keys[0].Kty != "RSA" || keys.Keys[0].Alg != "RS256" || keys.Keys[0].Use != "sig" {
		t.Fatalf("jwks: got %s (%v), want one RSA signing key", body, err)
	}
	// Verify a token as a relying party would: RS256 over header.payload
	// with the published key, the kid matching.
	k := keys.Keys[0]
	n, errN := base64.RawURLEncoding.DecodeString(k.N)
	e, errE := base64.RawURLEncoding.DecodeString(k.E)
	if errN != nil || errE != nil {
		t.Fatalf("jwks key: %v %v", errN, errE)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	tok := f.token(t, authenticationv1.TokenRequestSpec{})
	parts := strings.Split(tok, ".")
	header, _ := base64.RawURLEncoding.DecodeString(parts[0])
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil || !strings.Contains(string(header), `"kid":"`+k.Kid+`"`) {
		t.Errorf("verifying a token (header %s) with the published key %s: %v", header, k.Kid, err)
	}

	plain := apiservertest.StartWith(t, t.TempDir(), func(c *apiserver.Config) { c.ServiceAccountIssuers = []string{"minik8s"} })
	if resp, _ := get(plain, "/.well-known/openid-configuration"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("issuer minik8s: got %d, want 404", resp.StatusCode)
	}
}
