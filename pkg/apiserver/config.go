package apiserver

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

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
	// ServiceAccount tokens (satoken.go): the signing key (default: one
	// made at first start in <DataDir>/pki/sa.key), the verification
	// keys (default: the signing key's), the issuers (the first signs),
	// the audiences the API accepts (default: the issuers), the cap on
	// requested lifetimes (0: none) and the year-long life of the
	// admission plugin's pod-bound tokens.
	ServiceAccountSigningKeyFile        string
	ServiceAccountKeyFiles              []string
	ServiceAccountIssuers               []string
	APIAudiences                        []string
	ServiceAccountMaxTokenExpiration    time.Duration
	ServiceAccountExtendTokenExpiration bool
	// ServiceAccountJWKSURI is the jwks_uri of the issuer's discovery
	// document (default https://<advertise-address>:<port>/openid/v1/jwks).
	ServiceAccountJWKSURI string
	// DisableAdmissionPlugins are admission plugins turned off, by
	// upstream name (only ServiceAccount may be).
	DisableAdmissionPlugins []string

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
		ServiceAccountIssuers:               []string{DefaultServiceAccountIssuer},
		ServiceAccountExtendTokenExpiration: true,
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
	fs.Int64Var(&c.DefaultUnreachableTolerationSeconds, "default-unreachable-toleration-seconds", c.DefaultUnreachableTolerationSeconds, "tolerationSeconds of the unreachable NoExecute toleration added to pods that have none")
	fs.StringVar(&c.ServiceAccountSigningKeyFile, "service-account-signing-key-file", c.ServiceAccountSigningKeyFile, "PEM private key (RSA or ECDSA) that signs ServiceAccount tokens (default: an RSA key made at first start in <data-dir>/pki/sa.key)")
	fs.StringArrayVar(&c.ServiceAccountKeyFiles, "service-account-key-file", c.ServiceAccountKeyFiles, "PEM file of public (or private) keys that verify ServiceAccount tokens (repeatable; default: the signing key)")
	fs.StringArrayVar(&c.ServiceAccountIssuers, "service-account-issuer", c.ServiceAccountIssuers, "iss of the ServiceAccount tokens issued (the first) and accepted (all; repeatable)")
	fs.StringSliceVar(&c.APIAudiences, "api-audiences", c.APIAudiences, "audiences a token must have one of to reach the API, and the default of TokenRequests (default: the issuers)")
	fs.DurationVar(&c.ServiceAccountMaxTokenExpiration, "service-account-max-token-expiration", c.ServiceAccountMaxTokenExpiration, "longest lifetime a TokenRequest is given (0: as asked)")
	fs.BoolVar(&c.ServiceAccountExtendTokenExpiration, "service-account-extend-token-expiration", c.ServiceAccountExtendTokenExpiration, "give pod-bound tokens asked for 3607 s (the admission plugin's) a year, warning after 3607 s, as kube-apiserver does")
	fs.StringVar(&c.ServiceAccountJWKSURI, "service-account-jwks-uri", c.ServiceAccountJWKSURI, "jwks_uri of /.well-known/openid-configuration (default: https://<advertise-address>:<port>/openid/v1/jwks)")
	fs.StringSliceVar(&c.DisableAdmissionPlugins, "disable-admission-plugins", c.DisableAdmissionPlugins, "admission plugins to turn off (ServiceAccount)")
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
	if c.DefaultNotReadyTolerationSeconds < 0 || c.DefaultUnreachableTolerationSeconds < 0 {
		return fmt.Errorf("toleration seconds must not be negative")
	}
	if len(c.ServiceAccountIssuers) == 0 || slices.Contains(c.ServiceAccountIssuers, "") {
		return fmt.Errorf("--service-account-issuer must not be empty")
	}
	if len(c.APIAudiences) == 0 {
		c.APIAudiences = c.ServiceAccountIssuers
	}
	if c.ServiceAccountMaxTokenExpiration != 0 && c.ServiceAccountMaxTokenExpiration < time.Hour {
		// kube-apiserver's floor: the admission plugin's tokens ask for 3607 s.
		return fmt.Errorf("--service-account-max-token-expiration must be at least 1h (got %s)", c.ServiceAccountMaxTokenExpiration)
	}
	for _, p := range c.DisableAdmissionPlugins {
		if p != serviceAccountPluginName {
			return fmt.Errorf("--disable-admission-plugins %q: only %s may be turned off", p, serviceAccountPluginName)
		}
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
