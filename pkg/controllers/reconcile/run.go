package reconcile

import (
	"context"
	"fmt"
	"sync"
	"time"

	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// SyncFunc brings the object a key names to its wanted state. An error puts
// the key back with back-off; nil forgets its failures.
type SyncFunc func(ctx context.Context, key string) error

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
	if err := syncKey(ctx, key); err != nil {
		if o.quiet == nil || !o.quiet(err) {
			utilruntime.HandleError(fmt.Errorf("%s: syncing %q: %w", name, key, err))
		}
		queue.AddRateLimited(key)
		return true
	}
	queue.Forget(key)
	return true
}
