package kubelet

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	certutil "k8s.io/client-go/util/cert"
)

type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := certutil.NewSelfSignedCACert(certutil.Config{CommonName: "test-ca"}, key)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

// client is a TLS client certificate of the CA for user in groups.
func (ca *testCA) client(t *testing.T, name string, groups ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name, Organization: groups},
		NotBefore:    time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func (ca *testCA) write(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSecureAPI: over TLS, the agent's API answers a caller with a
// client certificate of --client-ca-file or a token the TokenReview
// accepts, when the SubjectAccessReview allows it; anonymous callers,
// another CA's certificates and refused tokens are 401, callers not
// allowed 403 with the kubelet's message.
func TestSecureAPI(t *testing.T) {
	dir := t.TempDir()
	ca, other := newTestCA(t), newTestCA(t)
	ca.write(t, filepath.Join(dir, "ca.crt"))
	// The API server's side of the reviews: the webhook clients post
	// them with their REST client, so a fake clientset's reactors would
	// not see them.
	var mu sync.Mutex
	var reviewed []authorizationv1.ResourceAttributes
	reviewer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch req.URL.Path {
		case "/apis/authentication.k8s.io/v1/tokenreviews":
			var tr authenticationv1.TokenReview
			if err := json.NewDecoder(req.Body).Decode(&tr); err != nil {
				t.Error(err)
			}
			if tr.Spec.Token == "good-token" {
				tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "system:serviceaccount:monitoring:prometheus"}}
			}
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(&tr)
		case "/apis/authorization.k8s.io/v1/subjectaccessreviews":
			var sar authorizationv1.SubjectAccessReview
			if err := json.NewDecoder(req.Body).Decode(&sar); err != nil {
				t.Error(err)
			}
			ra := *sar.Spec.ResourceAttributes
			mu.Lock()
			reviewed = append(reviewed, ra)
			mu.Unlock()
			// The apiserver's kubelet client may do anything; prometheus
			// may read metrics.
			sar.Status.Allowed = sar.Spec.User == "kube-apiserver-kubelet-client" ||
				(sar.Spec.User == "system:serviceaccount:monitoring:prometheus" && ra.Subresource == "metrics")
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(&sar)
		default:
			http.NotFound(w, req)
		}
	}))
	defer reviewer.Close()
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: reviewer.URL, ContentConfig: rest.ContentConfig{ContentType: "application/json"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := NewConfig()
	cfg.NodeName, cfg.CertDir, cfg.ClientCAFile = "n1", dir, filepath.Join(dir, "ca.crt")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	secure, err := newSecureAPI(ctx, cfg, "127.0.0.1", cs)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(secure.filter(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })))
	srv.TLS = secure.tls
	srv.StartTLS()
	defer srv.Close()
	// The serving certificate is the self-signed one made in --cert-dir,
	// for the node's name and address.
	served, err := certutil.CertsFromFile(filepath.Join(dir, "kubelet.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(served[0])
	clientWith := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
	}
	apiserver := clientWith(ca.client(t, "kube-apiserver-kubelet-client", "kubeadm:cluster-admins"))
	for _, tt := range []struct {
		name, method, path, token string
		client                    *http.Client
		wantCode                  int
		wantBody                  string
	}{
		{"anonymous", http.MethodGet, "/containerLogs/default/p/c", "", clientWith(), http.StatusUnauthorized, "Unauthorized"},
		{"the apiserver's client certificate", http.MethodGet, "/containerLogs/default/p/c", "", apiserver, http.StatusOK, "ok"},
		{"the apiserver exec", http.MethodPost, "/exec/default/p/c", "", apiserver, http.StatusOK, "ok"},
		{"a certificate of the CA, not allowed", http.MethodGet, "/containerLogs/default/p/c", "", clientWith(ca.client(t, "jane", "devs")), http.StatusForbidden,
			"Forbidden (user=jane, verb=get, resource=nodes, subresource(s)=[proxy])"},
		{"a certificate of another CA", http.MethodGet, "/containerLogs/default/p/c", "", clientWith(other.client(t, "kube-apiserver-kubelet-client")), http.StatusUnauthorized, "Unauthorized"},
		{"a token allowed metrics", http.MethodGet, "/metrics", "good-token", clientWith(), http.StatusOK, "ok"},
		{"a token not allowed exec", http.MethodPost, "/exec/default/p/c", "good-token", clientWith(), http.StatusForbidden,
			"Forbidden (user=system:serviceaccount:monitoring:prometheus, verb=create, resource=nodes, subresource(s)=[proxy])"},
		{"a token not allowed healthz", http.MethodGet, "/healthz", "good-token", clientWith(), http.StatusForbidden,
			"Forbidden (user=system:serviceaccount:monitoring:prometheus, verb=get, resource=nodes, subresource(s)=[healthz proxy])"},
		{"a refused token", http.MethodGet, "/metrics", "bad-token", clientWith(), http.StatusUnauthorized, "Unauthorized"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := tt.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantCode || strings.TrimSpace(string(body)) != tt.wantBody {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, strings.TrimSpace(string(body)), tt.wantCode, tt.wantBody)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	for _, ra := range reviewed {
		if ra.Resource != "nodes" || ra.Name != "n1" || ra.Group != "" || ra.Version != "v1" {
			t.Errorf("reviewed %+v, want nodes/n1 in v1", ra)
		}
	}
}

// TestRequestAttributes: the kubelet's mapping of its paths to node
// subresources.
func TestRequestAttributes(t *testing.T) {
	for _, tt := range []struct {
		method, path string
		wantVerb     string
		wantSubs     string
	}{
		{http.MethodGet, "/containerLogs/ns/p/c", "get", "proxy"},
		{http.MethodPost, "/exec/ns/p/c", "create", "proxy"},
		{http.MethodGet, "/portForward/ns/p", "get", "proxy"},
		{http.MethodGet, "/metrics", "get", "metrics"},
		{http.MethodGet, "/metrics/cadvisor", "get", "metrics"},
		{http.MethodGet, "/metricsx", "get", "proxy"},
		{http.MethodGet, "/healthz", "get", "healthz,proxy"},
		{http.MethodGet, "/pods", "get", "pods,proxy"},
		{http.MethodGet, "/stats/summary", "get", "stats"},
		{http.MethodGet, "/logs/syslog", "get", "log"},
		{http.MethodDelete, "/x", "delete", "proxy"},
		{http.MethodConnect, "10.244.1.5:80", "create", "proxy"},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			var subs []string
			for _, a := range requestAttributes("n1", nil, req) {
				subs = append(subs, a.GetSubresource())
				if a.GetVerb() != tt.wantVerb || a.GetResource() != "nodes" || a.GetName() != "n1" {
					t.Errorf("got %s %s/%s, want %s nodes/n1", a.GetVerb(), a.GetResource(), a.GetName(), tt.wantVerb)
				}
			}
			if got := strings.Join(subs, ","); got != tt.wantSubs {
				t.Errorf("got subresources %s, want %s", got, tt.wantSubs)
			}
		})
	}
}
