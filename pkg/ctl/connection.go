package ctl

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"minik8s/pkg/restconfig"
)

const defaultServerNote = restconfig.DefaultServer

// connection is the RESTClientGetter behind ctl's factory: kubectl's
// kubeconfig flags plus minik8s' defaults, the Warning header printer, a
// record of the last failed dial (for the "cannot reach" message) and
// friendlier unknown-kind errors.
type connection struct {
	*genericclioptions.ConfigFlags

	warnings rest.WarningHandler

	mu      sync.Mutex
	dialErr *unreachableError
}

var _ genericclioptions.RESTClientGetter = (*connection)(nil)

func newConnection(errOut io.Writer) *connection {
	c := &connection{
		ConfigFlags: genericclioptions.NewConfigFlags(true).WithDiscoveryBurst(300).WithDiscoveryQPS(50),
		warnings:    rest.NewWarningWriter(errOut, rest.WarningWriterOptions{Deduplicate: true}),
	}
	c.WrapConfigFn = c.wrapConfig
	return c
}

// resolve fills in what the flags leave open, before anything connects:
// the lab's kubeconfig comes after --kubeconfig and $KUBECONFIG and before
// ~/.kube/config (which client-go's loading rules already try), and with no
// kubeconfig at all the server is restconfig.DefaultServer.
func (c *connection) resolve() {
	if *c.KubeConfig == "" && os.Getenv("KUBECONFIG") == "" {
		if lab := restconfig.LabKubeconfig(); fileExists(lab) {
			*c.KubeConfig = lab
		}
	}
	if *c.APIServer == "" && (&restconfig.Options{Kubeconfig: *c.KubeConfig}).KubeconfigPath() == "" {
		*c.APIServer = restconfig.DefaultServer
	}
}

func (c *connection) wrapConfig(cfg *rest.Config) *rest.Config {
	cfg.WarningHandler = c.warnings
	// Typed clientsets default to protobuf, which minik8s' API server does
	// not speak; JSON is what it serves.
	if cfg.ContentType == "" {
		cfg.ContentType = "application/json"
	}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &dialRecorder{next: rt, conn: c} })
	return cfg
}

func (c *connection) recordDialError(err *unreachableError) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dialErr = err
}

func (c *connection) lastDialError() *unreachableError {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dialErr
}

// unreachableError says the API server could not be dialled.
type unreachableError struct {
	server string
	err    error
}

func (e *unreachableError) Error() string {
	reason := e.err.Error()
	var op *net.OpError
	switch {
	case errors.Is(e.err, syscall.ECONNREFUSED):
		reason = "connection refused"
	case errors.As(e.err, &op) && op.Err != nil:
		reason = op.Err.Error()
	}
	return fmt.Sprintf("cannot reach the API server at %s: %s — is it running? (start a lab with `ctl lab up`)", e.server, reason)
}

func (e *unreachableError) Unwrap() error { return e.err }

// dialRecorder notes connection failures so that whatever kubectl makes of
// them, ctl can say which server it could not reach.
type dialRecorder struct {
	next http.RoundTripper
	conn *connection
}

func (d *dialRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := d.next.RoundTrip(req)
	var op *net.OpError
	if err != nil && errors.As(err, &op) && op.Op == "dial" {
		d.conn.recordDialError(&unreachableError{server: req.URL.Scheme + "://" + req.URL.Host, err: err})
	}
	return resp, err
}

func (d *dialRecorder) WrappedRoundTripper() http.RoundTripper { return d.next }

// pathOptions is where `ctl config` reads and writes kubeconfig files,
// in the order ctl connects: --kubeconfig, $KUBECONFIG, the lab's
// kubeconfig when there is one, ~/.kube/config.
func (c *connection) pathOptions() *clientcmd.PathOptions {
	po := clientcmd.NewDefaultPathOptions()
	if os.Getenv("KUBECONFIG") == "" {
		if lab := restconfig.LabKubeconfig(); fileExists(lab) {
			po.GlobalFile = lab
		}
	}
	return po
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
