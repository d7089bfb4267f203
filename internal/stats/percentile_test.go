package stats

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func secs(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, s := range v {
		out[i] = time.Duration(s) * time.Second
	}
	return out
}

// TestPercentileNearestRank checks the nearest-rank definition on the
// textbook examples and on edges.
func TestPercentileNearestRank(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		data []time.Duration
		p    float64
		want int
	}{
		// Wikipedia, "Percentile", the nearest-rank method.
		{secs(15, 20, 35, 40, 50), 5, 15},
		{secs(15, 20, 35, 40, 50), 30, 20},
		{secs(15, 20, 35, 40, 50), 40, 20},
		{secs(15, 20, 35, 40, 50), 50, 35},
		{secs(15, 20, 35, 40, 50), 100, 50},
		{secs(3, 6, 7, 8, 8, 10, 13, 15, 16, 20), 25, 7},
		{secs(3, 6, 7, 8, 8, 10, 13, 15, 16, 20), 50, 8},
		{secs(3, 6, 7, 8, 8, 10, 13, 15, 16, 20), 75, 15},
		{secs(3, 6, 7, 8, 8, 10, 13, 15, 16, 20), 100, 20},
		{secs(3, 6, 7, 8, 8, 9, 10, 13, 15, 16, 20), 75, 15},
		// Where a float computation of the rank would round up.
		{seq(20), 95, 19},
		{seq(100), 99, 99},
		{seq(100), 95, 95},
		{seq(100), 50, 50},
		{seq(1000), 99.9, 999},
		{secs(7), 50, 7},
		{secs(7), 99, 7},
		{secs(1, 2), 50, 1},
		{secs(1, 2), 51, 2},
	} {
		if got := Percentile(c.data, c.p); got != time.Duration(c.want)*time.Second {
			t.Errorf("P%g of %d values = %s, want %ds", c.p, len(c.data), got, c.want)
		}
	}
	if Percentile(nil, 50) != 0 {
		t.Error("percentile of nothing is not 0")
	}
}

func seq(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * time.Second
	}
	return out
}

// TestPercentileDefinition holds Percentile to the definition itself, on
// random data: the smallest value with at least p % of the values at or
// below it.
func TestPercentileDefinition(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		n := 1 + r.IntN(300)
		d := make([]time.Duration, n)
		for i := range d {
			d[i] = time.Duration(r.IntN(50)) * time.Second // many ties
		}
		slices.Sort(d)
		for _, p := range []float64{50, 95, 99, 12.5} {
			var want time.Duration
			for _, v := range d {
				atOrBelow := 0
				for _, w := range d {
					if w <= v {
						atOrBelow++
					}
				}
				if float64(atOrBelow)*100 >= p*float64(n) {
					want = v
					break
				}
			}
			if got := Percentile(d, p); got != want {
				t.Fatalf("P%g of %v = %s, want %s", p, d, got, want)
			}
		}
	}
}
