package expectations

import (
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestTracker(t *testing.T) {
	tests := []struct {
		name string
		do   func(*Tracker, *clocktesting.FakePassiveClock)
		want bool // Satisfied("ns/rs") afterwards
	}{
		{"nothing expected", func(*Tracker, *clocktesting.FakePassiveClock) {}, true},
		{"creations outstanding", func(e *Tracker, _ *clocktesting.FakePassiveClock) {
			e.ExpectCreations("ns/rs", 2)
			e.CreationObserved("ns/rs")
		}, false},
		{"all creations observed", func(e *Tracker, _ *clocktesting.FakePassiveClock) {
			e.ExpectCreations("ns/rs", 2)
			e.CreationObserved("ns/rs")
			e.CreationObserved("ns/rs")
		}, true},
		{"zero creations", func(e *Tracker, _ *clocktesting.FakePassiveClock) {
			e.ExpectCreations("ns/rs", 0)
		}, true},
		{"observation before expectation is no news", func(e *Tracker, _ *clocktesting.FakePassiveClock) {
			e.CreationObserved("ns/rs")
			e.ExpectCreations("ns/rs", 1)
		}, false},
		{"extra observations do not count ahead", func(e *Tracker, _ *clocktesting.FakePassiveClock) {
			e.ExpectCreations("ns/rs", 1)
			e.CreationObserved("ns/rs")
			e.CreationObserved("ns/rs")
			e.ExpectCreations("ns/rs", 1)
		}, false},
		{"expecting creations replaces the count", func(e *Tracker, _ *clocktesting.FakePassiveClock) {
			e.ExpectCreations("ns/rs", 3)
			e.ExpectCreations("ns/rs", 1)
			e.CreationObserved("ns/rs")
		}, true},
		{"deletions outstanding", func(e *Tracker, _ *clocktesting.FakePassiveClock) {
			e.ExpectDeletions("ns/rs", []string{"ns/a", "ns/b"})
			e.DeletionObserved("ns/rs", "ns/a")
		}, false},
		{"another pod's deletion does not count", func(e *Tracker, _ *clocktesting.FakePassiveClock) {
			e.ExpectDeletions("ns/rs", []string{"ns/a"})
			e.DeletionObserved("ns/rs", "ns/other")
		}, false},
		{"all deletions observed", func(e *Tracker, _ *clocktesting.FakePassiveClock) {
			e.ExpectDeletions("ns/rs", []string{"ns/a", "ns/b"})
			e.DeletionObserved("ns/rs", "ns/b")
			e.DeletionObserved("ns/rs", "ns/a")
		}, true},
		{"expecting deletions replaces the set", func(e *Tracker, _ *clocktesting.FakePassiveClock) {
			e.ExpectDeletions("ns/rs", []string{"ns/a", "ns/b"})
			e.ExpectDeletions("ns/rs", []string{"ns/c"})
			e.DeletionObserved("ns/rs", "ns/c")
		}, true},
		{"expecting creations keeps deletions", func(e *Tracker, _ *clocktesting.FakePassiveClock) {
			e.ExpectDeletions("ns/rs", []string{"ns/a"})
			e.ExpectCreations("ns/rs", 0)
		}, false},
		{"expecting deletions keeps creations", func(e *Tracker, _ *clocktesting.FakePassiveClock) {
			e.ExpectCreations("ns/rs", 1)
			e.ExpectDeletions("ns/rs", nil)
		}, false},
		{"other keys are independent", func(e *Tracker, _ *clocktesting.FakePassiveClock) {
			e.ExpectCreations("ns/other", 1)
			e.ExpectDeletions("other/rs", []string{"other/a"})
			e.CreationObserved("ns/rs")
		}, true},
		{"not expired at the TTL", func(e *Tracker, clk *clocktesting.FakePassiveClock) {
			e.ExpectCreations("ns/rs", 1)
			clk.SetTime(clk.Now().Add(TTL))
		}, false},
		{"expired after the TTL", func(e *Tracker, clk *clocktesting.FakePassiveClock) {
			e.ExpectDeletions("ns/rs", []string{"ns/a"})
			clk.SetTime(clk.Now().Add(TTL + time.Nanosecond))
		}, true},
		{"expecting again restarts the TTL", func(e *Tracker, clk *clocktesting.FakePassiveClock) {
			e.ExpectCreations("ns/rs", 1)
			clk.SetTime(clk.Now().Add(TTL - time.Second))
			e.ExpectDeletions("ns/rs", nil)
			clk.SetTime(clk.Now().Add(2 * time.Second))
		}, false},
		{"delete forgets", func(e *Tracker, _ *clocktesting.FakePassiveClock) {
			e.ExpectCreations("ns/rs", 1)
			e.ExpectDeletions("ns/rs", []string{"ns/a"})
			e.Delete("ns/rs")
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktesting.NewFakePassiveClock(t0)
			e := New(clk)
			tt.do(e, clk)
			if got := e.Satisfied("ns/rs"); got != tt.want {
				t.Errorf("got Satisfied %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCounter(t *testing.T) {
	tests := []struct {
		name string
		do   func(*Counter, *clocktesting.FakePassiveClock)
		want bool // Satisfied("ns/job") afterwards
	}{
		{"nothing expected", func(*Counter, *clocktesting.FakePassiveClock) {}, true},
		{"creations outstanding", func(e *Counter, _ *clocktesting.FakePassiveClock) {
			e.Expect("ns/job", 2, 0)
			e.Lower("ns/job", 1, 0)
		}, false},
		{"deletions outstanding", func(e *Counter, _ *clocktesting.FakePassiveClock) {
			e.Expect("ns/job", 0, 2)
			e.Lower("ns/job", 0, 1)
		}, false},
		{"both observed", func(e *Counter, _ *clocktesting.FakePassiveClock) {
			e.Expect("ns/job", 2, 1)
			e.Lower("ns/job", 1, 0)
			e.Lower("ns/job", 0, 1)
			e.Lower("ns/job", 1, 0)
		}, true},
		{"failed creations lowered at once", func(e *Counter, _ *clocktesting.FakePassiveClock) {
			e.Expect("ns/job", 5, 0)
			e.Lower("ns/job", 3, 0)
			e.Lower("ns/job", 2, 0)
		}, true},
		{"creations do not stand for deletions", func(e *Counter, _ *clocktesting.FakePassiveClock) {
			e.Expect("ns/job", 0, 1)
			e.Lower("ns/job", 2, 0)
		}, false},
		{"lowering before expecting is no news", func(e *Counter, _ *clocktesting.FakePassiveClock) {
			e.Lower("ns/job", 1, 1)
			e.Expect("ns/job", 1, 1)
		}, false},
		{"expect replaces both counts", func(e *Counter, _ *clocktesting.FakePassiveClock) {
			e.Expect("ns/job", 3, 0)
			e.Expect("ns/job", 0, 1)
			e.Lower("ns/job", 0, 1)
		}, true},
		{"over-observed then expected again", func(e *Counter, _ *clocktesting.FakePassiveClock) {
			e.Expect("ns/job", 1, 0)
			e.Lower("ns/job", 3, 0)
			e.Expect("ns/job", 1, 0)
		}, false},
		{"not expired at the TTL", func(e *Counter, clk *clocktesting.FakePassiveClock) {
			e.Expect("ns/job", 1, 1)
			clk.SetTime(clk.Now().Add(TTL))
		}, false},
		{"expired after the TTL", func(e *Counter, clk *clocktesting.FakePassiveClock) {
			e.Expect("ns/job", 1, 1)
			clk.SetTime(clk.Now().Add(TTL + time.Nanosecond))
		}, true},
		{"other keys are independent", func(e *Counter, _ *clocktesting.FakePassiveClock) {
			e.Expect("ns/other", 1, 1)
		}, true},
		{"delete forgets", func(e *Counter, _ *clocktesting.FakePassiveClock) {
			e.Expect("ns/job", 1, 1)
			e.Delete("ns/job")
			e.Lower("ns/job", 1, 1)
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktesting.NewFakePassiveClock(t0)
			e := NewCounter(clk)
			tt.do(e, clk)
			if got := e.Satisfied("ns/job"); got != tt.want {
				t.Errorf("got Satisfied %v, want %v", got, tt.want)
			}
		})
	}
}
