package apiserver_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"minik8s/pkg/apiserver"
	"minik8s/pkg/apiserver/apiservertest"
	"minik8s/pkg/pki"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

func whoami(t *testing.T, cfg *rest.Config) (authenticationv1.UserInfo, error) {
	t.Helper()
	cs := kubernetes.NewForConfigOrDie(cfg)
	got, err := cs.AuthenticationV1().SelfSubjectReviews().Create(context.Background(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return authenticationv1.UserInfo{}, err
	}
	return got.Status.UserInfo, nil
}

// TestSelfSubjectReview: the server says who it takes the caller for, by
// client certificate, impersonated, or on the plain-HTTP listener; the
// review is create-only.
func TestSelfSubjectReview(t *testing.T) {
	s := apiservertest.Start(t)
	as := rest.CopyConfig(s.Config)
	as.Impersonate = rest.ImpersonationConfig{UserName: "jane", Groups: []string{"devs"}}
	plain := apiservertest.StartWith(t, t.TempDir(), func(c *apiserver.Config) {
		c.Listen, c.InsecureListen = nil, []string{"127.0.0.1:0"}
	})
	for _, tt := range []struct {
		name       string
		cfg        *rest.Config
		wantUser   string
		wantGroups []string
	}{
		{"client certificate", s.Config, "kubernetes-admin", []string{"system:masters", "system:authenticated"}},
		{"a node's certificate", s.ConfigFor(t, pki.Node("node-1")), "system:node:node-1", []string{"system:nodes", "system:authenticated"}},
		{"impersonated", as, "jane", []string{"devs", "system:authenticated"}},
		{"plain HTTP is the unsecured admin", plain.Config, "system:unsecured", []string{"system:masters", "system:authenticated"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u, err := whoami(t, tt.cfg)
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if u.Username != tt.wantUser || !slices.Equal(u.Groups, tt.wantGroups) {
				t.Errorf("got %s %v, want %s %v", u.Username, u.Groups, tt.wantUser, tt.wantGroups)
			}
		})
	}
	resp, err := s.Client.Get(s.URL + "/apis/authentication.k8s.io/v1/selfsubjectreviews")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("list: got %d, want 405", resp.StatusCode)
	}
}

// TestAuthentication: without credentials only the public paths answer;
// a certificate of another CA, or a token nobody issued, is 401.
func TestAuthentication(t *testing.T) {
	s := apiservertest.Start(t)
	ca, err := pki.LoadCA(s.Cfg.CertDir)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	anonymous := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for _, tt := range []struct {
		path string
		want int
	}{
		{"/healthz", 200}, {"/livez", 200}, {"/readyz", 200}, {"/version", 200},
		{"/api", 401}, {"/apis", 401}, {"/api/v1/namespaces/default/pods", 401}, {"/metrics", 401}, {"/openapi/v2", 401},
	} {
		resp, err := anonymous.Get(s.URL + tt.path)
		if err != nil {
			t.Fatalf("GET %s: %v", tt.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("anonymous GET %s: got %d, want %d", tt.path, resp.StatusCode, tt.want)
		}
	}

	other, err := pki.LoadOrCreateCA(t.TempDir(), "another-ca")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := other.Issue(pki.ClientRequest(pki.Admin))
	if err != nil {
		t.Fatal(err)
	}
	foreign := &rest.Config{Host: s.URL, TLSClientConfig: rest.TLSClientConfig{CAData: ca.CertPEM, CertData: certPEM, KeyData: keyPEM}}
	badToken := &rest.Config{Host: s.URL, BearerToken: "not-a-token", TLSClientConfig: rest.TLSClientConfig{CAData: ca.CertPEM}}
	for name, cfg := range map[string]*rest.Config{"a certificate of another CA": foreign, "an unknown token": badToken} {
		if _, err := whoami(t, cfg); !apierrors.IsUnauthorized(err) {
			t.Errorf("%s: got %v, want 401 Unauthorized", name, err)
		}
	}
}

// TestWriteKubeconfig: --write-kubeconfig writes an admin kubeconfig
// that works on its own, and a restart keeps the CA (the kubeconfig
// still works).
func TestWriteKubeconfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(t.TempDir(), "admin.conf")
	s := apiservertest.StartWith(t, dir, func(c *apiserver.Config) { c.WriteKubeconfig = path })
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("kubeconfig: %v, mode %v; want a 0600 file", err, fi)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	u, err := whoami(t, cfg)
	if err != nil || u.Username != "kubernetes-admin" {
		t.Fatalf("whoami with the kubeconfig: %v %v, want kubernetes-admin", u.Username, err)
	}
	s.Server.Close()
	s2 := apiservertest.StartWith(t, dir, nil)
	cfg.Host = s2.URL
	if _, err := whoami(t, cfg); err != nil {
		t.Fatalf("after a restart on the same data: %v", err)
	}
}
