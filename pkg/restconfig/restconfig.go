package restconfig

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// DefaultServer is where a component looks for the API server when neither
// flag nor kubeconfig names one.
const DefaultServer = "https://127.0.0.1:6443"

// LabKubeconfig is where `ctl lab up` writes the lab's kubeconfig; ctl uses
// it when neither --kubeconfig nor $KUBECONFIG is set.
func LabKubeconfig() string {
	home, err := os.UserHomeDir()
	if err != nil {
		home = "/root"
	}
	return filepath.Join(home, ".minik8s", "lab", "kubeconfig")
}

// Options are the connection flags.
type Options struct {
	Server     string
	Kubeconfig string
	// QPS and Burst are client-side rate limits; components that write a lot
	// raise them.
	QPS   float32
	Burst int
}

// NewOptions returns the defaults: no server, no kubeconfig, QPS 50, burst 100.
func NewOptions() *Options { return &Options{QPS: 50, Burst: 100} }

// AddFlags binds the options to fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&o.Server, "server", "s", o.Server, "address of the API server (overrides the kubeconfig), e.g. https://127.0.0.1:6443")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "path to a kubeconfig file (default $KUBECONFIG, then the lab's, then ~/.kube/config)")
}

// Load builds the rest.Config: --server alone is enough; otherwise the
// kubeconfig chain (--kubeconfig, $KUBECONFIG, the lab's kubeconfig,
// ~/.kube/config); with none of them, DefaultServer.
func (o *Options) Load() (*rest.Config, error) {
	cfg, err := o.load()
	if err != nil {
		return nil, err
	}
	cfg.QPS = o.QPS
	cfg.Burst = o.Burst
	return cfg, nil
}

func (o *Options) load() (*rest.Config, error) {
	path := o.KubeconfigPath()
	if path == "" {
		server := o.Server
		if server == "" {
			server = DefaultServer
		}
		return &rest.Config{Host: server}, nil
	}
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: path}
	overrides := &clientcmd.ConfigOverrides{}
	if o.Server != "" {
		overrides.ClusterInfo.Server = o.Server
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %s: %w", path, err)
	}
	return cfg, nil
}

// KubeconfigPath is the kubeconfig file Load reads, or "" when none is set
// or found.
func (o *Options) KubeconfigPath() string {
	if o.Kubeconfig != "" {
		return o.Kubeconfig
	}
	if env := os.Getenv("KUBECONFIG"); env != "" {
		return filepath.SplitList(env)[0]
	}
	if p := LabKubeconfig(); fileExists(p) {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		if p := filepath.Join(home, ".kube", "config"); fileExists(p) {
			return p
		}
	}
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
