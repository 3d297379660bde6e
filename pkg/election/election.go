// Package election runs a component's work only while it holds a Lease, so
// that several copies of the scheduler or the controller-manager can run and
// one of them works at a time, as kube-scheduler's and
// kube-controller-manager's --leader-elect do. It wraps client-go's
// leaderelection with the flags, defaults and checks both components share.
package election

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
)

// Config says whether to elect, which Lease the candidates compete for, and
// how often, with upstream's flag names and defaults.
type Config struct {
	// Enabled: work only while holding the Lease.
	Enabled         bool
	Namespace, Name string
	// LeaseDuration is how long a standby waits, after it last saw the
	// lease change, before it takes the lease over.
	LeaseDuration time.Duration
	// RenewDeadline is how long the leader keeps trying to renew before it
	// gives up leading.
	RenewDeadline time.Duration
	// RetryPeriod is how often candidates try to acquire or renew.
	RetryPeriod time.Duration
}

// NewConfig returns upstream's defaults for the Lease kube-system/name:
// enabled, 15s, 10s, 2s.
func NewConfig(name string) Config {
	return Config{
		Enabled:       true,
		Namespace:     "kube-system",
		Name:          name,
		LeaseDuration: 15 * time.Second,
		RenewDeadline: 10 * time.Second,
		RetryPeriod:   2 * time.Second,
	}
}

// AddFlags binds the --leader-elect flags; what is the component that
// works while it leads ("schedule", "run the controllers").
func (c *Config) AddFlags(fs *pflag.FlagSet, what string) {
	fs.BoolVar(&c.Enabled, "leader-elect", c.Enabled, what+" only while holding a Lease, so that one of several copies works at a time (standbys take over)")
	fs.DurationVar(&c.LeaseDuration, "leader-elect-lease-duration", c.LeaseDuration, "how long a standby waits after it last saw the lease renewed before it takes over")
	fs.DurationVar(&c.RenewDeadline, "leader-elect-renew-deadline", c.RenewDeadline, "how long the leader tries to renew the lease before it stops leading (and exits)")
	fs.DurationVar(&c.RetryPeriod, "leader-elect-retry-period", c.RetryPeriod, "how often candidates try to acquire or renew the lease")
	fs.StringVar(&c.Namespace, "leader-elect-resource-namespace", c.Namespace, "namespace of the Lease")
	fs.StringVar(&c.Name, "leader-elect-resource-name", c.Name, "name of the Lease")
}

// Validate checks what client-go's elector needs: LeaseDuration >
// RenewDeadline > 1.2 × RetryPeriod > 0. Nothing is checked when election
// is off.
func (c Config) Validate() error {
	if !c.Enabled {
		return nil
	}
	var errs []error
	if c.Namespace == "" || c.Name == "" {
		errs = append(errs, errors.New("--leader-elect-resource-namespace and --leader-elect-resource-name must not be empty"))
	}
	if c.RetryPeriod <= 0 {
		errs = append(errs, fmt.Errorf("--leader-elect-retry-period must be positive, got %v", c.RetryPeriod))
	}
	if float64(c.RenewDeadline) <= leaderelection.JitterFactor*float64(c.RetryPeriod) {
		errs = append(errs, fmt.Errorf("--leader-elect-renew-deadline (%v) must be more than %v times --leader-elect-retry-period (%v)", c.RenewDeadline, leaderelection.JitterFactor, c.RetryPeriod))
	}
	if c.LeaseDuration <= c.RenewDeadline {
		errs = append(errs, fmt.Errorf("--leader-elect-lease-duration (%v) must be more than --leader-elect-renew-deadline (%v)", c.LeaseDuration, c.RenewDeadline))
	}
	return errors.Join(errs...)
}

// ErrLostLease is returned by Run when the candidate stopped leading before
// its context ended (it could not renew the lease in time).
var ErrLostLease = errors.New("lost the leader election lease")

// Run competes for the Lease and calls lead once this process holds it,
// with a context that ends when leadership does. It returns when ctx ends
// (handing the lease back, so a successor need not wait for it to expire)
// or with ErrLostLease when the lease was lost: the caller should stop
// rather than carry on from caches another leader has since changed under
// it (upstream components exit; a restarted process starts clean). Run
// waits for lead to return before it returns. With election off
// (--leader-elect=false) Run only calls lead with ctx.
func Run(ctx context.Context, client kubernetes.Interface, c Config, recorder resourcelock.EventRecorder, lead func(context.Context)) error {
	if !c.Enabled {
		lead(ctx)
		return nil
	}
	if err := c.Validate(); err != nil {
		return err
	}
	host, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("naming this leader election candidate: %w", err)
	}
	id := host + "_" + string(uuid.NewUUID())
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, c.Namespace, c.Name, client.CoreV1(), client.CoordinationV1(),
		resourcelock.ResourceLockConfig{Identity: id, EventRecorder: recorder})
	if err != nil {
		return fmt.Errorf("making the lease lock %s/%s: %w", c.Namespace, c.Name, err)
	}
	logger := klog.FromContext(ctx).WithValues("lease", klog.KRef(c.Namespace, c.Name), "identity", id)
	leads := make(chan context.Context, 1)
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   c.LeaseDuration,
		RenewDeadline:   c.RenewDeadline,
		RetryPeriod:     c.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            c.Namespace + "/" + c.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			// The elector calls this on a goroutine of its own; the work
			// runs below, where Run can wait for it to finish.
			OnStartedLeading: func(lead context.Context) { leads <- lead },
			OnStoppedLeading: func() {},
			OnNewLeader: func(identity string) {
				logger.Info("New leader", "leader", identity)
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election on %s/%s: %w", c.Namespace, c.Name, err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	elected := make(chan struct{})
	go func() {
		defer close(elected)
		elector.Run(ctx)
	}()
	select {
	case l := <-leads:
		logger.Info("Leading")
		lead(l)
		<-elected // the lease is handed back by now, if ctx ended
	case <-elected:
	}
	if ctx.Err() == nil {
		return fmt.Errorf("%w %s/%s", ErrLostLease, c.Namespace, c.Name)
	}
	return nil
}
