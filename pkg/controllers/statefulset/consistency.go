package statefulset

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"k8s.io/client-go/tools/cache"
)

// resource names the informer caches a set's writes land in.
type resource int

const (
	podResource resource = iota
	pvcResource
	setResource
)

// staleCacheError: the informer has not yet seen a write this controller
// made for the set; syncing now could create or delete twice.
type staleCacheError struct{ read, wrote string }

func (e *staleCacheError) Error() string {
	return "read version " + e.read + " is not as new as written version " + e.wrote
}

// consistency remembers, per StatefulSet, the newest resourceVersion the
// controller wrote to each cache, and holds the set's next sync until the
// informers have caught up with them (upstream's read-your-writes guard,
// StaleControllerConsistencyStatefulSet).
type consistency struct {
	mu     sync.Mutex
	stores map[resource]cache.Store
	writes map[types.NamespacedName]*ownerWrites
}

type ownerWrites struct {
	uid types.UID
	rv  map[resource]string
}

func newConsistency(stores map[resource]cache.Store) *consistency {
	return &consistency{stores: stores, writes: map[types.NamespacedName]*ownerWrites{}}
}

func (c *consistency) wroteAt(owner types.NamespacedName, uid types.UID, r resource, rv string) {
	if rv == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.writes[owner]
	if w == nil || w.uid != uid {
		w = &ownerWrites{uid: uid, rv: map[resource]string{}}
		c.writes[owner] = w
	}
	if old, ok := w.rv[r]; ok {
		if cmp, err := resourceversion.CompareResourceVersion(old, rv); err == nil && cmp >= 0 {
			return
		}
	}
	w.rv[r] = rv
}

func (c *consistency) clear(owner types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.writes, owner)
}

// ensureReady returns a *staleCacheError while a cache is behind one of the
// owner's writes, and forgets the writes once all caches have caught up.
// Caches that cannot tell their version (fakes) count as caught up.
func (c *consistency) ensureReady(owner types.NamespacedName) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.writes[owner]
	if w == nil {
		return nil
	}
	for r, wrote := range w.rv {
		store := c.stores[r]
		if store == nil {
			continue
		}
		read := store.LastStoreSyncResourceVersion()
		if read == "" {
			continue
		}
		if cmp, err := resourceversion.CompareResourceVersion(wrote, read); err == nil && cmp > 0 {
			return &staleCacheError{read: read, wrote: wrote}
		}
	}
	delete(c.writes, owner)
	return nil
}
