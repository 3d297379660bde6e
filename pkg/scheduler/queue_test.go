package scheduler

import (
	"context"
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
	q.Add("ns/a")
	q.Add("ns/a") // deduplicated
	q.Add("ns/b")
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
		q.Add("ns/a") // an update while backing off does not skip it
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
	q.Add("ns/c")
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
	q.Add("ns/a")
	popNow(t, q)
	q.Add("ns/a")
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
	q.Add("ns/x")
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
