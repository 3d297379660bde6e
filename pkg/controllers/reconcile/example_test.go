package reconcile_test

import (
	"context"
	"fmt"

	"k8s.io/client-go/util/workqueue"

	"minik8s/pkg/controllers/reconcile"
)

func ExampleRun() {
	ctx, cancel := context.WithCancel(context.Background())
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	queue.Add("default/web")
	reconcile.Run(ctx, "example", queue, 1, nil, func(_ context.Context, key string) (reconcile.Result, error) {
		fmt.Println("synced", key)
		cancel() // one key is enough for the example
		return reconcile.Result{}, nil
	})
	// Output: synced default/web
}
