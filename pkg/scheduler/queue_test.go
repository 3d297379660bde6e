package scheduler

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

func popNow(t *testing.T, q *Queue) (string, bool) {
	t.Helper()
	if ready, _ := q.Len(); ready == 0 {
		return "", false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return q.Pop(ctx)
}

func TestQueueBackoff(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	q := NewQueue(clk, time.Second, 10*time.Second)
	q.Add("ns/a", 0)
	q.Add("ns/a", 0) // deduplicated
	q.Add("ns/b", 0)
	if k, _ := popNow(t, q); k != "ns/a" {
		t.Fatalf("pop: got %q, want ns/a", k)
	}
	if k, _ := popNow(t, q); k != "ns/b" {
		t.Fatalf("pop: got %q, want ns/b", k)
	}
	if _, ok := popNow(t, q); ok {
		t.Fatal("queue should be empty")
	}

	// Back-off doubles from 1s and stops at 10s.
	var got []time.Duration
	for range 6 {
		d := q.Backoff("ns/a")
		got = append(got, d)
		clk.Step(d - time.Millisecond)
		q.FlushBackoff()
		if _, ok := popNow(t, q); ok {
			t.Fatalf("ns/a ready before its %v back-off", d)
		}
		q.Add("ns/a", 0) // an update while backing off does not skip it
		if _, ok := popNow(t, q); ok {
			t.Fatalf("Add skipped the back-off")
		}
		clk.Step(time.Millisecond)
		q.FlushBackoff()
		if k, _ := popNow(t, q); k != "ns/a" {
			t.Fatalf("ns/a not ready after %v", d)
		}
	}
	want := []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("back-off %d: got %v, want %v", i, got[i], want[i])
		}
	}

	// Forget resets the attempts.
	q.Forget("ns/a")
	if d := q.Backoff("ns/a"); d != time.Second {
		t.Errorf("after Forget: got %v, want 1s", d)
	}
	// Something that could help moves it at once.
	q.MoveAllToActive()
	if k, _ := popNow(t, q); k != "ns/a" {
		t.Errorf("after MoveAllToActive: got %q, want ns/a", k)
	}
	// Delete drops it everywhere.
	q.Add("ns/c", 0)
	q.Delete("ns/c")
	q.Backoff("ns/d")
	q.Delete("ns/d")
	q.MoveAllToActive()
	if ready, backing := q.Len(); ready != 0 || backing != 0 {
		t.Errorf("after Delete: %d ready, %d backing off, want 0, 0", ready, backing)
	}
}

// A pod queued again while it was being tried (something changed) is not
// put into back-off when that try fails.
func TestQueueRequeuedDuringAttempt(t *testing.T) {
	q := NewQueue(clocktesting.NewFakeClock(time.Unix(0, 0)), time.Second, 10*time.Second)
	q.Add("ns/a", 0)
	popNow(t, q)
	q.Add("ns/a", 0)
	if d := q.Backoff("ns/a"); d != 0 {
		t.Errorf("got back-off %v, want 0", d)
	}
	if k, _ := popNow(t, q); k != "ns/a" {
		t.Errorf("got %q, want ns/a ready", k)
	}
}

func TestQueuePopBlocksUntilCancel(t *testing.T) {
	q := NewQueue(nil, time.Second, time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan bool)
	go func() {
		_, ok := q.Pop(ctx)
		done <- ok
	}()
	q.Add("ns/x", 0)
	if ok := <-done; !ok {
		t.Fatal("Pop returned nothing with a key added")
	}
	go func() {
		_, ok := q.Pop(ctx)
		done <- ok
	}()
	cancel()
	if ok := <-done; ok {
		t.Fatal("Pop returned a key after cancel")
	}
}

// Higher priority first; within a priority, the order keys became ready.
func TestQueuePriorityOrder(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	q := NewQueue(clk, time.Second, time.Second)
	for _, e := range []struct {
		key  string
		prio int32
	}{{"ns/low-1", 0}, {"ns/high-1", 1000}, {"ns/low-2", 0}, {"ns/neg", -5}, {"ns/mid", 10}, {"ns/high-2", 1000}} {
		q.Add(e.key, e.prio)
	}
	// A key that backs off goes behind the keys of its priority that were
	// ready before it came back.
	if k, _ := popNow(t, q); k != "ns/high-1" {
		t.Fatalf("pop: got %q, want ns/high-1", k)
	}
	q.Backoff("ns/high-1")
	clk.Step(time.Second)
	q.FlushBackoff()
	q.Add("ns/high-3", 1000)
	var got []string
	for {
		k, ok := popNow(t, q)
		if !ok {
			break
		}
		got = append(got, k)
	}
	want := []string{"ns/high-2", "ns/high-1", "ns/high-3", "ns/mid", "ns/low-1", "ns/low-2", "ns/neg"}
	if !slices.Equal(got, want) {
		t.Errorf("order: got %v, want %v", got, want)
	}
}

// BenchmarkQueue: 10,000 pods added then popped, as when a scheduler
// starts with a backlog (bench/scheduler's shape), one priority or mixed.
func BenchmarkQueue(b *testing.B) {
	keys := make([]string, 10000)
	for i := range keys {
		keys[i] = fmt.Sprintf("ns/pod-%d", i)
	}
	for _, tt := range []struct {
		name       string
		priorities int32
	}{{"one-priority", 1}, {"4-priorities", 4}} {
		b.Run(tt.name, func(b *testing.B) {
			ctx := context.Background()
			q := NewQueue(nil, time.Second, time.Second)
			for b.Loop() {
				for i, k := range keys {
					q.Add(k, int32(i)%tt.priorities)
				}
				for range keys {
					if _, ok := q.Pop(ctx); !ok {
						b.Fatal("queue closed")
					}
				}
			}
		})
	}
}
