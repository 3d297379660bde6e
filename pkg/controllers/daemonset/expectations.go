package daemonset

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// expectationsTTL bounds how long a DaemonSet waits for watch events it
// expects; after that the cache is trusted again, so a lost event never
// wedges it.
const expectationsTTL = 5 * time.Minute

type expectation struct {
	adds      int
	deletions map[string]struct{} // namespace/name of pods being deleted
	at        time.Time
}

// expectations records, per DaemonSet key, the pod creations and deletions
// made but not yet seen in the informer cache. While some are outstanding
// the cache is stale and the DaemonSet's pods are not managed (only its
// status is written), so a lagging watch never creates a second pod on a
// node or deletes one twice.
type expectations struct {
	mu    sync.Mutex
	clock clock.PassiveClock
	m     map[string]*expectation
}

func newExpectations(c clock.PassiveClock) *expectations {
	return &expectations{clock: c, m: map[string]*expectation{}}
}

func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok || (x.adds <= 0 && len(x.deletions) == 0) {
		return true
	}
	return e.clock.Since(x.at) > expectationsTTL
}

// expect replaces key's expectations by adds creations and the deletion of
// the pods podKeys names.
func (e *expectations) expect(key string, adds int, podKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := &expectation{adds: adds, deletions: make(map[string]struct{}, len(podKeys)), at: e.clock.Now()}
	for _, k := range podKeys {
		x.deletions[k] = struct{}{}
	}
	e.m[key] = x
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
