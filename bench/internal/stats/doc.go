// Package stats summarises the latencies the benchmarks measure: the
// percentiles by nearest rank, and a summary that calls a tail what the
// samples can tell. With fewer than 100 samples the 99th percentile by
// nearest rank is the largest sample, so the summary says "max", not
// "p99".
package stats
