package apiserver

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Config holds the apiserver's settings.
type Config struct {
	// Listen are host:port addresses served with plain HTTP.
	Listen []string
	// DataDir holds the embedded etcd's data.
	DataDir string
	// EtcdServers, if set, replaces the embedded etcd.
	EtcdServers []string
	// ServiceCIDR is the ClusterIP range.
	ServiceCIDR string
	// NodePortRange is "first-last".
	NodePortRange string
	// AdvertiseAddress is the address the default/kubernetes Service's
	// endpoints point at; default the first --listen host.
	AdvertiseAddress string
	// Toleration seconds admission gives pods for the not-ready and
	// unreachable NoExecute taints.
	DefaultNotReadyTolerationSeconds    int64
	DefaultUnreachableTolerationSeconds int64
	// UnsafeNoFsync speeds the embedded etcd up for tests.
	UnsafeNoFsync bool
	// EnableBootstrapTokenAuth lets bootstrap tokens (kube-system Secrets
	// of type bootstrap.kubernetes.io/token) authenticate, as joining
	// agents do.
	EnableBootstrapTokenAuth bool
	// KubeletClientCertificate and KubeletClientKey are the client
	// certificate the apiserver shows the agents' kubelet API (logs,
	// exec, attach, port forwarding); when set, it speaks TLS to them,
	// trusting KubeletCertificateAuthority (none: the agents' serving
	// certificates are not verified, as kube-apiserver without
	// --kubelet-certificate-authority). Unset: plain HTTP.
	KubeletClientCertificate    string
	KubeletClientKey            string
	KubeletCertificateAuthority string

	serviceCIDR   netip.Prefix
	nodePortFirst int
	nodePortLast  int
}

// NewConfig holds the defaults.
func NewConfig() *Config {
	return &Config{
		Listen:                              []string{"127.0.0.1:6443"},
		DataDir:                             "./minik8s-data",
		ServiceCIDR:                         "10.96.0.0/16",
		NodePortRange:                       "30000-32767",
		DefaultNotReadyTolerationSeconds:    300,
		DefaultUnreachableTolerationSeconds: 300,
		EnableBootstrapTokenAuth:            true,
	}
}

// AddFlags binds the flags to c.
func (c *Config) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&c.Listen, "listen", c.Listen, "host:port to serve plain HTTP on (repeatable)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory of the embedded etcd's data")
	fs.StringSliceVar(&c.EtcdServers, "etcd-servers", c.EtcdServers, "comma-separated etcd client URLs; when set, no embedded etcd is started")
	fs.StringVar(&c.ServiceCIDR, "service-cidr", c.ServiceCIDR, "range ClusterIPs are allocated from")
	fs.StringVar(&c.NodePortRange, "service-node-port-range", c.NodePortRange, "range NodePorts are allocated from")
	fs.StringVar(&c.AdvertiseAddress, "advertise-address", c.AdvertiseAddress, "address the default/kubernetes Service points at (default: the first --listen host)")
	fs.Int64Var(&c.DefaultNotReadyTolerationSeconds, "default-not-ready-toleration-seconds", c.DefaultNotReadyTolerationSeconds, "tolerationSeconds of the not-ready NoExecute toleration added to pods that have none")
	fs.BoolVar(&c.EnableBootstrapTokenAuth, "enable-bootstrap-token-auth", c.EnableBootstrapTokenAuth, "let bootstrap tokens (kube-system Secrets of type bootstrap.kubernetes.io/token) authenticate as system:bootstrap:<token id>, for agents joining the cluster")
	fs.StringVar(&c.KubeletClientCertificate, "kubelet-client-certificate", c.KubeletClientCertificate, "client certificate (PEM) for the agents' kubelet API; when set, logs, exec, attach and port forwarding reach the agents over TLS")
	fs.StringVar(&c.KubeletClientKey, "kubelet-client-key", c.KubeletClientKey, "key (PEM) of --kubelet-client-certificate")
	fs.StringVar(&c.KubeletCertificateAuthority, "kubelet-certificate-authority", c.KubeletCertificateAuthority, "CA bundle (PEM) the agents' serving certificates are checked against (default: not checked)")
	fs.Int64Var(&c.DefaultUnreachableTolerationSeconds, "default-unreachable-toleration-seconds", c.DefaultUnreachableTolerationSeconds, "tolerationSeconds of the unreachable NoExecute toleration added to pods that have none")
}

// Validate checks c and fills the parsed fields.
func (c *Config) Validate() error {
	if len(c.Listen) == 0 {
		return fmt.Errorf("at least one --listen address is needed")
	}
	for _, l := range c.Listen {
		if _, _, err := net.SplitHostPort(l); err != nil {
			return fmt.Errorf("--listen %q: %w", l, err)
		}
	}
	if len(c.EtcdServers) == 0 && c.DataDir == "" {
		return fmt.Errorf("--data-dir is needed when --etcd-servers is not set")
	}
	p, err := netip.ParsePrefix(c.ServiceCIDR)
	if err != nil || !p.Addr().Is4() || p.Bits() > 30 {
		return fmt.Errorf("--service-cidr %q: want an IPv4 CIDR of at least 4 addresses", c.ServiceCIDR)
	}
	c.serviceCIDR = p.Masked()
	first, last, ok := strings.Cut(c.NodePortRange, "-")
	a, err1 := strconv.Atoi(strings.TrimSpace(first))
	b, err2 := strconv.Atoi(strings.TrimSpace(last))
	if !ok || err1 != nil || err2 != nil || a < 1 || b > 65535 || a > b {
		return fmt.Errorf("--service-node-port-range %q: want first-last, e.g. 30000-32767", c.NodePortRange)
	}
	c.nodePortFirst, c.nodePortLast = a, b
	if c.AdvertiseAddress == "" {
		host, _, _ := net.SplitHostPort(c.Listen[0])
		c.AdvertiseAddress = host
	}
	if ip := net.ParseIP(c.AdvertiseAddress); ip == nil || ip.IsUnspecified() {
		return fmt.Errorf("--advertise-address %q: want a concrete IP address", c.AdvertiseAddress)
	}
	if (c.KubeletClientCertificate == "") != (c.KubeletClientKey == "") {
		return fmt.Errorf("--kubelet-client-certificate and --kubelet-client-key go together")
	}
	if c.DefaultNotReadyTolerationSeconds < 0 || c.DefaultUnreachableTolerationSeconds < 0 {
		return fmt.Errorf("toleration seconds must not be negative")
	}
	return nil
}

// NewCommand is the apiserver command.
func NewCommand(ctx context.Context) *cobra.Command {
	cfg := NewConfig()
	cmd := &cobra.Command{
		Use:          "apiserver",
		Short:        "Serve the Kubernetes API on etcd",
		SilenceUsage: true,
		Args:         cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cfg.Validate(); err != nil {
				return err
			}
			return Run(ctx, cfg)
		},
	}
	cfg.AddFlags(cmd.Flags())
	return cmd
}

// Run serves until ctx ends.
func Run(ctx context.Context, cfg *Config) error {
	s, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	for _, a := range s.Addrs() {
		s.logf("serving on http://%s", a)
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-s.Err():
		return err
	}
}
