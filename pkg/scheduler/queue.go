package scheduler

import (
	"context"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Queue hands out the keys (namespace/name) of pods to schedule, first in
// first out. A pod that could not be placed waits out a back-off (initial,
// doubling per failed attempt, capped at max) unless MoveAllToActive says
// something changed that could help it. A key is in the queue at most once.
type Queue struct {
	mu      sync.Mutex
	cond    *sync.Cond
	clock   clock.PassiveClock
	initial time.Duration
	max     time.Duration

	active   []queued
	inActive map[string]uint64 // key → generation of its live entry
	gen      uint64
	backoff  map[string]time.Time // key → when it may be retried
	attempts map[string]int
	closed   bool
}

type queued struct {
	key string
	gen uint64
}

// NewQueue returns an empty queue.
func NewQueue(clk clock.PassiveClock, initial, max time.Duration) *Queue {
	if clk == nil {
		clk = clock.RealClock{}
	}
	q := &Queue{
		clock: clk, initial: initial, max: max,
		inActive: map[string]uint64{},
		backoff:  map[string]time.Time{},
		attempts: map[string]int{},
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Add makes key ready now, unless it is already queued or backing off.
func (q *Queue) Add(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
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
	q.active = append(q.active, queued{key, q.gen})
	q.cond.Signal()
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
			e := q.active[0]
			q.active[0] = queued{}
			q.active = q.active[1:]
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
