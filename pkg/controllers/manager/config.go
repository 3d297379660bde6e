package manager

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"minik8s/pkg/controllers/certificates"
	"minik8s/pkg/controllers/loadbalancer"
	"minik8s/pkg/controllers/localpath"
	"minik8s/pkg/controllers/podautoscaler"
	"minik8s/pkg/election"
	"minik8s/pkg/restconfig"
)

// Controller names accepted by --controllers.
const (
	ReplicaSet    = "replicaset"
	Deployment    = "deployment"
	EndpointSlice = "endpointslice"
	// EndpointSliceMirroring is upstream's endpointslice-mirroring-controller,
	// by its alias.
	EndpointSliceMirroring = "endpointslicemirroring"
	GarbageCollector       = "garbagecollector"
	Namespace              = "namespace"
	NodeLifecycle          = "nodelifecycle"
	TaintEviction          = "tainteviction"
	NodeIPAM               = "nodeipam"
	LoadBalancer           = "loadbalancer"
	// ServiceAccount and RootCACertPublisher: upstream's short names for
	// serviceaccount-controller and root-ca-certificate-publisher-controller.
	ServiceAccount      = "serviceaccount"
	RootCACertPublisher = "root-ca-cert-publisher"
	// CronJob and TTLAfterFinished: upstream's short names for
	// cronjob-controller and ttl-after-finished-controller.
	CronJob          = "cronjob"
	TTLAfterFinished = "ttl-after-finished"
	Job              = "job"
	DaemonSet        = "daemonset"
	StatefulSet      = "statefulset"
	// PersistentVolumeBinder is upstream's persistentvolume-binder;
	// LocalPathProvisioner is ours, as k3s ships rancher's.
	PersistentVolumeBinder = "persistentvolume-binder"
	LocalPathProvisioner   = "local-path-provisioner"
	// Disruption and ReplicationController: upstream's disruption-controller
	// and replicationcontroller-controller.
	Disruption            = "disruption"
	ReplicationController = "replicationcontroller"
	// ResourceQuota is upstream's resourcequota-controller.
	ResourceQuota = "resourcequota"
	// ClusterRoleAggregation is upstream's
	// clusterrole-aggregation-controller.
	ClusterRoleAggregation = "clusterrole-aggregation"
	// The CertificateSigningRequest controllers and the bootstrap token
	// cleaner, by upstream's names.
	CSRApproving = "csrapproving"
	CSRSigning   = "csrsigning"
	CSRCleaner   = "csrcleaner"
	TokenCleaner = "tokencleaner"
	// HorizontalPodAutoscaler is upstream's
	// horizontal-pod-autoscaler-controller, by its alias.
	HorizontalPodAutoscaler = "horizontalpodautoscaling"
	// The storage protection controllers: upstream's pvc-protection and
	// pv-protection aliases, and volumeattributesclass-protection-controller.
	PVCProtection = "pvc-protection"
	PVProtection  = "pv-protection"
	VACProtection = "volumeattributesclass-protection"
)

// All lists every controller, in start order.
var All = []string{ReplicaSet, Deployment, EndpointSlice, EndpointSliceMirroring, GarbageCollector, Namespace, NodeLifecycle, TaintEviction, NodeIPAM, LoadBalancer, ServiceAccount, RootCACertPublisher, Job, CronJob, TTLAfterFinished, DaemonSet, StatefulSet, PersistentVolumeBinder, LocalPathProvisioner, ReplicationController, Disruption, ResourceQuota, ClusterRoleAggregation, CSRApproving, CSRSigning, CSRCleaner, TokenCleaner, HorizontalPodAutoscaler, PVCProtection, PVProtection, VACProtection}

// Config holds the controller-manager's settings.
type Config struct {
	Conn *restconfig.Options
	// Controllers as kube-controller-manager takes them: names, "*" for all,
	// "-name" to leave one out.
	Controllers            []string
	NodeMonitorGracePeriod time.Duration
	LBPool                 []string
	ClusterCIDR            string
	NodeCIDRMaskSize       int
	ConcurrentSyncs        int
	QPS                    float32
	Burst                  int
	// LeaderElection: run the controllers only while holding its lease,
	// so that several controller-managers can run and one of them works.
	// On by default, as in kube-controller-manager.
	LeaderElection election.Config
	// UseServiceAccountCredentials gives each controller the identity of
	// its own ServiceAccount in kube-system (ServiceAccountName), as
	// kube-controller-manager's flag of the same name.
	UseServiceAccountCredentials bool
	// RootCAFile is the CA bundle published in every namespace's
	// kube-root-ca.crt (empty: the CA of the connection to the apiserver,
	// if any, else an empty ca.crt).
	RootCAFile string
	// LocalPath configures the local-path provisioner.
	LocalPath localpath.Config
	// Signing is the cluster CA csrsigning signs with.
	Signing certificates.SigningConfig
	// HPA configures the HorizontalPodAutoscaler controller.
	HPA podautoscaler.Config
}

// NewConfig returns the defaults.
func NewConfig() *Config {
	return &Config{
		Conn:                   restconfig.NewOptions(),
		Controllers:            []string{"*"},
		NodeMonitorGracePeriod: 40 * time.Second,
		ClusterCIDR:            "10.244.0.0/16",
		NodeCIDRMaskSize:       24,
		ConcurrentSyncs:        5,
		QPS:                    200,
		Burst:                  400,
		LeaderElection:         election.NewConfig("kube-controller-manager"),
		LocalPath:              localpath.Config{Root: localpath.DefaultRoot, HelperImage: localpath.DefaultHelperImage},
		Signing:                certificates.SigningConfig{Duration: certificates.DefaultSigningDuration},
		HPA:                    podautoscaler.DefaultConfig(),
	}
}

// AddFlags binds the flags.
func (c *Config) AddFlags(fs *pflag.FlagSet) {
	c.Conn.AddFlags(fs)
	fs.StringSliceVar(&c.Controllers, "controllers", c.Controllers,
		fmt.Sprintf("controllers to run: '*' for all, 'name' to enable, '-name' to disable (all: %s)", strings.Join(All, ",")))
	fs.DurationVar(&c.NodeMonitorGracePeriod, "node-monitor-grace-period", c.NodeMonitorGracePeriod,
		"how long a node may go without a heartbeat (Lease renewal) before it is marked Unknown and tainted unreachable")
	fs.StringArrayVar(&c.LBPool, "lb-pool", c.LBPool,
		"addresses for LoadBalancer Services: a range a.b.c.d-a.b.c.e or a CIDR; repeat or comma-separate for more (empty: LoadBalancer Services stay pending)")
	fs.StringVar(&c.ClusterCIDR, "cluster-cidr", c.ClusterCIDR, "CIDR that node pod CIDRs are carved from")
	fs.IntVar(&c.NodeCIDRMaskSize, "node-cidr-mask-size", c.NodeCIDRMaskSize, "prefix length of each node's pod CIDR")
	fs.BoolVar(&c.UseServiceAccountCredentials, "use-service-account-credentials", c.UseServiceAccountCredentials,
		"each controller acts as its own ServiceAccount in kube-system, which RBAC grants only its system:controller:* role")
	fs.StringVar(&c.RootCAFile, "root-ca-file", c.RootCAFile,
		"PEM CA bundle published as ca.crt in every namespace's kube-root-ca.crt ConfigMap (default: the CA the kubeconfig trusts for the apiserver; none over plain HTTP, which publishes an empty ca.crt)")
	fs.StringVar(&c.LocalPath.Root, "local-path-root", c.LocalPath.Root,
		"directory on every node under which the local-path provisioner creates volumes (<root>/<node>/<volume>_<namespace>_<claim>)")
	fs.StringVar(&c.LocalPath.HelperImage, "local-path-helper-image", c.LocalPath.HelperImage,
		"image of the helper pods that remove a deleted local-path volume's data (needs sh and rm)")
	fs.StringVar(&c.Signing.CertFile, "cluster-signing-cert-file", c.Signing.CertFile,
		"PEM CA certificate csrsigning signs approved CertificateSigningRequests with (the agents' client and serving certificates); empty: nothing is signed")
	fs.StringVar(&c.Signing.KeyFile, "cluster-signing-key-file", c.Signing.KeyFile, "PEM key of --cluster-signing-cert-file")
	fs.DurationVar(&c.Signing.Duration, "cluster-signing-duration", c.Signing.Duration,
		"longest validity of the certificates signed (a request's spec.expirationSeconds may ask for less)")
	fs.DurationVar(&c.HPA.SyncPeriod, "horizontal-pod-autoscaler-sync-period", c.HPA.SyncPeriod, "how often every HorizontalPodAutoscaler is evaluated")
	fs.DurationVar(&c.HPA.DownscaleStabilization, "horizontal-pod-autoscaler-downscale-stabilization", c.HPA.DownscaleStabilization,
		"how far back the highest recommendation counts when scaling down (autoscalers without behavior.scaleDown.stabilizationWindowSeconds)")
	fs.Float64Var(&c.HPA.Tolerance, "horizontal-pod-autoscaler-tolerance", c.HPA.Tolerance, "how far from 1 the ratio of usage to target may be without scaling")
	fs.DurationVar(&c.HPA.CPUInitializationPeriod, "horizontal-pod-autoscaler-cpu-initialization-period", c.HPA.CPUInitializationPeriod,
		"how long after a pod starts its CPU usage may be left out")
	fs.DurationVar(&c.HPA.InitialReadinessDelay, "horizontal-pod-autoscaler-initial-readiness-delay", c.HPA.InitialReadinessDelay,
		"how long after a pod starts its readiness changes count as its start-up")
	fs.IntVar(&c.ConcurrentSyncs, "concurrent-syncs", c.ConcurrentSyncs, "workers per controller")
	fs.Float32Var(&c.QPS, "kube-api-qps", c.QPS, "requests per second to the API server")
	fs.IntVar(&c.Burst, "kube-api-burst", c.Burst, "burst of requests to the API server")
	c.LeaderElection.AddFlags(fs, "run the controllers")
}

// Validate checks the flags before anything starts.
func (c *Config) Validate() error {
	var errs []error
	if _, err := c.Enabled(); err != nil {
		errs = append(errs, err)
	}
	if c.NodeMonitorGracePeriod <= 0 {
		errs = append(errs, errors.New("--node-monitor-grace-period must be positive"))
	}
	if _, err := loadbalancer.ParsePool(c.LBPool); err != nil {
		errs = append(errs, fmt.Errorf("--lb-pool: %w", err))
	}
	if _, n, err := net.ParseCIDR(c.ClusterCIDR); err != nil {
		errs = append(errs, fmt.Errorf("--cluster-cidr %q: %w", c.ClusterCIDR, err))
	} else if ones, _ := n.Mask.Size(); c.NodeCIDRMaskSize < ones || c.NodeCIDRMaskSize > 30 {
		errs = append(errs, fmt.Errorf("--node-cidr-mask-size %d must be between /%d (the cluster CIDR's) and 30", c.NodeCIDRMaskSize, ones))
	}
	if c.ConcurrentSyncs < 1 {
		errs = append(errs, errors.New("--concurrent-syncs must be at least 1"))
	}
	if c.QPS <= 0 || c.Burst <= 0 {
		errs = append(errs, errors.New("--kube-api-qps and --kube-api-burst must be positive"))
	}
	if enabled, err := c.Enabled(); err == nil && enabled[LocalPathProvisioner] {
		if err := c.LocalPath.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("--local-path-root/--local-path-helper-image: %w", err))
		}
	}
	if (c.Signing.CertFile == "") != (c.Signing.KeyFile == "") {
		errs = append(errs, errors.New("--cluster-signing-cert-file and --cluster-signing-key-file go together"))
	}
	if c.Signing.Duration <= 0 {
		errs = append(errs, errors.New("--cluster-signing-duration must be positive"))
	}
	errs = append(errs, c.HPA.Validate())
	errs = append(errs, c.LeaderElection.Validate())
	return errors.Join(errs...)
}

// Enabled resolves --controllers to a set of names.
func (c *Config) Enabled() (map[string]bool, error) {
	known := map[string]bool{}
	for _, n := range All {
		known[n] = true
	}
	out := map[string]bool{}
	star := false
	for _, raw := range c.Controllers {
		n := strings.TrimSpace(raw)
		switch {
		case n == "":
		case n == "*":
			star = true
		case strings.HasPrefix(n, "-"):
			if !known[n[1:]] {
				return nil, fmt.Errorf("--controllers: unknown controller %q (known: %s)", n[1:], strings.Join(All, ","))
			}
		default:
			if !known[n] {
				return nil, fmt.Errorf("--controllers: unknown controller %q (known: %s)", n, strings.Join(All, ","))
			}
			out[n] = true
		}
	}
	if star {
		for _, n := range All {
			out[n] = true
		}
	}
	for _, raw := range c.Controllers {
		if n := strings.TrimSpace(raw); strings.HasPrefix(n, "-") {
			delete(out, n[1:])
		}
	}
	return out, nil
}
