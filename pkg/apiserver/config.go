package apiserver

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

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
	// MetricResolution is how often the resource metrics API
	// (metrics.k8s.io) scrapes the agents, metrics-server's
	// --metric-resolution.
	MetricResolution time.Duration
	// AllowPrivileged admits privileged containers
	// (securityContext.privileged, and Windows hostProcess ones) in pods
	// and pod templates: kube-apiserver's --allow-privileged, false by
	// default as there; conformance clusters set it. Upstream's
	// validation reads it from a process-wide setting
	// (k8s.io/kubernetes/pkg/capabilities) that the first apiserver
	// started in a process fixes: Start refuses a second one that asks
	// otherwise.
	AllowPrivileged bool

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
		EnableBootstrapTokenAuth:            true,
		MetricResolution:                    DefaultMetricResolution,
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
	fs.StringVar(&c.EncryptionProviderConfig, "encryption-provider-config", c.EncryptionProviderConfig, "file with an EncryptionConfiguration (apiserver.config.k8s.io/v1) saying which resources are encrypted in etcd, and how")
	fs.StringVar(&c.AuditLogPath, "audit-log-path", c.AuditLogPath, "file the audit log (audit.k8s.io/v1 Events, JSON lines) is appended to; \"-\" for standard output; no audit log when empty")
	fs.StringVar(&c.AuditPolicyFile, "audit-policy-file", c.AuditPolicyFile, "file with an audit Policy (audit.k8s.io/v1); default: every request at Metadata level")
	fs.IntVar(&c.AuditLogMaxAge, "audit-log-maxage", c.AuditLogMaxAge, "days to keep rotated audit log files (0: no limit)")
	fs.IntVar(&c.AuditLogMaxBackups, "audit-log-maxbackup", c.AuditLogMaxBackups, "rotated audit log files to keep (0: no limit)")
	fs.IntVar(&c.AuditLogMaxSize, "audit-log-maxsize", c.AuditLogMaxSize, "size in megabytes at which the audit log is rotated (0: never)")
	fs.BoolVar(&c.EnableBootstrapTokenAuth, "enable-bootstrap-token-auth", c.EnableBootstrapTokenAuth, "let bootstrap tokens (kube-system Secrets of type bootstrap.kubernetes.io/token) authenticate as system:bootstrap:<token id>, for agents joining the cluster")
	fs.StringVar(&c.KubeletClientCertificate, "kubelet-client-certificate", c.KubeletClientCertificate, "client certificate (PEM) for the agents' kubelet API; when set, logs, exec, attach and port forwarding reach the agents over TLS")
	fs.StringVar(&c.KubeletClientKey, "kubelet-client-key", c.KubeletClientKey, "key (PEM) of --kubelet-client-certificate")
	fs.StringVar(&c.KubeletCertificateAuthority, "kubelet-certificate-authority", c.KubeletCertificateAuthority, "CA bundle (PEM) the agents' serving certificates are checked against (default: not checked)")
	fs.DurationVar(&c.MetricResolution, "metric-resolution", c.MetricResolution, "how often the agents' /metrics/resource are scraped for the resource metrics API (metrics.k8s.io: kubectl top, HorizontalPodAutoscalers); CPU usage is the rate over the last two scrapes")
	fs.Int64Var(&c.DefaultUnreachableTolerationSeconds, "default-unreachable-toleration-seconds", c.DefaultUnreachableTolerationSeconds, "tolerationSeconds of the unreachable NoExecute toleration added to pods that have none")
	fs.StringVar(&c.ServiceAccountSigningKeyFile, "service-account-signing-key-file", c.ServiceAccountSigningKeyFile, "PEM private key (RSA or ECDSA) that signs ServiceAccount tokens (default: an RSA key made at first start in <data-dir>/pki/sa.key)")
	fs.StringArrayVar(&c.ServiceAccountKeyFiles, "service-account-key-file", c.ServiceAccountKeyFiles, "PEM file of public (or private) keys that verify ServiceAccount tokens (repeatable; default: the signing key)")
	fs.StringArrayVar(&c.ServiceAccountIssuers, "service-account-issuer", c.ServiceAccountIssuers, "iss of the ServiceAccount tokens issued (the first) and accepted (all; repeatable)")
	fs.StringSliceVar(&c.APIAudiences, "api-audiences", c.APIAudiences, "audiences a token must have one of to reach the API, and the default of TokenRequests (default: the issuers)")
	fs.DurationVar(&c.ServiceAccountMaxTokenExpiration, "service-account-max-token-expiration", c.ServiceAccountMaxTokenExpiration, "longest lifetime a TokenRequest is given (0: as asked)")
	fs.BoolVar(&c.ServiceAccountExtendTokenExpiration, "service-account-extend-token-expiration", c.ServiceAccountExtendTokenExpiration, "give pod-bound tokens asked for 3607 s (the admission plugin's) a year, warning after 3607 s, as kube-apiserver does")
	fs.StringVar(&c.ServiceAccountJWKSURI, "service-account-jwks-uri", c.ServiceAccountJWKSURI, "jwks_uri of /.well-known/openid-configuration (default: https://<advertise-address>:<port>/openid/v1/jwks)")
	fs.BoolVar(&c.AllowPrivileged, "allow-privileged", c.AllowPrivileged, "admit privileged containers (securityContext.privileged); refused as \"disallowed by cluster policy\" otherwise")
	fs.StringSliceVar(&c.DisableAdmissionPlugins, "disable-admission-plugins", c.DisableAdmissionPlugins, "admission plugins to turn off (ServiceAccount, MutatingAdmissionPolicy, MutatingAdmissionWebhook, ValidatingAdmissionPolicy, ValidatingAdmissionWebhook)")
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
	if (c.KubeletClientCertificate == "") != (c.KubeletClientKey == "") {
		return fmt.Errorf("--kubelet-client-certificate and --kubelet-client-key go together")
	}
	if c.MetricResolution <= 0 {
		return fmt.Errorf("--metric-resolution %v: must be positive", c.MetricResolution)
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
		if p != serviceAccountPluginName && !slices.Contains(dynamicAdmissionPlugins, p) {
			return fmt.Errorf("--disable-admission-plugins %q: only %s may be turned off", p, strings.Join(append([]string{serviceAccountPluginName}, dynamicAdmissionPlugins...), ", "))
		}
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
