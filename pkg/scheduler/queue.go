package scheduler

import (
	"context"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Queue hands out the keys (namespace/name) of pods to schedule, higher
// priority first and, within a priority, in the order they became ready
// (upstream's PrioritySort: spec.priority, then the time the pod entered
// the active queue). A pod that could not be placed waits out a back-off
// (initial, doubling per failed attempt, capped at max) unless
// MoveAllToActive says something changed that could help it. A key is in
// the queue at most once.
type Queue struct {
	mu      sync.Mutex
	cond    *sync.Cond
	clock   clock.PassiveClock
	initial time.Duration
	max     time.Duration

	// active is a binary heap ordered by queued.before; entries whose key
	// was deleted or queued again stay until popped and are skipped.
	active   []queued
	inActive map[string]uint64 // key → generation of its live entry
	gen      uint64
	priority map[string]int32     // key → its pod's priority, while the key is known
	backoff  map[string]time.Time // key → when it may be retried
	attempts map[string]int
	closed   bool
}

type queued struct {
	key      string
	gen      uint64 // increases with every push: the entry's timestamp
	priority int32
}

// before is the heap order: higher priority, then earlier push.
func (a *queued) before(b *queued) bool {
	if a.priority != b.priority {
		return a.priority > b.priority
	}
	return a.gen < b.gen
}

// NewQueue returns an empty queue.
func NewQueue(clk clock.PassiveClock, initial, max time.Duration) *Queue {
	if clk == nil {
		clk = clock.RealClock{}
	}
	q := &Queue{
		clock: clk, initial: initial, max: max,
		inActive: map[string]uint64{},
		priority: map[string]int32{},
		backoff:  map[string]time.Time{},
		attempts: map[string]int{},
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Add makes key, whose pod has the given priority, ready now, unless it is
// already queued or backing off.
func (q *Queue) Add(key string, priority int32) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.priority[key] = priority
	if _, ok := q.backoff[key]; ok {
		return
	}
	q.pushLocked(key)
}

func (q *Queue) pushLocked(key string) {
	if _, ok := q.inActive[key]; ok {
		return
	}
	q.gen++
	q.inActive[key] = q.gen
	q.active = append(q.active, queued{key: key, gen: q.gen, priority: q.priority[key]})
	q.up(len(q.active) - 1)
	q.cond.Signal()
}

// up and down keep q.active a heap (as container/heap does, without boxing
// every entry in an interface).
func (q *Queue) up(i int) {
	h := q.active
	for i > 0 {
		parent := (i - 1) / 2
		if !h[i].before(&h[parent]) {
			return
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
}

func (q *Queue) down(i int) {
	h := q.active
	n := len(h)
	for {
		first := 2*i + 1
		if first >= n {
			return
		}
		if second := first + 1; second < n && h[second].before(&h[first]) {
			first = second
		}
		if !h[first].before(&h[i]) {
			return
		}
		h[i], h[first] = h[first], h[i]
		i = first
	}
}

// popLocked removes and returns the first entry of the heap.
func (q *Queue) popLocked() queued {
	h := q.active
	last := len(h) - 1
	e := h[0]
	h[0] = h[last]
	h[last] = queued{}
	q.active = h[:last]
	if last > 0 {
		q.down(0)
	}
	return e
}

// Backoff counts a failed attempt and makes key wait before its next one.
// If key was queued again meanwhile (something changed while it was being
// tried), it stays ready.
func (q *Queue) Backoff(key string) time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.attempts[key]++
	d := q.initial
	for i := 1; i < q.attempts[key] && d < q.max; i++ {
		d *= 2
	}
	if d > q.max {
		d = q.max
	}
	if _, ok := q.inActive[key]; ok {
		return 0
	}
	q.backoff[key] = q.clock.Now().Add(d)
	return d
}

// Forget resets key's failed attempts (it was placed).
func (q *Queue) Forget(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.attempts, key)
}

// Delete removes key entirely (its pod is gone or no longer ours).
func (q *Queue) Delete(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.inActive, key)
	delete(q.backoff, key)
	delete(q.attempts, key)
	delete(q.priority, key)
}

// FlushBackoff makes ready every key whose back-off has passed.
func (q *Queue) FlushBackoff() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.clock.Now()
	for key, at := range q.backoff {
		if !now.Before(at) {
			delete(q.backoff, key)
			q.pushLocked(key)
		}
	}
}

// MoveAllToActive makes every backing-off key ready now: something changed
// (a node appeared or changed, a pod went away) that could let them fit.
func (q *Queue) MoveAllToActive() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for key := range q.backoff {
		delete(q.backoff, key)
		q.pushLocked(key)
	}
}

// Pop blocks until a key is ready or ctx is done (ok false).
func (q *Queue) Pop(ctx context.Context) (key string, ok bool) {
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		q.closed = true
		q.cond.Broadcast()
		q.mu.Unlock()
	})
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		for len(q.active) > 0 {
			e := q.popLocked()
			if g, ok := q.inActive[e.key]; ok && g == e.gen {
				delete(q.inActive, e.key)
				return e.key, true
			}
		}
		if q.closed || ctx.Err() != nil {
			return "", false
		}
		q.cond.Wait()
	}
}

// Len returns how many keys are ready and how many are backing off.
func (q *Queue) Len() (ready, backingOff int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.inActive), len(q.backoff)
}
