package scheduler

import (
	"context"

	"minik8s/pkg/election"
)

// Run starts the informers, waits for them to sync, then schedules until ctx
// is done: the one scheduler of a cluster, no election.
func (s *Scheduler) Run(ctx context.Context) error {
	return s.RunElected(ctx, election.Config{})
}

// RunElected is Run for one of several schedulers of a cluster: only the
// holder of the lease decides and binds. As with kube-scheduler's
// --leader-elect, the informers start and sync before the election, so a
// standby takes over with a full cache; the lease is handed back when ctx
// ends; and a scheduler that loses the lease stops and returns
// election.ErrLostLease rather than carry on from a cache another leader
// has since changed under it.
func (s *Scheduler) RunElected(ctx context.Context, le election.Config) error {
	if err := le.Validate(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer s.stop() // runs after cancel, which it needs
	defer cancel()
	if err := s.start(ctx); err != nil {
		return err
	}
	return election.Run(ctx, s.client, le, s.recorder, s.schedule)
}
