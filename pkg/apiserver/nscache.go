package apiserver

import (
	"context"
	"sync"
	"time"

	"minik8s/pkg/storage"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// nsCache mirrors the namespaces from a watch, so that a namespaced
// create does not cost an etcd read. A miss falls back to etcd; this
// server's own namespace writes are applied at once, so its own delete
// is never followed by a create it lets through.
type nsCache struct {
	mu sync.RWMutex
	ns map[string]*corev1.Namespace
}

func newNSCache() *nsCache { return &nsCache{ns: map[string]*corev1.Namespace{}} }

func (c *nsCache) get(name string) (*corev1.Namespace, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	ns, ok := c.ns[name]
	return ns, ok
}

func rvOf(ns *corev1.Namespace) int64 {
	n, _ := storage.ParseResourceVersion(ns.ResourceVersion)
	return n
}

// observe records a namespace unless the cache holds a newer one.
func (c *nsCache) observe(obj runtime.Object) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok || c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.ns[ns.Name]; ok && rvOf(old) > rvOf(ns) {
		return
	}
	c.ns[ns.Name] = ns.DeepCopy()
}

func (c *nsCache) forget(obj runtime.Object) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok || c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.ns, ns.Name)
}

// run keeps the cache until ctx ends, re-listing after a watch failure.
func (c *nsCache) run(ctx context.Context, s *storage.Store) {
	for ctx.Err() == nil {
		fresh := map[string]*corev1.Namespace{}
		synced := false
		events := s.Watch(ctx, storage.Prefix("namespaces", ""), func() runtime.Object { return &corev1.Namespace{} }, storage.WatchOptions{SendInitialEvents: true})
		for ev := range events {
			switch ev.Type {
			case watch.Added, watch.Modified:
				if synced {
					c.observe(ev.Object)
				} else {
					ns := ev.Object.(*corev1.Namespace)
					fresh[ns.Name] = ns
				}
			case watch.Deleted:
				c.mu.Lock()
				if old, ok := c.ns[ev.Object.(*corev1.Namespace).Name]; ok && rvOf(old) <= ev.Revision {
					delete(c.ns, old.Name)
				}
				c.mu.Unlock()
			case watch.Bookmark:
				if ev.InitialEventsEnd {
					c.mu.Lock()
					c.ns = fresh
					c.mu.Unlock()
					synced = true
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
