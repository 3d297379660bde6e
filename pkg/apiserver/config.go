package apiserver

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Config holds the apiserver's settings.
type Config struct {
	// Listen are host:port addresses served with TLS.
	Listen []string
	// InsecureListen are host:port addresses served with plain HTTP, where
	// every request is an unauthenticated admin: only for loopback setups
	// that accept that (never the lab's).
	InsecureListen []string
	// CertDir holds the cluster CA (made at first start when absent) and
	// the serving certificate made from it; default <DataDir>/pki.
	CertDir string
	// TLSCertFile and TLSPrivateKeyFile, when set, are the serving
	// certificate instead of one made in CertDir.
	TLSCertFile       string
	TLSPrivateKeyFile string
	// ClientCAFile verifies client certificates; default CertDir's CA.
	ClientCAFile string
	// TLSSANs are more names and addresses for the made serving
	// certificate (it always has localhost, 127.0.0.1, the listen and
	// advertise addresses, the kubernetes Service's ClusterIP and names).
	TLSSANs []string
	// WriteKubeconfig, when set, is where an admin kubeconfig is written at
	// start (needs CertDir's CA key).
	WriteKubeconfig string
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
	}
}

// AddFlags binds the flags to c.
func (c *Config) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&c.Listen, "listen", c.Listen, "host:port to serve HTTPS on (repeatable)")
	fs.StringArrayVar(&c.InsecureListen, "insecure-listen", c.InsecureListen, "UNSAFE: host:port to serve plain HTTP on, where every request is an unauthenticated cluster admin (repeatable; keep it on loopback)")
	fs.StringVar(&c.CertDir, "cert-dir", c.CertDir, "directory of the cluster CA (made at first start when absent) and the serving certificate (default <data-dir>/pki)")
	fs.StringVar(&c.TLSCertFile, "tls-cert-file", c.TLSCertFile, "serving certificate (PEM) instead of one made in --cert-dir")
	fs.StringVar(&c.TLSPrivateKeyFile, "tls-private-key-file", c.TLSPrivateKeyFile, "key of --tls-cert-file")
	fs.StringVar(&c.ClientCAFile, "client-ca-file", c.ClientCAFile, "CA bundle that verifies client certificates (default the cluster CA in --cert-dir)")
	fs.StringSliceVar(&c.TLSSANs, "tls-san", c.TLSSANs, "more DNS names or IP addresses for the made serving certificate (comma-separated, repeatable)")
	fs.StringVar(&c.WriteKubeconfig, "write-kubeconfig", c.WriteKubeconfig, "write an admin kubeconfig (cluster-admin, client certificate) to this path at start")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory of the embedded etcd's data")
	fs.StringSliceVar(&c.EtcdServers, "etcd-servers", c.EtcdServers, "comma-separated etcd client URLs; when set, no embedded etcd is started")
	fs.StringVar(&c.ServiceCIDR, "service-cidr", c.ServiceCIDR, "range ClusterIPs are allocated from")
	fs.StringVar(&c.NodePortRange, "service-node-port-range", c.NodePortRange, "range NodePorts are allocated from")
	fs.StringVar(&c.AdvertiseAddress, "advertise-address", c.AdvertiseAddress, "address the default/kubernetes Service points at (default: the first --listen host)")
	fs.Int64Var(&c.DefaultNotReadyTolerationSeconds, "default-not-ready-toleration-seconds", c.DefaultNotReadyTolerationSeconds, "tolerationSeconds of the not-ready NoExecute toleration added to pods that have none")
	fs.Int64Var(&c.DefaultUnreachableTolerationSeconds, "default-unreachable-toleration-seconds", c.DefaultUnreachableTolerationSeconds, "tolerationSeconds of the unreachable NoExecute toleration added to pods that have none")
}

// Validate checks c and fills the parsed fields.
func (c *Config) Validate() error {
	if len(c.Listen) == 0 && len(c.InsecureListen) == 0 {
		return fmt.Errorf("at least one --listen address is needed")
	}
	for _, l := range c.Listen {
		if _, _, err := net.SplitHostPort(l); err != nil {
			return fmt.Errorf("--listen %q: %w", l, err)
		}
	}
	for _, l := range c.InsecureListen {
		if _, _, err := net.SplitHostPort(l); err != nil {
			return fmt.Errorf("--insecure-listen %q: %w", l, err)
		}
	}
	if (c.TLSCertFile == "") != (c.TLSPrivateKeyFile == "") {
		return fmt.Errorf("--tls-cert-file and --tls-private-key-file go together")
	}
	if c.CertDir == "" {
		if c.DataDir == "" {
			return fmt.Errorf("--cert-dir is needed when --data-dir is not set")
		}
		c.CertDir = filepath.Join(c.DataDir, "pki")
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
		host, _, _ := net.SplitHostPort(c.listens()[0].addr)
		c.AdvertiseAddress = host
	}
	if ip := net.ParseIP(c.AdvertiseAddress); ip == nil || ip.IsUnspecified() {
		return fmt.Errorf("--advertise-address %q: want a concrete IP address", c.AdvertiseAddress)
	}
	if c.DefaultNotReadyTolerationSeconds < 0 || c.DefaultUnreachableTolerationSeconds < 0 {
		return fmt.Errorf("toleration seconds must not be negative")
	}
	return nil
}

// listen is one address served, with TLS or not.
type listen struct {
	addr   string
	secure bool
}

// listens are the addresses served, TLS ones first: the first is the one
// the kubernetes Service and the loopback client use.
func (c *Config) listens() []listen {
	var out []listen
	for _, a := range c.Listen {
		out = append(out, listen{addr: a, secure: true})
	}
	for _, a := range c.InsecureListen {
		out = append(out, listen{addr: a})
	}
	return out
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
	for _, u := range s.URLs() {
		s.logf("serving on %s", u)
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-s.Err():
		return err
	}
}
