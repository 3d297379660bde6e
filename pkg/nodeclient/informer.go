package nodeclient

import (
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
)

// NewInformer returns an informer of lw's objects (example is one of them,
// e.g. &v1.Pod{}) whose cache keeps no managedFields: neither the agent
// nor the proxy reads them, and they are a good part of every object.
func NewInformer(lw cache.ListerWatcher, example runtime.Object) cache.SharedIndexInformer {
	inf := cache.NewSharedIndexInformer(lw, example, 0, cache.Indexers{})
	// SetTransform fails only once the informer runs.
	_ = inf.SetTransform(dropManagedFields)
	return inf
}

// List is the objects of an informer's store, typed; objects of another
// type (none, in a store an informer fills) are left out.
func List[T any](s cache.Store) []T {
	objs := s.List()
	out := make([]T, 0, len(objs))
	for _, o := range objs {
		if t, ok := o.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

func dropManagedFields(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
	}
	return obj, nil
}
