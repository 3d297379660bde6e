package kubelet

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"

	"minik8s/pkg/restconfig"
)

// Config is everything the agent needs; NewConfig holds the defaults.
type Config struct {
	Conn *restconfig.Options

	NodeName            string
	NodeIP              string
	PodCIDR             string
	ContainerdAddress   string
	ContainerdNamespace string
	// ContainerLogger is the logging binary's path; empty: found beside
	// the agent's executable or on $PATH.
	ContainerLogger     string
	StateDir            string
	NetnsDir            string
	CNIBinDir           string
	ClusterDNS          string
	ClusterDomain       string
	Capacity            map[string]string
	RegistryMirrors     []string
	InsecureRegistries  []string
	LeaseDuration       time.Duration
	StatusInterval      time.Duration
	Proxy               bool
	ClusterCIDR         string
	ProxyInterface      string
	Listen              string
	AllowedPeers        []string
	CrashLoopMaxBackoff time.Duration
	SyncFrequency       time.Duration
	// RealHost allows touching net.ipv4.ip_forward when the agent runs in the
	// machine's root network namespace (a real host, not a lab node).
	RealHost bool

	// The node's identity, with the kubelet's flags (identity.go).
	// BootstrapKubeconfig holds a bootstrap token to join with;
	// Conn.Kubeconfig is where the agent's own kubeconfig is written.
	BootstrapKubeconfig string
	// CertDir holds the client certificates (kubelet-client-*.pem) and
	// the self-signed serving certificate; default StateDir/pki.
	CertDir            string
	RotateCertificates bool
	// ClientCAFile turns the agent's API to TLS with authentication
	// (client certificates of this CA, bearer tokens through TokenReview)
	// and authorization (SubjectAccessReview); unset, the API is plain
	// HTTP limited to AllowedPeers.
	ClientCAFile      string
	TLSCertFile       string
	TLSPrivateKeyFile string
	AnonymousAuth     bool
	// RotateServerCertificates asks for the API's serving certificate
	// through a kubelet-serving CertificateSigningRequest.
	RotateServerCertificates bool
}

// NewConfig returns the defaults.
func NewConfig() *Config {
	host, _ := os.Hostname()
	return &Config{
		Conn:                restconfig.NewOptions(),
		NodeName:            strings.ToLower(host),
		ContainerdAddress:   "/run/containerd/containerd.sock",
		ContainerdNamespace: "minik8s",
		StateDir:            "/var/lib/minik8s/kubelet",
		NetnsDir:            "/run/minik8s/netns",
		CNIBinDir:           "/usr/lib/cni",
		ClusterDomain:       "cluster.local",
		Capacity:            map[string]string{},
		LeaseDuration:       40 * time.Second,
		StatusInterval:      10 * time.Second,
		Proxy:               true,
		ClusterCIDR:         "10.244.0.0/16",
		ProxyInterface:      "eth0",
		Listen:              ":10250",
		CrashLoopMaxBackoff: 5 * time.Minute,
		SyncFrequency:       10 * time.Second,
	}
}

// AddFlags binds the flags to c.
func (c *Config) AddFlags(fs *pflag.FlagSet) {
	c.Conn.AddFlags(fs)
	fs.StringVar(&c.NodeName, "node-name", c.NodeName, "name of this Node")
	fs.StringVar(&c.NodeIP, "node-ip", c.NodeIP, "this node's InternalIP (default: the address of the interface holding the default route)")
	fs.StringVar(&c.PodCIDR, "pod-cidr", c.PodCIDR, "pod range of this node, written to the Node's spec.podCIDR; empty waits for node IPAM")
	fs.StringVar(&c.ContainerdAddress, "containerd-address", c.ContainerdAddress, "containerd's gRPC socket")
	fs.StringVar(&c.ContainerdNamespace, "containerd-namespace", c.ContainerdNamespace, "containerd namespace of this agent (one per agent when several share a containerd)")
	fs.StringVar(&c.ContainerLogger, "container-logger", c.ContainerLogger, "path of the container-logger binary the shims start for container output (default: beside this executable, else on $PATH)")
	fs.StringVar(&c.StateDir, "state-dir", c.StateDir, "directory for pod files, logs, volumes and CNI state")
	fs.StringVar(&c.NetnsDir, "netns-dir", c.NetnsDir, "directory for pod network namespace files (a subdirectory per node); must be visible to runc")
	fs.StringVar(&c.CNIBinDir, "cni-bin-dir", c.CNIBinDir, "directory of the CNI plugins")
	fs.StringVar(&c.ClusterDNS, "cluster-dns", c.ClusterDNS, "DNS server for pods; empty gives pods the node's resolv.conf")
	fs.StringVar(&c.ClusterDomain, "cluster-domain", c.ClusterDomain, "cluster domain for the pods' DNS search path")
	fs.StringToStringVar(&c.Capacity, "capacity", c.Capacity, "node capacity, e.g. cpu=2,memory=4Gi,pods=110 (default read from the machine)")
	fs.StringArrayVar(&c.RegistryMirrors, "registry-mirror", c.RegistryMirrors, "HOST=URL: pull images of HOST from URL, e.g. docker.io=http://10.200.0.1:5000 (repeatable)")
	fs.StringArrayVar(&c.InsecureRegistries, "insecure-registry", c.InsecureRegistries, "HOST:PORT spoken to in plain HTTP (repeatable)")
	fs.DurationVar(&c.LeaseDuration, "lease-duration", c.LeaseDuration, "node Lease duration; renewed every quarter of it")
	fs.DurationVar(&c.StatusInterval, "node-status-interval", c.StatusInterval, "how often the Node status is posted")
	fs.BoolVar(&c.Proxy, "proxy", c.Proxy, "run the Service proxy")
	fs.StringVar(&c.ClusterCIDR, "cluster-cidr", c.ClusterCIDR, "pod range of the whole cluster (for the Service proxy)")
	fs.StringVar(&c.ProxyInterface, "proxy-interface", c.ProxyInterface, "node interface that holds LoadBalancer IPs")
	fs.StringVar(&c.Listen, "listen", c.Listen, "address of the agent's API (logs, exec, metrics)")
	fs.StringArrayVar(&c.AllowedPeers, "allowed-peer", c.AllowedPeers, "IP allowed to call the agent's API (repeatable; loopback always allowed)")
	fs.DurationVar(&c.CrashLoopMaxBackoff, "crashloop-max-backoff", c.CrashLoopMaxBackoff, "cap of the restart back-off (10s doubling)")
	fs.DurationVar(&c.SyncFrequency, "sync-frequency", c.SyncFrequency, "how often every pod is resynced even without events")
	fs.StringVar(&c.BootstrapKubeconfig, "bootstrap-kubeconfig", c.BootstrapKubeconfig, "kubeconfig with a bootstrap token: when --kubeconfig is missing or its certificate expired, the agent asks for a client certificate with it and writes --kubeconfig")
	fs.StringVar(&c.CertDir, "cert-dir", c.CertDir, "directory of the agent's certificates (default <state-dir>/pki)")
	fs.BoolVar(&c.RotateCertificates, "rotate-certificates", c.RotateCertificates, "renew the client certificate through a CertificateSigningRequest before it expires")
	fs.StringVar(&c.ClientCAFile, "client-ca-file", c.ClientCAFile, "CA bundle of client certificates the agent's API accepts; when set, the API is served over TLS and every request is authenticated (client certificate or TokenReview) and authorized (SubjectAccessReview)")
	fs.StringVar(&c.TLSCertFile, "tls-cert-file", c.TLSCertFile, "serving certificate of the agent's API (default: a self-signed one in --cert-dir)")
	fs.StringVar(&c.TLSPrivateKeyFile, "tls-private-key-file", c.TLSPrivateKeyFile, "key of --tls-cert-file")
	fs.BoolVar(&c.RotateServerCertificates, "rotate-server-certificates", c.RotateServerCertificates, "with --client-ca-file, ask for the API's serving certificate through a kubernetes.io/kubelet-serving CertificateSigningRequest (approved by an admin) and renew it, instead of a self-signed one")
	fs.BoolVar(&c.AnonymousAuth, "anonymous-auth", c.AnonymousAuth, "with --client-ca-file, let unauthenticated requests through as system:anonymous (they are still authorized)")
	fs.BoolVar(&c.RealHost, "real-host", c.RealHost, "the agent runs in the machine's root network namespace on purpose: allow it to enable net.ipv4.ip_forward there")
}

// Validate checks the configuration before anything starts.
func (c *Config) Validate() error {
	var errs []error
	if c.NodeName == "" {
		errs = append(errs, errors.New("--node-name is required"))
	}
	if c.NodeIP != "" && net.ParseIP(c.NodeIP) == nil {
		errs = append(errs, fmt.Errorf("--node-ip %q is not an IP address", c.NodeIP))
	}
	if c.PodCIDR != "" {
		if _, _, err := net.ParseCIDR(c.PodCIDR); err != nil {
			errs = append(errs, fmt.Errorf("--pod-cidr: %w", err))
		}
	}
	if c.ClusterDNS != "" && net.ParseIP(c.ClusterDNS) == nil {
		errs = append(errs, fmt.Errorf("--cluster-dns %q is not an IP address", c.ClusterDNS))
	}
	for k, v := range c.Capacity {
		if _, err := resource.ParseQuantity(v); err != nil {
			errs = append(errs, fmt.Errorf("--capacity %s=%s: %w", k, v, err))
		}
	}
	if _, err := parseMirrors(c.RegistryMirrors); err != nil {
		errs = append(errs, err)
	}
	for _, p := range c.AllowedPeers {
		if net.ParseIP(p) == nil {
			errs = append(errs, fmt.Errorf("--allowed-peer %q is not an IP address", p))
		}
	}
	if c.LeaseDuration < time.Second {
		errs = append(errs, errors.New("--lease-duration must be at least 1s"))
	}
	if c.CrashLoopMaxBackoff <= 0 || c.SyncFrequency <= 0 || c.StatusInterval <= 0 {
		errs = append(errs, errors.New("--crashloop-max-backoff, --sync-frequency and --node-status-interval must be positive"))
	}
	if c.StateDir == "" || c.NetnsDir == "" {
		errs = append(errs, errors.New("--state-dir and --netns-dir must not be empty"))
	}
	if c.CertDir == "" {
		c.CertDir = filepath.Join(c.StateDir, "pki")
	}
	if c.BootstrapKubeconfig != "" && c.Conn.Kubeconfig == "" {
		errs = append(errs, errors.New("--bootstrap-kubeconfig needs --kubeconfig: where the agent writes its own kubeconfig"))
	}
	if c.RotateCertificates && c.BootstrapKubeconfig == "" {
		errs = append(errs, errors.New("--rotate-certificates needs --bootstrap-kubeconfig"))
	}
	if c.RotateServerCertificates && (c.ClientCAFile == "" || c.TLSCertFile != "") {
		errs = append(errs, errors.New("--rotate-server-certificates needs --client-ca-file and no --tls-cert-file"))
	}
	if (c.TLSCertFile == "") != (c.TLSPrivateKeyFile == "") {
		errs = append(errs, errors.New("--tls-cert-file and --tls-private-key-file go together"))
	}
	return errors.Join(errs...)
}

// parseMirrors reads HOST=URL pairs.
func parseMirrors(in []string) (map[string]string, error) {
	out := map[string]string{}
	for _, m := range in {
		host, url, ok := strings.Cut(m, "=")
		if !ok || host == "" || !(strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://")) {
			return nil, fmt.Errorf("--registry-mirror %q: want HOST=http(s)://ADDRESS", m)
		}
		out[host] = strings.TrimSuffix(url, "/")
	}
	return out, nil
}

func goarch() string { return runtime.GOARCH }
