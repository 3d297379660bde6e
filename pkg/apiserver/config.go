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
	// EncryptionProviderConfig is kube-apiserver's EncryptionConfiguration
	// file: which resources are encrypted in etcd, and with which keys.
	EncryptionProviderConfig string
	// AuditLogPath is where audit events go ("-": stdout; "": no audit);
	// AuditPolicyFile says what is recorded (default: Metadata level for
	// every request). The MaxAge (days), MaxBackups and MaxSize (MiB)
	// rotate the file when MaxSize is set.
	AuditLogPath       string
	AuditPolicyFile    string
	AuditLogMaxAge     int
	AuditLogMaxBackups int
	AuditLogMaxSize    int

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
	fs.StringArrayVar(&c.Listen, "listen", c.Listen, "host:port to serve plain HTTP on (repeatable)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory of the embedded etcd's data")
	fs.StringSliceVar(&c.EtcdServers, "etcd-servers", c.EtcdServers, "comma-separated etcd client URLs; when set, no embedded etcd is started")
	fs.StringVar(&c.ServiceCIDR, "service-cidr", c.ServiceCIDR, "range ClusterIPs are allocated from")
	fs.StringVar(&c.NodePortRange, "service-node-port-range", c.NodePortRange, "range NodePorts are allocated from")
	fs.StringVar(&c.AdvertiseAddress, "advertise-address", c.AdvertiseAddress, "address the default/kubernetes Service points at (default: the first --listen host)")
	fs.Int64Var(&c.DefaultNotReadyTolerationSeconds, "default-not-ready-toleration-seconds", c.DefaultNotReadyTolerationSeconds, "tolerationSeconds of the not-ready NoExecute toleration added to pods that have none")
	fs.StringVar(&c.EncryptionProviderConfig, "encryption-provider-config", c.EncryptionProviderConfig, "file with an EncryptionConfiguration (apiserver.config.k8s.io/v1) saying which resources are encrypted in etcd, and how")
	fs.StringVar(&c.AuditLogPath, "audit-log-path", c.AuditLogPath, "file the audit log (audit.k8s.io/v1 Events, JSON lines) is appended to; \"-\" for standard output; no audit log when empty")
	fs.StringVar(&c.AuditPolicyFile, "audit-policy-file", c.AuditPolicyFile, "file with an audit Policy (audit.k8s.io/v1); default: every request at Metadata level")
	fs.IntVar(&c.AuditLogMaxAge, "audit-log-maxage", c.AuditLogMaxAge, "days to keep rotated audit log files (0: no limit)")
	fs.IntVar(&c.AuditLogMaxBackups, "audit-log-maxbackup", c.AuditLogMaxBackups, "rotated audit log files to keep (0: no limit)")
	fs.IntVar(&c.AuditLogMaxSize, "audit-log-maxsize", c.AuditLogMaxSize, "size in megabytes at which the audit log is rotated (0: never)")
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
	if c.DefaultNotReadyTolerationSeconds < 0 || c.DefaultUnreachableTolerationSeconds < 0 {
		return fmt.Errorf("toleration seconds must not be negative")
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"--audit-log-maxage", c.AuditLogMaxAge}, {"--audit-log-maxbackup", c.AuditLogMaxBackups}, {"--audit-log-maxsize", c.AuditLogMaxSize}} {
		if f.v < 0 {
			return fmt.Errorf("%s %d can't be a negative number", f.name, f.v)
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
