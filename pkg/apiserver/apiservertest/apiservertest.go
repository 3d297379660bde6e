package apiservertest

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"

	"minik8s/pkg/pki"

	"minik8s/pkg/apiserver"

	"k8s.io/client-go/rest"
)

// Server is an apiserver started for one test.
type Server struct {
	// URL is the server's base URL, e.g. https://127.0.0.1:41234.
	URL string
	// Config reaches the server as the cluster admin, with a client
	// certificate (QPS 1000, Burst 2000); Client is an HTTP client made
	// from it, and Kubeconfig a file that holds it (for ctl).
	Config     *rest.Config
	Client     *http.Client
	Kubeconfig string
	// Server is the running apiserver; Cfg how it was configured.
	Server *apiserver.Server
	Cfg    *apiserver.Config
}

// Start runs an apiserver on 127.0.0.1:0 with an embedded etcd (no fsync)
// in t.TempDir(); t.Cleanup stops it.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, t.TempDir(), nil)
}

// StartWith is Start with a given etcd data dir (to restart on the same
// data) and a hook to change the configuration before it is validated.
//
// The ServiceAccount admission plugin is off (--disable-admission-plugins
// ServiceAccount): with no controller-manager making each namespace's
// "default" ServiceAccount, it would refuse the pods tests create. Tests
// of the plugin turn it on by clearing cfg.DisableAdmissionPlugins.
func StartWith(t testing.TB, dataDir string, configure func(*apiserver.Config)) *Server {
	t.Helper()
	cfg := apiserver.NewConfig()
	cfg.Listen = []string{"127.0.0.1:0"}
	cfg.DataDir = dataDir
	cfg.UnsafeNoFsync = true
	cfg.DisableAdmissionPlugins = []string{"ServiceAccount"}
	if configure != nil {
		configure(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("apiserver config: %v", err)
	}
	s, err := apiserver.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("starting apiserver: %v", err)
	}
	t.Cleanup(s.Close)
	out := &Server{URL: s.URLs()[0], Server: s, Cfg: cfg}
	out.Config = out.ConfigFor(t, pki.Admin)
	out.Kubeconfig = filepath.Join(cfg.CertDir, "admin.kubeconfig")
	if len(cfg.Listen) > 0 {
		ca, err := pki.LoadCA(cfg.CertDir)
		if err != nil {
			t.Fatalf("reading the test cluster's CA: %v", err)
		}
		if err := ca.WriteKubeconfig(out.Kubeconfig, "minik8s-test", out.URL, pki.Admin); err != nil {
			t.Fatal(err)
		}
	}
	client, err := rest.HTTPClientFor(out.Config)
	if err != nil {
		t.Fatal(err)
	}
	out.Client = client
	return out
}

// ConfigFor reaches the server as id, with a client certificate signed by
// the cluster CA (QPS 1000, Burst 2000). On a plain-HTTP server every
// client is the unsecured admin and id is ignored.
func (s *Server) ConfigFor(t testing.TB, id pki.Identity) *rest.Config {
	t.Helper()
	cfg := &rest.Config{Host: s.URL, QPS: 1000, Burst: 2000}
	if len(s.Cfg.Listen) == 0 {
		return cfg
	}
	ca, err := pki.LoadCA(s.Cfg.CertDir)
	if err != nil {
		t.Fatalf("reading the test cluster's CA: %v", err)
	}
	certPEM, keyPEM, err := ca.Issue(pki.ClientRequest(id))
	if err != nil {
		t.Fatal(err)
	}
	cfg.TLSClientConfig = rest.TLSClientConfig{CAData: ca.CertPEM, CertData: certPEM, KeyData: keyPEM}
	return cfg
}
