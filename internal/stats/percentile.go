package stats

import (
	"math"
	"slices"
	"time"
)

// Percentile is the p-th percentile (0 < p ≤ 100) of sorted, by the
// nearest-rank definition: the smallest value such that at least p % of
// the values are less than or equal to it, which is the value at rank
// ⌈p/100 × n⌉ (counting from 1). It is always one of the values — a
// duration some job took — never an interpolation. 0 for no values.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// The rank, in integers with p in millionths of a percent, so that
	// P95 of 20 values is exactly rank 19 (and P99.9 of 1000, rank 999),
	// where floating point would make 19.000000000000004 and round up.
	micro := int64(math.Round(p * 1e6))
	rank := int((micro*int64(n) + 1e8 - 1) / 1e8)
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// Percentiles is the 50th, 95th and 99th percentiles of durations (sorted
// here, in place).
type Percentiles struct {
	Count         int
	P50, P95, P99 time.Duration
}

func percentiles(d []time.Duration) Percentiles {
	slices.Sort(d)
	return Percentiles{Count: len(d), P50: Percentile(d, 50), P95: Percentile(d, 95), P99: Percentile(d, 99)}
}

// Seconds is the percentiles in seconds, as the dashboard and the report
// show them; null when there were no values.
func (p Percentiles) Seconds() PercentileSeconds {
	o := PercentileSeconds{Count: p.Count}
	if p.Count > 0 {
		o.P50, o.P95, o.P99 = ptr(p.P50.Seconds()), ptr(p.P95.Seconds()), ptr(p.P99.Seconds())
	}
	return o
}

// PercentileSeconds is {"count": 3, "p50": 1.2, "p95": 3.4, "p99": 3.4}.
type PercentileSeconds struct {
	Count int      `json:"count" doc:"Completed jobs the percentiles are of"`
	P50   *float64 `json:"p50" doc:"Seconds; nearest-rank"`
	P95   *float64 `json:"p95" doc:"Seconds; nearest-rank"`
	P99   *float64 `json:"p99" doc:"Seconds; nearest-rank"`
}
