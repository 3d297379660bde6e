package reconcile

import (
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// NewQueue returns a work queue of keys with client-go's default controller
// rate limiter (per-key exponential back-off and an overall token bucket);
// name labels its metrics.
func NewQueue(name string) workqueue.TypedRateLimitingInterface[string] {
	return workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: name})
}

// Enqueue adds an object's namespace/name key (name alone for
// cluster-scoped objects; tombstones included) to queue.
func Enqueue(queue workqueue.TypedInterface[string], obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	queue.Add(key)
}

// EnqueueHandler enqueues the key of the object of every add, update and
// delete event.
func EnqueueHandler(queue workqueue.TypedInterface[string]) cache.ResourceEventHandlerFuncs {
	return Handler(func(obj any) { Enqueue(queue, obj) })
}

// Handler calls f with the object of every add, update (the new object) and
// delete event.
func Handler(f func(obj any)) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    f,
		UpdateFunc: func(_, cur any) { f(cur) },
		DeleteFunc: f,
	}
}

// Object returns obj as a T, looking inside the tombstone a delete event
// carries when the informer missed the deletion itself.
func Object[T any](obj any) (T, bool) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	t, ok := obj.(T)
	return t, ok
}
