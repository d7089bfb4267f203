package stats_test

import (
	"errors"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/stats"
)

// TestUsageRange: dates are days of the cost time zone, to's included;
// the default is the 30 days that end with to's; unreadable times are
// refused.
func TestUsageRange(t *testing.T) {
	t.Parallel()
	loc, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC) // 15:30 in Kolkata
	for _, c := range []struct {
		from, to string
		wantFrom time.Time
		wantTo   time.Time
		wantErr  bool
	}{
		{from: "", to: "", wantFrom: time.Date(2026, 11, 4, 0, 0, 0, 0, loc), wantTo: now},
		{from: "", to: "2026-12-01", wantFrom: time.Date(2026, 11, 2, 0, 0, 0, 0, loc), wantTo: time.Date(2026, 12, 2, 0, 0, 0, 0, loc)},
		{from: "2026-12-01", to: "2026-12-01T12:00:00Z", wantFrom: time.Date(2026, 12, 1, 0, 0, 0, 0, loc), wantTo: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)},
		{from: "12/01/2026", wantErr: true},
		{to: "2026-13-01", wantErr: true},
	} {
		q, err := stats.ParseUsage(stats.UsageRequest{From: c.from, To: c.to}, now, loc)
		if c.wantErr {
			if !errors.Is(err, stats.ErrUsageRange) {
				t.Errorf("%q–%q: %v, want ErrUsageRange", c.from, c.to, err)
			}
			continue
		}
		if err != nil || !q.From.Equal(c.wantFrom) || !q.To.Equal(c.wantTo) {
			t.Errorf("%q–%q = %s–%s (%v), want %s–%s", c.from, c.to, q.From, q.To, err, c.wantFrom, c.wantTo)
		}
	}
}
