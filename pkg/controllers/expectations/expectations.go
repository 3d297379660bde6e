package expectations

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// TTL bounds how long an owner waits for the watch events it expects; after
// that its cache is trusted again, as upstream's ExpectationsTimeout.
const TTL = 5 * time.Minute

// record is one owner's outstanding writes: a Tracker uses creations and
// podKeys, a Counter creations and deletions.
type record struct {
	creations, deletions int
	podKeys              map[string]struct{}
	at                   time.Time // when they were last set
}

// book is the lock, clock and per-owner records both kinds share.
type book struct {
	mu    sync.Mutex
	clock clock.PassiveClock
	m     map[string]*record
}

func (b *book) satisfied(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.m[key]
	if !ok || (r.creations <= 0 && r.deletions <= 0 && len(r.podKeys) == 0) {
		return true
	}
	return b.clock.Since(r.at) > TTL
}

// set changes key's record, creating it if needed, and restarts its TTL.
func (b *book) set(key string, change func(*record)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.m[key]
	if !ok {
		r = &record{}
		b.m[key] = r
	}
	change(r)
	r.at = b.clock.Now()
}

// observe changes key's record if it has one: an observation nobody
// expected is no news.
func (b *book) observe(key string, change func(*record)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if r, ok := b.m[key]; ok {
		change(r)
	}
}

func (b *book) delete(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, key)
}

// Tracker counts the pod creations an owner expects and names the pods it
// expects deleted. It is safe for concurrent use.
type Tracker struct{ b book }

// New returns an empty Tracker whose expectations expire by c.
func New(c clock.PassiveClock) *Tracker {
	return &Tracker{b: book{clock: c, m: map[string]*record{}}}
}

// ExpectCreations replaces the number of pod creations key waits for; its
// expected deletions are kept.
func (t *Tracker) ExpectCreations(key string, n int) {
	t.b.set(key, func(r *record) { r.creations = n })
}

// ExpectDeletions replaces the pods key waits to see deleted, by pod key
// (namespace/name); its expected creations are kept.
func (t *Tracker) ExpectDeletions(key string, podKeys []string) {
	t.b.set(key, func(r *record) {
		r.podKeys = make(map[string]struct{}, len(podKeys))
		for _, k := range podKeys {
			r.podKeys[k] = struct{}{}
		}
	})
}

// CreationObserved marks one of key's creations as seen, or as never
// coming (the request failed).
func (t *Tracker) CreationObserved(key string) {
	t.b.observe(key, func(r *record) {
		if r.creations > 0 {
			r.creations--
		}
	})
}

// DeletionObserved marks podKey's deletion as seen, or as never coming.
// Deletions of pods key did not expect are ignored.
func (t *Tracker) DeletionObserved(key, podKey string) {
	t.b.observe(key, func(r *record) { delete(r.podKeys, podKey) })
}

// Satisfied reports whether the cache has caught up with key's writes, or
// they were set more than TTL ago.
func (t *Tracker) Satisfied(key string) bool { return t.b.satisfied(key) }

// Delete forgets key, whose owner is gone.
func (t *Tracker) Delete(key string) { t.b.delete(key) }

// Counter counts both the pod creations and the pod deletions an owner
// expects: any deletion of one of its pods counts, whoever made it. It is
// safe for concurrent use.
type Counter struct{ b book }

// NewCounter returns an empty Counter whose expectations expire by c.
func NewCounter(c clock.PassiveClock) *Counter {
	return &Counter{b: book{clock: c, m: map[string]*record{}}}
}

// Expect replaces key's expectations by creations and deletions.
func (c *Counter) Expect(key string, creations, deletions int) {
	c.b.set(key, func(r *record) { r.creations, r.deletions = creations, deletions })
}

// Lower marks creations and deletions of key's as seen, or as never coming.
func (c *Counter) Lower(key string, creations, deletions int) {
	c.b.observe(key, func(r *record) {
		r.creations -= creations
		r.deletions -= deletions
	})
}

// Satisfied reports whether the cache has caught up with key's writes, or
// they were set more than TTL ago.
func (c *Counter) Satisfied(key string) bool { return c.b.satisfied(key) }

// Delete forgets key, whose owner is gone.
func (c *Counter) Delete(key string) { c.b.delete(key) }
