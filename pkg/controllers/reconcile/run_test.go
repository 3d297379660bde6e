package reconcile

import (
	"context"
	"errors"
	"fmt"
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
				Run(ctx, "test", q, 2, nil, Plain(syncKey), Quiet(func(error) bool { return true }))
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
					Plain(func(_ context.Context, key string) error { synced <- key; return nil }),
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
			Plain(func(context.Context, string) error { calls++; return nil }))
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

// TestRunResults: a sync's Result and error decide what becomes of its
// key: RequeueAfter brings it back once that long has passed, a
// Terminal error drops it (no retry), an ordinary error retries it.
func TestRunResults(t *testing.T) {
	tests := []struct {
		name      string
		first     func() (Result, error)
		wantAgain bool
		minDelay  time.Duration
	}{
		{"requeue after", func() (Result, error) { return After(50 * time.Millisecond), nil }, true, 50 * time.Millisecond},
		{"done", func() (Result, error) { return Result{}, nil }, false, 0},
		{"terminal error", func() (Result, error) { return After(time.Millisecond), Terminal(errors.New("malformed")) }, false, 0},
		{"error", func() (Result, error) { return Result{}, errors.New("conflict") }, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			q := newQueue()
			var mu sync.Mutex
			var calls []time.Time
			again := make(chan struct{})
			go Run(ctx, "test", q, 1, nil, func(context.Context, string) (Result, error) {
				mu.Lock()
				defer mu.Unlock()
				calls = append(calls, time.Now())
				if len(calls) == 1 {
					return tt.first()
				}
				if len(calls) == 2 {
					close(again)
				}
				return Result{}, nil
			}, Quiet(func(error) bool { return true }))
			q.Add("k")
			select {
			case <-again:
				if !tt.wantAgain {
					t.Fatal("the key was synced again")
				}
				mu.Lock()
				if d := calls[1].Sub(calls[0]); d < tt.minDelay {
					t.Errorf("synced again after %s, want at least %s", d, tt.minDelay)
				}
				mu.Unlock()
			case <-time.After(time.Second):
				if tt.wantAgain {
					t.Fatal("the key was never synced again")
				}
			}
			if tt.name == "terminal error" && q.NumRequeues("k") != 0 {
				t.Errorf("a terminal error left %d requeues, want the key forgotten", q.NumRequeues("k"))
			}
		})
	}
}

func TestIsTerminal(t *testing.T) {
	base := errors.New("bad key")
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{Terminal(base), true},
		{fmt.Errorf("syncing: %w", Terminal(base)), true},
		{base, false},
		{nil, false},
	} {
		if got := IsTerminal(tt.err); got != tt.want {
			t.Errorf("IsTerminal(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	if Terminal(nil) != nil {
		t.Error("Terminal(nil) is not nil")
	}
	if !errors.Is(Terminal(base), base) {
		t.Error("a terminal error does not wrap its cause")
	}
}
