package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Result is what a sync asks of the queue besides its error.
type Result struct {
	// RequeueAfter, when positive, syncs the key again after that long:
	// for a moment no informer event marks (minReadySeconds passing, a
	// deadline, a back-off ending, a recheck). An event before then
	// still syncs the key at once.
	RequeueAfter time.Duration
}

// After asks for the key to be synced again after d.
func After(d time.Duration) Result { return Result{RequeueAfter: d} }

// Sooner is r, or After(d) if d is positive and sooner: a sync that finds
// several moments to come back at keeps the first.
func (r Result) Sooner(d time.Duration) Result {
	if d > 0 && (r.RequeueAfter <= 0 || d < r.RequeueAfter) {
		return After(d)
	}
	return r
}

// SyncFunc brings the object a key names to its wanted state. An error
// puts the key back with back-off (a Terminal one is logged and dropped);
// nil forgets its failures and honours the Result.
type SyncFunc func(ctx context.Context, key string) (Result, error)

// Plain is a SyncFunc for a sync that never asks for a later sync.
func Plain(sync func(ctx context.Context, key string) error) SyncFunc {
	return func(ctx context.Context, key string) (Result, error) { return Result{}, sync(ctx, key) }
}

// terminalError is an error no retry can mend.
type terminalError struct{ err error }

func (e terminalError) Error() string { return e.err.Error() }
func (e terminalError) Unwrap() error { return e.err }

// Terminal marks err as one a retry cannot mend (a malformed key, an
// object the controller can never act on): Run logs it and forgets the
// key until an event brings it back.
func Terminal(err error) error {
	if err == nil {
		return nil
	}
	return terminalError{err}
}

// IsTerminal tells whether err, or an error it wraps, was made Terminal.
func IsTerminal(err error) bool {
	var t terminalError
	return errors.As(err, &t)
}

// Option changes how Run runs the queue.
type Option func(*options)

type options struct {
	quiet    func(error) bool
	onSynced func(ctx context.Context) error
}

// Quiet keeps errors for which quiet is true out of the log; their keys are
// retried all the same. A conflict, for one, only means the cache was behind
// the controller's own write.
func Quiet(quiet func(error) bool) Option {
	return func(o *options) { o.quiet = quiet }
}

// OnSynced runs f once the caches have synced and before any worker starts.
// If f fails, the error is logged and Run returns without starting workers.
func OnSynced(f func(ctx context.Context) error) Option {
	return func(o *options) { o.onSynced = f }
}

// Run waits for synced, starts workers that pass the queue's keys to syncKey,
// and blocks until ctx is done; then it shuts the queue down and waits for
// the workers to finish. name labels the cache sync and the logged errors.
func Run(ctx context.Context, name string, queue workqueue.TypedRateLimitingInterface[string], workers int, synced []cache.InformerSynced, syncKey SyncFunc, opts ...Option) {
	defer utilruntime.HandleCrash()
	defer queue.ShutDown()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if !cache.WaitForNamedCacheSync(name, ctx.Done(), synced...) {
		return
	}
	if o.onSynced != nil {
		if err := o.onSynced(ctx); err != nil {
			utilruntime.HandleError(fmt.Errorf("%s: %w", name, err))
			return
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer queue.ShutDown()
	for i := 0; i < workers; i++ {
		wg.Go(func() {
			wait.UntilWithContext(ctx, func(ctx context.Context) {
				for processNext(ctx, name, queue, syncKey, &o) {
				}
			}, time.Second)
		})
	}
	<-ctx.Done()
}

// processNext syncs one key; it returns false once the queue is shut down.
func processNext(ctx context.Context, name string, queue workqueue.TypedRateLimitingInterface[string], syncKey SyncFunc, o *options) bool {
	key, quit := queue.Get()
	if quit {
		return false
	}
	defer queue.Done(key)
	res, err := syncKey(ctx, key)
	switch {
	case IsTerminal(err):
		utilruntime.HandleError(fmt.Errorf("%s: syncing %q (not retried): %w", name, key, err))
		queue.Forget(key)
	case err != nil:
		if o.quiet == nil || !o.quiet(err) {
			utilruntime.HandleError(fmt.Errorf("%s: syncing %q: %w", name, key, err))
		}
		queue.AddRateLimited(key)
	default:
		queue.Forget(key)
		if res.RequeueAfter > 0 {
			queue.AddAfter(key, res.RequeueAfter)
		}
	}
	return true
}
