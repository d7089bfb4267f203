package metric

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestReadySource: each check of /ready is a gauge, 1 for ok and 0 for
// anything else (a failure, or degraded), read at scrape time through the
// cache of a second.
func TestReadySource(t *testing.T) {
	t.Parallel()
	m := New(nil)
	now := time.Unix(1_700_000_000, 0)
	m.now = func() time.Time { return now }
	checks := map[string]string{"database": "ok", "storage": "unavailable", "rate_limiter": "degraded: Redis unreachable"}
	reads := 0
	m.SetReadySource(func(context.Context) map[string]string { reads++; return checks })
	sameSeries(t, scrapeReady(t, m), snapshot{
		`avatar_ready_check_ok{check="database"}`:     1,
		`avatar_ready_check_ok{check="storage"}`:      0,
		`avatar_ready_check_ok{check="rate_limiter"}`: 0,
	})
	checks = map[string]string{"database": "ok", "storage": "ok", "rate_limiter": "ok"}
	scrapeReady(t, m)
	if reads != 1 {
		t.Fatalf("two scrapes within a second read the checks %d times", reads)
	}
	now = now.Add(time.Second)
	sameSeries(t, scrapeReady(t, m), snapshot{
		`avatar_ready_check_ok{check="database"}`:     1,
		`avatar_ready_check_ok{check="storage"}`:      1,
		`avatar_ready_check_ok{check="rate_limiter"}`: 1,
	})
}

// scrapeReady is the readiness series of a scrape.
func scrapeReady(t *testing.T, m *Metrics) snapshot {
	t.Helper()
	s := snapshot{}
	for k, v := range scrape(t, m) {
		if strings.HasPrefix(k, "avatar_ready_check_ok{") {
			s[k] = v
		}
	}
	return s
}
