// Package benchserver starts the apiserver that the server benchmarks
// (bench/apiserver, authz, crd, controllers, scheduler, services) measure:
// its own temporary directory and embedded etcd, on 127.0.0.1 at a port
// of the kernel's choosing.
package benchserver

import (
	"context"
	"fmt"
	"os"

	"minik8s/pkg/apiserver"
)

// Options say how the server runs.
type Options struct {
	// TLS serves HTTPS with authentication and authorization, as a real
	// cluster does. Without it the server listens on plain HTTP, where
	// every request is the unsecured admin: the benches of something else
	// than TLS and authorization measure that alone.
	TLS bool
	// NoFsync runs etcd without fsync (its data is thrown away anyway).
	NoFsync bool
}

// Server is a running apiserver of a bench.
type Server struct {
	*apiserver.Server
	// Config is how it was started (the CA for client certificates is in
	// Config.CertDir).
	Config *apiserver.Config
	// URL is its base URL, http:// or https://.
	URL string
	dir string
}

// Start starts a server whose directory is named after prefix.
func Start(ctx context.Context, prefix string, o Options) (*Server, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, err
	}
	cfg := apiserver.NewConfig()
	cfg.Listen = []string{"127.0.0.1:0"}
	if !o.TLS {
		cfg.Listen, cfg.InsecureListen = nil, []string{"127.0.0.1:0"}
	}
	cfg.DataDir = dir
	cfg.UnsafeNoFsync = o.NoFsync
	if err := cfg.Validate(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s, err := apiserver.Start(ctx, cfg)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting apiserver: %w", err)
	}
	return &Server{Server: s, Config: cfg, URL: s.URLs()[0], dir: dir}, nil
}

// Close stops the server and removes its directory.
func (s *Server) Close() {
	s.Server.Close()
	os.RemoveAll(s.dir)
}
