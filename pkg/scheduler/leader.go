package scheduler

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
)

// LeaderElection says which Lease the schedulers of a cluster compete for,
// and how often, with kube-scheduler's names and defaults.
type LeaderElection struct {
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

// NewLeaderElection returns kube-scheduler's defaults: the Lease
// kube-system/kube-scheduler, 15s, 10s, 2s.
func NewLeaderElection() LeaderElection {
	return LeaderElection{
		Namespace:     "kube-system",
		Name:          "kube-scheduler",
		LeaseDuration: 15 * time.Second,
		RenewDeadline: 10 * time.Second,
		RetryPeriod:   2 * time.Second,
	}
}

// Validate checks what client-go's elector needs: LeaseDuration >
// RenewDeadline > 1.2 × RetryPeriod > 0.
func (le LeaderElection) Validate() error {
	var errs []error
	if le.Namespace == "" || le.Name == "" {
		errs = append(errs, errors.New("--leader-elect-resource-namespace and --leader-elect-resource-name must not be empty"))
	}
	if le.RetryPeriod <= 0 {
		errs = append(errs, fmt.Errorf("--leader-elect-retry-period must be positive, got %v", le.RetryPeriod))
	}
	if float64(le.RenewDeadline) <= leaderelection.JitterFactor*float64(le.RetryPeriod) {
		errs = append(errs, fmt.Errorf("--leader-elect-renew-deadline (%v) must be more than %v times --leader-elect-retry-period (%v)", le.RenewDeadline, leaderelection.JitterFactor, le.RetryPeriod))
	}
	if le.LeaseDuration <= le.RenewDeadline {
		errs = append(errs, fmt.Errorf("--leader-elect-lease-duration (%v) must be more than --leader-elect-renew-deadline (%v)", le.LeaseDuration, le.RenewDeadline))
	}
	return errors.Join(errs...)
}

// ErrLostLease is returned by RunElected when the scheduler stopped leading
// before its context ended (it could not renew the lease in time).
var ErrLostLease = errors.New("lost the leader election lease")

// RunElected is Run for one of several schedulers of a cluster: only the
// holder of the lease decides and binds. As with kube-scheduler's
// --leader-elect, the informers start and sync before the election, so a
// standby takes over with a full cache; the lease is handed back when ctx
// ends, so a successor need not wait for it to expire; and a scheduler that
// loses the lease stops and returns ErrLostLease rather than carry on from
// a cache another leader has since changed under it (kube-scheduler exits;
// a restarted process starts clean).
func (s *Scheduler) RunElected(ctx context.Context, le LeaderElection) error {
	if err := le.Validate(); err != nil {
		return err
	}
	host, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("naming this leader election candidate: %w", err)
	}
	id := host + "_" + string(uuid.NewUUID())
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, le.Namespace, le.Name, s.client.CoreV1(), s.client.CoordinationV1(),
		resourcelock.ResourceLockConfig{Identity: id, EventRecorder: s.recorder})
	if err != nil {
		return fmt.Errorf("making the lease lock %s/%s: %w", le.Namespace, le.Name, err)
	}
	logger := klog.FromContext(ctx).WithValues("lease", klog.KRef(le.Namespace, le.Name), "identity", id)
	leads := make(chan context.Context, 1)
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   le.LeaseDuration,
		RenewDeadline:   le.RenewDeadline,
		RetryPeriod:     le.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            le.Namespace + "/" + le.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			// The elector calls this on a goroutine of its own; scheduling
			// runs below, where RunElected can wait for it to finish.
			OnStartedLeading: func(lead context.Context) { leads <- lead },
			OnStoppedLeading: func() {},
			OnNewLeader: func(identity string) {
				logger.Info("Leader of the schedulers", "leader", identity)
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election on %s/%s: %w", le.Namespace, le.Name, err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer s.stop() // runs after cancel, which it needs
	defer cancel()
	if err := s.start(ctx); err != nil {
		return err
	}
	elected := make(chan struct{})
	go func() {
		defer close(elected)
		elector.Run(ctx)
	}()
	select {
	case lead := <-leads:
		logger.Info("Leading: scheduling")
		s.schedule(lead)
		<-elected // the lease is handed back by now, if ctx ended
	case <-elected:
	}
	if ctx.Err() == nil {
		return fmt.Errorf("%w %s/%s", ErrLostLease, le.Namespace, le.Name)
	}
	return nil
}
