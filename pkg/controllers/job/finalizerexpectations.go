package job

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

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
