package reconcile

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

func newQueue() workqueue.TypedRateLimitingInterface[string] {
	return workqueue.NewTypedRateLimitingQueue(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Millisecond, 10*time.Millisecond))
}

func TestRunRetriesUntilSynced(t *testing.T) {
	tests := []struct {
		name     string
		failures int
	}{
		{"succeeds at once", 0},
		{"fails twice", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			q := newQueue()
			var mu sync.Mutex
			calls := 0
			done := make(chan struct{})
			syncKey := func(_ context.Context, key string) error {
				mu.Lock()
				defer mu.Unlock()
				calls++
				if calls <= tt.failures {
					if got := q.NumRequeues(key); got != calls-1 {
						t.Errorf("call %d: got %d requeues, want %d", calls, got, calls-1)
					}
					return errors.New("not yet")
				}
				close(done)
				return nil
			}
			q.Add("ns/a")
			stopped := make(chan struct{})
			go func() {
				defer close(stopped)
				Run(ctx, "test", q, 2, nil, syncKey, Quiet(func(error) bool { return true }))
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("key was never synced")
			}
			cancel()
			select {
			case <-stopped:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after ctx was done")
			}
			mu.Lock()
			defer mu.Unlock()
			if calls != tt.failures+1 {
				t.Errorf("got %d calls, want %d", calls, tt.failures+1)
			}
			if got := q.NumRequeues("ns/a"); got != 0 {
				t.Errorf("got %d requeues after success, want 0 (forgotten)", got)
			}
			if !q.ShuttingDown() {
				t.Error("queue not shut down after Run returned")
			}
		})
	}
}

func TestRunOnSynced(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		wantSyncs bool
	}{
		{"ok starts workers", nil, true},
		{"error stops Run", errors.New("rebuilding: broken"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			q := newQueue()
			q.Add("k")
			synced := make(chan string, 1)
			ran := false
			stopped := make(chan struct{})
			go func() {
				defer close(stopped)
				Run(ctx, "test", q, 1, []cache.InformerSynced{func() bool { return true }},
					func(_ context.Context, key string) error { synced <- key; return nil },
					OnSynced(func(context.Context) error { ran = true; return tt.err }))
			}()
			if tt.wantSyncs {
				select {
				case <-synced:
				case <-time.After(10 * time.Second):
					t.Fatal("key was never synced")
				}
				cancel()
			}
			select {
			case <-stopped:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return")
			}
			if !ran {
				t.Error("OnSynced hook did not run")
			}
			if !tt.wantSyncs && len(synced) != 0 {
				t.Error("a worker ran although OnSynced failed")
			}
			if !q.ShuttingDown() {
				t.Error("queue not shut down after Run returned")
			}
		})
	}
}

func TestRunUnsyncedCaches(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	q := newQueue()
	q.Add("k")
	stopped := make(chan struct{})
	calls := 0
	go func() {
		defer close(stopped)
		Run(ctx, "test", q, 1, []cache.InformerSynced{func() bool { return false }},
			func(context.Context, string) error { calls++; return nil })
	}()
	cancel()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return while caches never synced")
	}
	if calls != 0 {
		t.Errorf("got %d syncs before the caches synced, want 0", calls)
	}
}
