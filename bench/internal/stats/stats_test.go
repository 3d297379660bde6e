package stats

import (
	"fmt"
	"testing"
	"time"
)

// ms makes n durations of 1 ms, 2 ms, … n ms, in reverse order (the
// functions must not rely on sorted input).
func ms(n int) []time.Duration {
	d := make([]time.Duration, n)
	for i := range d {
		d[i] = time.Duration(n-i) * time.Millisecond
	}
	return d
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		name string
		d    []time.Duration
		p    float64
		want time.Duration
	}{
		{name: "empty", d: nil, p: 50, want: 0},
		{name: "one sample", d: ms(1), p: 99, want: time.Millisecond},
		{name: "median of 5", d: ms(5), p: 50, want: 3 * time.Millisecond},
		{name: "median of 4 is the lower middle", d: ms(4), p: 50, want: 2 * time.Millisecond},
		{name: "p99 of 20 is the max", d: ms(20), p: 99, want: 20 * time.Millisecond},
		{name: "p99 of 100", d: ms(100), p: 99, want: 99 * time.Millisecond},
		{name: "p99 of 1000", d: ms(1000), p: 99, want: 990 * time.Millisecond},
		{name: "p90 of 10", d: ms(10), p: 90, want: 9 * time.Millisecond},
		{name: "p100 is the max", d: ms(7), p: 100, want: 7 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.d, tt.p); got != tt.want {
				t.Errorf("Percentile(%d samples, %v): got %v, want %v", len(tt.d), tt.p, got, tt.want)
			}
		})
	}
}

func TestSummary(t *testing.T) {
	tests := []struct {
		name string
		d    []time.Duration
		want string
	}{
		{name: "empty", d: nil, want: "no samples"},
		{name: "20 samples: no p99", d: ms(20), want: "p50 10ms max 20ms"},
		{name: "99 samples: no p99", d: ms(99), want: "p50 50ms max 99ms"},
		{name: "100 samples", d: ms(100), want: "p50 50ms p99 99ms max 100ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Summary(tt.d, time.Duration.String); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	d := ms(3)
	Summary(d, time.Duration.String)
	if d[0] != 3*time.Millisecond {
		t.Errorf("Summary sorted its input: %v", d)
	}
}

func ExampleSummary() {
	var lat []time.Duration
	for i := 1; i <= 30; i++ {
		lat = append(lat, time.Duration(i)*10*time.Millisecond)
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", d.Seconds()*1000) }
	fmt.Println(Summary(lat, ms))
	fmt.Println(Percentile(lat, 90))
	// Output:
	// p50 150 ms max 300 ms
	// 270ms
}
