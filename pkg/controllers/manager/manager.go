package manager

import (
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
	"k8s.io/controller-manager/pkg/clientbuilder"
	"k8s.io/klog/v2"

	"minik8s/pkg/controllers/certificates"
	"minik8s/pkg/controllers/clusterroleaggregation"
	"minik8s/pkg/controllers/cronjob"
	"minik8s/pkg/controllers/daemonset"
	"minik8s/pkg/controllers/deployment"
	"minik8s/pkg/controllers/disruption"
	"minik8s/pkg/controllers/endpointslice"
	"minik8s/pkg/controllers/garbagecollector"
	"minik8s/pkg/controllers/job"
	"minik8s/pkg/controllers/loadbalancer"
	"minik8s/pkg/controllers/localpath"
	"minik8s/pkg/controllers/namespace"
	"minik8s/pkg/controllers/nodeipam"
	"minik8s/pkg/controllers/nodelifecycle"
	"minik8s/pkg/controllers/podautoscaler"
	"minik8s/pkg/controllers/pvbinder"
	"minik8s/pkg/controllers/replicaset"
	"minik8s/pkg/controllers/resourcequota"
	"minik8s/pkg/controllers/rootcacertpublisher"
	"minik8s/pkg/controllers/serviceaccount"
	"minik8s/pkg/controllers/statefulset"
	"minik8s/pkg/controllers/storageprotection"
	"minik8s/pkg/controllers/tokencleaner"
	"minik8s/pkg/controllers/ttlafterfinished"
	"minik8s/pkg/election"
)

// NewCommand is the controller-manager command.
func NewCommand(ctx context.Context) *cobra.Command {
	cfg := NewConfig()
	cmd := &cobra.Command{
		Use:          "controller-manager",
		Short:        "Run the minik8s controllers (ReplicaSet, Deployment, EndpointSlice, GC, namespace, node lifecycle, IPAM, LoadBalancer, ServiceAccount, root CA publisher, Job, CronJob, TTL after finished, DaemonSet, StatefulSet, PersistentVolume binder, local-path provisioner, ReplicationController, PodDisruptionBudget, ResourceQuota, ClusterRole aggregation, CertificateSigningRequest approving/signing/cleaning, bootstrap token cleaner, HorizontalPodAutoscaler)",
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.Validate(); err != nil {
				return err
			}
			cfg.Conn.QPS, cfg.Conn.Burst = cfg.QPS, cfg.Burst
			rc, err := cfg.Conn.Load()
			if err != nil {
				return err
			}
			return Run(ctx, rc, cfg)
		},
	}
	cfg.AddFlags(cmd.Flags())
	return cmd
}

// runner is what every controller provides.
type runner interface {
	Run(ctx context.Context, workers int)
}

// Run starts the enabled controllers against rc and blocks until ctx ends.
// rc's QPS and Burst are overridden by cfg's.
func Run(ctx context.Context, rc *rest.Config, cfg *Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	rc = rest.CopyConfig(rc)
	rc.QPS, rc.Burst = cfg.QPS, cfg.Burst
	rc.UserAgent = "minik8s-controller-manager"
	// Each controller gets its own client, hence its own QPS budget, as in
	// kube-controller-manager: a busy EndpointSlice controller must not
	// starve the ReplicaSet controller. With --use-service-account-credentials
	// each also acts as its own ServiceAccount in kube-system (tokens from
	// TokenRequests, renewed before they expire), so RBAC grants it only
	// its system:controller:* role; the informers and leader election stay
	// the manager's own identity, as upstream's.
	rootClient, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	var builder clientbuilder.ControllerClientBuilder
	if cfg.UseServiceAccountCredentials {
		builder = clientbuilder.NewDynamicClientBuilder(rest.AnonymousClientConfig(rc), rootClient.CoreV1(), metav1.NamespaceSystem)
	}
	configFor := func(name string) (*rest.Config, error) {
		c := rest.CopyConfig(rc)
		if builder != nil && name != sharedInformers {
			sa, err := builder.Config(ServiceAccountName(name))
			if err != nil {
				return nil, fmt.Errorf("credentials of %s: %w", name, err)
			}
			c = sa
			c.QPS, c.Burst = rc.QPS, rc.Burst
		}
		c.UserAgent = rc.UserAgent + "/" + name
		return c, nil
	}
	clientFor := func(name string) (kubernetes.Interface, error) {
		c, err := configFor(name)
		if err != nil {
			return nil, err
		}
		cs, err := kubernetes.NewForConfig(c)
		if err != nil {
			return nil, fmt.Errorf("creating client for %s: %w", name, err)
		}
		return cs, nil
	}
	client, err := clientFor(sharedInformers)
	if err != nil {
		return err
	}
	metadataFor := func(name string) (metadata.Interface, error) {
		c, err := configFor(name)
		if err != nil {
			return nil, err
		}
		md, err := metadata.NewForConfig(c)
		if err != nil {
			return nil, fmt.Errorf("creating metadata client for %s: %w", name, err)
		}
		return md, nil
	}
	enabled, _ := cfg.Enabled()
	factory := informers.NewSharedInformerFactory(client, 0)
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	recorder := func(component string) record.EventRecorder {
		return broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
	}

	deps := controllerDeps{ctx: ctx, cfg: cfg, rc: rc, factory: factory, recorder: recorder, metadataFor: metadataFor}
	var runners []runner
	var names []string
	for _, name := range All {
		if !enabled[name] {
			continue
		}
		cs, err := clientFor(name)
		if err != nil {
			return err
		}
		// Controllers that build their own clients build them from
		// their own credentials.
		if deps.rc, err = configFor(name); err != nil {
			return err
		}
		r, err := newController(name, cs, deps)
		if err != nil {
			return err
		}
		runners = append(runners, r)
		names = append(names, name)
	}
	run := func(ctx context.Context) {
		klog.InfoS("starting controllers", "controllers", names, "server", rc.Host)
		factory.Start(ctx.Done())
		var wg sync.WaitGroup
		for _, r := range runners {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.Run(ctx, cfg.ConcurrentSyncs)
			}()
		}
		<-ctx.Done()
		wg.Wait()
		factory.Shutdown()
	}
	// As kube-controller-manager: informers start once leading, and a
	// manager that loses its lease returns (and exits) rather than act on
	// caches another leader has changed since.
	return election.Run(ctx, client, cfg.LeaderElection, recorder("kube-controller-manager"), run)
}

// sharedInformers names the manager's own client: informers, events,
// leader election.
const sharedInformers = "shared-informers"

// ServiceAccountName is the kube-system ServiceAccount controller name
// acts as with --use-service-account-credentials: upstream's, whose
// system:controller:<name> role the bootstrap policy holds. The
// LoadBalancer controller writes what the service controller writes, the
// local-path provisioner what the PersistentVolume binder does, and the
// IPAM and taint eviction controllers are the node controller's in
// upstream.
func ServiceAccountName(controller string) string {
	switch controller {
	case ReplicaSet:
		return "replicaset-controller"
	case ReplicationController:
		return "replication-controller"
	case Deployment:
		return "deployment-controller"
	case DaemonSet:
		return "daemon-set-controller"
	case StatefulSet:
		return "statefulset-controller"
	case EndpointSlice:
		return "endpointslice-controller"
	case EndpointSliceMirroring:
		return "endpointslicemirroring-controller"
	case GarbageCollector:
		return "generic-garbage-collector"
	case Namespace:
		return "namespace-controller"
	case NodeLifecycle, TaintEviction, NodeIPAM:
		return "node-controller"
	case LoadBalancer:
		return "service-controller"
	case ServiceAccount:
		return "service-account-controller"
	case RootCACertPublisher:
		return "root-ca-cert-publisher"
	case Job:
		return "job-controller"
	case CronJob:
		return "cronjob-controller"
	case TTLAfterFinished:
		return "ttl-after-finished-controller"
	case PersistentVolumeBinder, LocalPathProvisioner:
		return "persistent-volume-binder"
	case ResourceQuota:
		return "resourcequota-controller"
	case Disruption:
		return "disruption-controller"
	case ClusterRoleAggregation:
		return "clusterrole-aggregation-controller"
	case CSRApproving, CSRSigning, CSRCleaner:
		return "certificate-controller"
	case TokenCleaner:
		return "token-cleaner"
	case HorizontalPodAutoscaler:
		return "horizontal-pod-autoscaler"
	case PVCProtection:
		return "pvc-protection-controller"
	case PVProtection:
		return "pv-protection-controller"
	case VACProtection:
		return "volumeattributesclass-protection-controller"
	}
	return controller
}

// controllerDeps is what the controllers are built from besides their
// own client.
type controllerDeps struct {
	// ctx bounds what the controllers start while being built (the
	// autoscaler's event broadcaster).
	ctx         context.Context
	cfg         *Config
	rc          *rest.Config
	factory     informers.SharedInformerFactory
	recorder    func(component string) record.EventRecorder
	metadataFor func(name string) (metadata.Interface, error)
}

// newController builds the controller called name (one of All).
func newController(name string, cs kubernetes.Interface, deps controllerDeps) (runner, error) {
	cfg, rc, factory, recorder, metadataFor := deps.cfg, deps.rc, deps.factory, deps.recorder, deps.metadataFor
	switch name {
	case ReplicaSet:
		return replicaset.New(cs, factory, recorder("replicaset-controller")), nil
	case ReplicationController:
		return replicaset.NewReplicationManager(cs, factory, recorder("replication-controller")), nil
	case Deployment:
		return deployment.New(cs, factory, recorder("deployment-controller")), nil
	case DaemonSet:
		return daemonset.New(cs, factory, recorder("daemonset-controller")), nil
	case StatefulSet:
		return statefulset.New(cs, factory, recorder("statefulset-controller")), nil
	case EndpointSlice:
		return endpointslice.New(cs, factory, recorder("endpointslice-controller")), nil
	case EndpointSliceMirroring:
		return endpointslice.NewMirroring(deps.ctx, cs, factory), nil
	case GarbageCollector:
		gc, err := garbagecollector.NewForConfig(rc, recorder("garbage-collector-controller"))
		if err != nil {
			return nil, err
		}
		return gc, nil
	case Namespace:
		md, err := metadataFor(name)
		if err != nil {
			return nil, err
		}
		return namespace.New(cs, md, factory), nil
	case NodeLifecycle:
		return nodelifecycle.New(cs, factory, recorder("node-controller"), nodelifecycle.Config{GracePeriod: cfg.NodeMonitorGracePeriod}), nil
	case TaintEviction:
		te, err := nodelifecycle.NewTaintEviction(cs, factory, recorder("taint-eviction-controller"), nil)
		if err != nil {
			return nil, err
		}
		return te, nil
	case NodeIPAM:
		_, cidr, err := net.ParseCIDR(cfg.ClusterCIDR)
		if err != nil {
			return nil, err
		}
		ipam, err := nodeipam.New(cs, factory, recorder("node-ipam-controller"), cidr, cfg.NodeCIDRMaskSize)
		if err != nil {
			return nil, err
		}
		return ipam, nil
	case LoadBalancer:
		pool, err := loadbalancer.ParsePool(cfg.LBPool)
		if err != nil {
			return nil, err
		}
		return loadbalancer.New(cs, factory, recorder("loadbalancer-ip-controller"), pool), nil
	case ServiceAccount:
		return serviceaccount.New(cs, factory), nil
	case ResourceQuota:
		md, err := metadataFor(name)
		if err != nil {
			return nil, err
		}
		return resourcequota.New(cs, factory, resourcequota.NewMetadataCounter(md, cs.Discovery())), nil
	case RootCACertPublisher:
		ca, err := rootcacertpublisher.RootCA(cfg.RootCAFile, rc)
		if err != nil {
			return nil, err
		}
		return rootcacertpublisher.New(cs, factory, ca), nil
	case Job:
		return job.New(cs, factory, recorder("job-controller")), nil
	case CronJob:
		cj, err := cronjob.New(cs, factory, recorder(cronjob.Name))
		if err != nil {
			return nil, err
		}
		return cj, nil
	case TTLAfterFinished:
		return ttlafterfinished.New(cs, factory), nil
	case PersistentVolumeBinder:
		return pvbinder.New(cs, factory, recorder(pvbinder.Component)), nil
	case LocalPathProvisioner:
		return localpath.New(cs, factory, recorder(localpath.Provisioner), cfg.LocalPath), nil
	case ClusterRoleAggregation:
		return clusterroleaggregation.New(cs.RbacV1(), factory), nil
	case Disruption:
		// Upstream records its events as "controllermanager".
		dc, err := disruption.NewForConfig(rc, cs, factory, recorder("controllermanager"))
		if err != nil {
			return nil, err
		}
		return dc, nil
	case CSRApproving:
		return certificates.NewApprover(cs, factory), nil
	case CSRSigning:
		return certificates.NewSigner(cs, factory, cfg.Signing)
	case CSRCleaner:
		return certificates.NewCleaner(cs, factory), nil
	case TokenCleaner:
		return tokencleaner.New(cs, factory)
	case HorizontalPodAutoscaler:
		return podautoscaler.New(deps.ctx, rc, cs, factory, cfg.HPA)
	case PVCProtection:
		return storageprotection.NewClaims(cs, factory)
	case PVProtection:
		return storageprotection.NewVolumes(cs, factory)
	case VACProtection:
		return storageprotection.NewAttributesClasses(cs, factory)
	}
	return nil, fmt.Errorf("unknown controller %q", name)
}
