package job

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// expectationsTTL bounds how long the controller waits for watch events it
// expects before it trusts the cache again, as upstream's.
const expectationsTTL = 5 * time.Minute

type expectation struct {
	adds, dels int
	at         time.Time
}

// expectations count, per Job key, the pod creations and deletions the
// controller made but has not yet seen in its informer cache. Until they are
// seen the Job's pods are not managed (nor the Job declared finished), so a
// lagging watch never makes it create a pod twice.
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
	if !ok || (x.adds <= 0 && x.dels <= 0) {
		return true
	}
	return e.clock.Since(x.at) > expectationsTTL
}

func (e *expectations) expect(key string, adds, dels int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expectation{adds: adds, dels: dels, at: e.clock.Now()}
}

func (e *expectations) observe(key string, adds, dels int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		x.adds -= adds
		x.dels -= dels
	}
}

func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}

// finalizerExpectations hold, per Job key, the UIDs of pods whose tracking
// finalizer the controller removed but the cache may still show: such pods
// are already counted.
type finalizerExpectations struct {
	mu sync.Mutex
	m  map[string]map[types.UID]bool
}

func newFinalizerExpectations() *finalizerExpectations {
	return &finalizerExpectations{m: map[string]map[types.UID]bool{}}
}

func (f *finalizerExpectations) expected(key string) map[types.UID]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[types.UID]bool, len(f.m[key]))
	for uid := range f.m[key] {
		out[uid] = true
	}
	return out
}

func (f *finalizerExpectations) expectRemoved(key string, uids []types.UID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	set := f.m[key]
	if set == nil {
		set = map[types.UID]bool{}
		f.m[key] = set
	}
	for _, uid := range uids {
		set[uid] = true
	}
}

func (f *finalizerExpectations) observed(key string, uid types.UID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m[key], uid)
}

func (f *finalizerExpectations) forget(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, key)
}
