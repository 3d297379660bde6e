package apiservertest

import (
	"context"
	"testing"

	"minik8s/pkg/apiserver"

	"k8s.io/client-go/rest"
)

// Server is an apiserver started for one test.
type Server struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:41234.
	URL string
	// Config reaches the server (QPS 1000, Burst 2000).
	Config *rest.Config
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
	url := "http://" + s.Addrs()[0]
	return &Server{
		URL:    url,
		Config: &rest.Config{Host: url, QPS: 1000, Burst: 2000},
		Server: s,
		Cfg:    cfg,
	}
}
