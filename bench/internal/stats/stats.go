package stats

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Percentile returns the p-th percentile of d (0 < p ≤ 100) by nearest
// rank: the smallest sample with at least p% of the samples at or below
// it. d need not be sorted and is not changed; an empty d gives 0.
func Percentile(d []time.Duration, p float64) time.Duration {
	return percentile(sorted(d), p)
}

// Summary says "p50 A p99 B max C" of d, each value formatted by format,
// or "p50 A max C" when d has fewer than 100 samples: then the 99th
// percentile would be the largest sample under another name.
func Summary(d []time.Duration, format func(time.Duration) string) string {
	if len(d) == 0 {
		return "no samples"
	}
	s := sorted(d)
	if len(s) < 100 {
		return fmt.Sprintf("p50 %s max %s", format(percentile(s, 50)), format(s[len(s)-1]))
	}
	return fmt.Sprintf("p50 %s p99 %s max %s", format(percentile(s, 50)), format(percentile(s, 99)), format(s[len(s)-1]))
}

func sorted(d []time.Duration) []time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
