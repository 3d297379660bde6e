package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"minik8s/pkg/apiserver/apiservertest"
	"minik8s/pkg/election"
	"minik8s/pkg/scheduler"
)

// candidate is one scheduler in the election, with the bind calls it made.
type candidate struct {
	binds  atomic.Int64
	cancel context.CancelFunc
	done   chan struct{} // closed when RunElected returned err
	err    error
}

// Two schedulers against one apiserver: only the lease holder binds; when it
// stops, the other takes over at once (the lease was handed back) and binds;
// when someone else takes the lease from under the leader, it stops leading
// and says so.
func TestLeaderElection(t *testing.T) {
	srv := apiservertest.Start(t)
	client := kubernetes.NewForConfigOrDie(srv.Config)
	ctx := t.Context()
	le := election.Config{Enabled: true, Namespace: "kube-system", Name: "kube-scheduler", LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 200 * time.Millisecond}
	cl := &cluster{t: t, ctx: ctx, client: client}
	cl.node("n1", "8")

	var cands [2]*candidate
	for i := range cands {
		cfg := scheduler.NewConfig()
		cfg.BackoffInitial, cfg.BackoffMax = 100*time.Millisecond, 400*time.Millisecond
		s := scheduler.New(kubernetes.NewForConfigOrDie(srv.Config), cfg)
		c := &candidate{done: make(chan struct{})}
		s.OnBound = func(scheduler.Bound) { c.binds.Add(1) }
		cctx, cancel := context.WithCancel(ctx)
		c.cancel = cancel
		go func() {
			defer close(c.done)
			c.err = s.RunElected(cctx, le)
		}()
		cands[i] = c
		t.Cleanup(func() { cancel(); <-c.done })
	}

	createPods := func(prefix string, n int) {
		t.Helper()
		for i := range n {
			cl.pod(fmt.Sprintf("%s%d", prefix, i), "10m")
		}
	}
	// A pod shows as bound before its bind call has returned to the
	// scheduler (and reached OnBound): wait for the calls too.
	waitBindCalls := func(n int64) {
		t.Helper()
		err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			return cands[0].binds.Load()+cands[1].binds.Load() >= n, nil
		})
		if err != nil {
			t.Fatalf("waiting for %d bind calls: %v", n, err)
		}
	}
	waitDone := func(c *candidate) error {
		t.Helper()
		select {
		case <-c.done:
			return c.err
		case <-time.After(30 * time.Second):
			t.Fatal("scheduler still running 30s after it should have stopped")
			return nil
		}
	}

	// Only the leader binds: every bind call, failed or not, goes through
	// OnBound, and one scheduler made them all.
	createPods("a", 5)
	cl.placement(5)
	waitBindCalls(5)
	leader, standby := cands[0], cands[1]
	if leader.binds.Load() == 0 {
		leader, standby = standby, leader
	}
	if got, other := leader.binds.Load(), standby.binds.Load(); got != 5 || other != 0 {
		t.Fatalf("bind calls: got %d and %d, want 5 from the leader and 0 from the standby", got, other)
	}
	lease, err := client.CoordinationV1().Leases("kube-system").Get(ctx, "kube-scheduler", metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
		t.Fatalf("lease kube-system/kube-scheduler: %v %+v, want one with a holder", err, lease)
	}

	// The leader stops cleanly: no error, the lease no longer names it (it
	// was handed back, not left to expire), and the standby takes over.
	oldHolder := *lease.Spec.HolderIdentity
	leader.cancel()
	if err := waitDone(leader); err != nil {
		t.Fatalf("leader stopped with %v, want nil", err)
	}
	lease, err = client.CoordinationV1().Leases("kube-system").Get(ctx, "kube-scheduler", metav1.GetOptions{})
	if err != nil || ptr.Deref(lease.Spec.HolderIdentity, "") == oldHolder {
		t.Fatalf("lease after the leader stopped: %v, holder %q, want it handed back", err, ptr.Deref(lease.Spec.HolderIdentity, ""))
	}
	createPods("b", 1)
	cl.placement(6)
	waitBindCalls(6)
	if got, old := standby.binds.Load(), leader.binds.Load(); got != 1 || old != 5 {
		t.Fatalf("after the handover: got %d bind calls from the new leader and %d from the old, want 1 and 5", got, old)
	}

	// Someone else holds the lease now, for an hour: the leader cannot renew
	// and stops with ErrLostLease.
	// (The leader renews meanwhile: read and write again on a conflict.)
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		lease, err := client.CoordinationV1().Leases("kube-system").Get(ctx, "kube-scheduler", metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.NewMicroTime(time.Now())
		lease.Spec = coordinationv1.LeaseSpec{HolderIdentity: ptr.To("intruder"), LeaseDurationSeconds: ptr.To[int32](3600), AcquireTime: &now, RenewTime: &now}
		_, err = client.CoordinationV1().Leases("kube-system").Update(ctx, lease, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := waitDone(standby); !errors.Is(err, election.ErrLostLease) {
		t.Fatalf("leader whose lease was taken stopped with %v, want ErrLostLease", err)
	}
}
