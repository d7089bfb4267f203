package worker

import (
	"testing"
	"time"
)

// TestAlertBackoff: 10 s doubling to 30 min, each within ±20 %, and 60
// attempts (59 waits) span about a day.
func TestAlertBackoff(t *testing.T) {
	t.Parallel()
	var total time.Duration
	for n := 1; n < 60; n++ {
		base := 30 * time.Minute
		if n < 8 {
			base = min(base, 10*time.Second<<(n-1))
		}
		d := AlertBackoff(n)
		if d < base*8/10 || d > base*12/10 {
			t.Fatalf("retry %d waits %s, want %s ± 20 %%", n, d, base)
		}
		total += d
	}
	if total < 20*time.Hour || total > 36*time.Hour {
		t.Fatalf("60 attempts span %s, want about a day", total)
	}
}
