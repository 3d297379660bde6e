package replicaset

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// expectationsTTL bounds how long a controller waits for watch events it
// expects: after that it trusts the cache again (a lost event must not wedge
// a ReplicaSet forever).
const expectationsTTL = 5 * time.Minute

type expectation struct {
	adds      int
	deletions map[string]struct{}
	at        time.Time
}

// expectations records, per ReplicaSet key, the creations and deletions the
// controller made but has not yet seen in its informer cache. While some are
// outstanding the cache is known to be stale and the ReplicaSet is not
// resized, so a watch lag never makes it create or delete twice.
type expectations struct {
	mu    sync.Mutex
	clock clock.PassiveClock
	m     map[string]*expectation
}

func newExpectations(c clock.PassiveClock) *expectations {
	return &expectations{clock: c, m: map[string]*expectation{}}
}

// satisfied reports whether the cache has caught up with key's writes.
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return true
	}
	if x.adds <= 0 && len(x.deletions) == 0 {
		return true
	}
	return e.clock.Since(x.at) > expectationsTTL
}

func (e *expectations) get(key string) *expectation {
	x, ok := e.m[key]
	if !ok {
		x = &expectation{deletions: map[string]struct{}{}}
		e.m[key] = x
	}
	return x
}

func (e *expectations) expectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.get(key)
	x.adds = n
	x.at = e.clock.Now()
}

func (e *expectations) expectDeletions(key string, podKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.get(key)
	x.deletions = map[string]struct{}{}
	for _, k := range podKeys {
		x.deletions[k] = struct{}{}
	}
	x.at = e.clock.Now()
}

func (e *expectations) creationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok && x.adds > 0 {
		x.adds--
	}
}

func (e *expectations) deletionObserved(key, podKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		delete(x.deletions, podKey)
	}
}

func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
