package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"

	"minik8s/pkg/election"
	"minik8s/pkg/restconfig"
)

// Config is the scheduler's configuration; NewConfig holds the defaults.
type Config struct {
	Conn *restconfig.Options
	// Parallelism is how many binds (and status writes) run at once.
	Parallelism int
	// SchedulerNames are schedulerName values handled besides
	// "default-scheduler" and "minik8s".
	SchedulerNames []string
	// LeaderElection: schedule only while holding its lease, so that
	// several schedulers can run and one of them works. On by default, as
	// in kube-scheduler.
	LeaderElection election.Config
	// PercentageOfNodesToScore: 0 is adaptive, as upstream.
	PercentageOfNodesToScore int32
	// AssumeTTL is how long a bound but unconfirmed assumption lives.
	AssumeTTL time.Duration
	// BackoffInitial doubles per failed attempt up to BackoffMax.
	BackoffInitial, BackoffMax time.Duration
	// VolumeBindTimeout bounds how long a pod waits, on its chosen node,
	// for the claims bound on its behalf (upstream's bind-timeout-seconds);
	// then it is scheduled again.
	VolumeBindTimeout time.Duration
}

// NewConfig returns the defaults.
func NewConfig() *Config {
	conn := restconfig.NewOptions()
	conn.QPS, conn.Burst = 5000, 10000
	return &Config{
		Conn:           conn,
		Parallelism:    16,
		LeaderElection: election.NewConfig("kube-scheduler"),
		AssumeTTL:      30 * time.Second,
		BackoffInitial: time.Second,
		BackoffMax:     10 * time.Second,

		VolumeBindTimeout: 30 * time.Second,
	}
}

// AddFlags binds the config to fs.
func (c *Config) AddFlags(fs *pflag.FlagSet) {
	c.Conn.AddFlags(fs)
	fs.Float32Var(&c.Conn.QPS, "kube-api-qps", c.Conn.QPS, "client-side limit of requests per second to the API server")
	fs.IntVar(&c.Conn.Burst, "kube-api-burst", c.Conn.Burst, "client-side burst of requests to the API server")
	fs.IntVar(&c.Parallelism, "parallelism", c.Parallelism, "how many bind calls run at once")
	fs.StringSliceVar(&c.SchedulerNames, "scheduler-name", c.SchedulerNames, `also schedule pods whose spec.schedulerName is this (besides "default-scheduler" and "minik8s"); repeatable`)
	c.LeaderElection.AddFlags(fs, "schedule")
	fs.Int32Var(&c.PercentageOfNodesToScore, "percentage-of-nodes-to-score", c.PercentageOfNodesToScore, "share of nodes to find feasible before scoring (0: adaptive, 50% down to 5% as the cluster grows, at least 100 nodes)")
	fs.DurationVar(&c.AssumeTTL, "assume-ttl", c.AssumeTTL, "how long a bound pod stays assumed on its node before the watch confirms it")
	fs.DurationVar(&c.BackoffInitial, "backoff-initial", c.BackoffInitial, "first retry delay of an unschedulable pod (doubles per attempt)")
	fs.DurationVar(&c.VolumeBindTimeout, "volume-bind-timeout", c.VolumeBindTimeout, "how long a pod waits on its chosen node for its WaitForFirstConsumer claims to be bound (provisioned) before it is scheduled again")
	fs.DurationVar(&c.BackoffMax, "backoff-max", c.BackoffMax, "longest retry delay of an unschedulable pod")
}

// Validate checks the config before anything starts.
func (c *Config) Validate() error {
	var errs []error
	if c.Parallelism < 1 {
		errs = append(errs, fmt.Errorf("--parallelism must be at least 1, got %d", c.Parallelism))
	}
	if c.PercentageOfNodesToScore < 0 || c.PercentageOfNodesToScore > 100 {
		errs = append(errs, fmt.Errorf("--percentage-of-nodes-to-score must be 0..100, got %d", c.PercentageOfNodesToScore))
	}
	if c.Conn.QPS <= 0 || c.Conn.Burst < 1 {
		errs = append(errs, fmt.Errorf("--kube-api-qps and --kube-api-burst must be positive"))
	}
	if c.AssumeTTL <= 0 {
		errs = append(errs, fmt.Errorf("--assume-ttl must be positive"))
	}
	if c.VolumeBindTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--volume-bind-timeout must be positive"))
	}
	if c.BackoffInitial <= 0 || c.BackoffMax < c.BackoffInitial {
		errs = append(errs, fmt.Errorf("--backoff-initial must be positive and at most --backoff-max"))
	}
	for _, n := range c.SchedulerNames {
		if n == "" {
			errs = append(errs, fmt.Errorf("--scheduler-name must not be empty"))
		}
	}
	errs = append(errs, c.LeaderElection.Validate())
	return errors.Join(errs...)
}

// NewCommand returns the scheduler component's command.
func NewCommand(ctx context.Context) *cobra.Command {
	cfg := NewConfig()
	cmd := &cobra.Command{
		Use:   "scheduler",
		Short: "Bind pending pods to nodes",
		Long: `scheduler watches pods with no spec.nodeName whose schedulerName is
"default-scheduler" or "minik8s" (or one given with --scheduler-name), chooses
a node for each (readiness, cordon, taints, nodeSelector and node affinity,
host ports, cpu/memory/pods/ephemeral-storage, the node affinity of bound
PersistentVolumes; least-allocated, balanced, spread by owner, preferred
affinity) and binds it through pods/binding. Claims of a WaitForFirstConsumer
class get the chosen node (volume.kubernetes.io/selected-node) or a free
volume there, and the pod is bound once they are.
Pods that fit nowhere get PodScheduled=False with the reasons, and are retried.

With --leader-elect (the default, as in kube-scheduler) several schedulers may
run: they compete for the Lease kube-system/kube-scheduler, only its holder
schedules, a standby takes over when the holder stops (at once if it stopped
cleanly, after --leader-elect-lease-duration if it died), and a scheduler that
fails to renew its lease exits. --leader-elect=false schedules without a lease.`,
		SilenceUsage: true,
		Args:         cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.Validate(); err != nil {
				return err
			}
			return Run(cmd.Context(), cfg)
		},
	}
	cmd.SetContext(ctx)
	cfg.AddFlags(cmd.Flags())
	return cmd
}

// Run connects to the API server and schedules until ctx is done.
func Run(ctx context.Context, cfg *Config) error {
	rc, err := cfg.Conn.Load()
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("building client for %s: %w", rc.Host, err)
	}
	return New(client, cfg).RunElected(ctx, cfg.LeaderElection)
}
