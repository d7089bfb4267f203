package api_test

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/api"
	"github.com/avatar-api/avatar-api/internal/auth"
	"github.com/avatar-api/avatar-api/internal/metric"
	"github.com/avatar-api/avatar-api/internal/ratelimit"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

// fakeClock is the limiter's clock, moved by the test instead of sleeping.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func TestRateLimits(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	start := clock.now()
	m := metric.New(nil)
	keyClock := &testkit.Clock{} // the key cache's
	tb := setup(t, options{noWorkers: true, limiter: ratelimit.NewMemory(), limiterClock: clock.now, clock: keyClock, metrics: m})
	var c createdKey
	tb.json(t, http.MethodPost, "/admin/keys", keyA, map[string]any{"customer": "acme", "rate_limit": 3}, &c)

	submit := func(at time.Duration) *http.Response {
		clock.set(start.Add(at))
		_, r := tb.submit(t, c.Key, portrait, speech)
		return r
	}
	for i, at := range []time.Duration{0, 10 * time.Minute, 20 * time.Minute} {
		r := submit(at)
		if r.StatusCode != 202 || r.Header.Get("RateLimit-Policy") != `"hourly";q=3;w=3600` {
			t.Fatalf("request %d: %d, RateLimit-Policy %q", i, r.StatusCode, r.Header.Get("RateLimit-Policy"))
		}
	}
	r := submit(30 * time.Minute)
	if r.StatusCode != 429 || r.Header.Get("Retry-After") != "1800" || r.Header.Get("RateLimit") != `"hourly";r=0;t=1800` {
		t.Fatalf("4th: %d Retry-After %q RateLimit %q", r.StatusCode, r.Header.Get("Retry-After"), r.Header.Get("RateLimit"))
	}
	for range 5 { // refused retries do not move the wait
		r = submit(40 * time.Minute)
	}
	if r.StatusCode != 429 || r.Header.Get("Retry-After") != "1200" {
		t.Fatalf("retries: %d Retry-After %q", r.StatusCode, r.Header.Get("Retry-After"))
	}
	var pb problemBody
	clock.set(start.Add(59 * time.Minute))
	body, ct := multipartBody(t, portrait, speech)
	tb.call(t, http.MethodPost, "/generate", c.Key, body, ct, &pb)
	if pb.Code != "rate_limited" || !strings.Contains(pb.Detail, "retry in 60 s") {
		t.Fatalf("problem %+v", pb)
	}
	clock.set(start.Add(time.Hour))
	body1, ct1 := multipartBody(t, portrait, speech)
	data, _ := io.ReadAll(body1)
	var first, replay api.Job
	r = tb.call(t, http.MethodPost, "/generate", c.Key, strings.NewReader(string(data)), ct1, &first, "Idempotency-Key", "order-1")
	if r.StatusCode != 202 || r.Header.Get("RateLimit") != `"hourly";r=0;t=600` {
		t.Fatalf("at the reset: %d RateLimit %q", r.StatusCode, r.Header.Get("RateLimit"))
	}
	// Over the limit again, a retry of that request (after a timeout, say)
	// is answered with its job: a replay never counts.
	clock.set(start.Add(time.Hour + 30*time.Second))
	r = tb.call(t, http.MethodPost, "/generate", c.Key, strings.NewReader(string(data)), ct1, &replay, "Idempotency-Key", "order-1")
	if r.StatusCode != 202 || replay.ID != first.ID || r.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay over the limit: %d %s vs %s", r.StatusCode, replay.ID, first.ID)
	}
	// Polling has its own, generous policy, and its fields on every response.
	if r := tb.call(t, http.MethodGet, "/jobs", c.Key, nil, "", nil); r.StatusCode != 200 ||
		r.Header.Get("RateLimit-Policy") != `"polling";q=600;w=60` || !strings.HasPrefix(r.Header.Get("RateLimit"), `"polling";r=599;`) {
		t.Fatalf("polling: %d %q %q", r.StatusCode, r.Header.Get("RateLimit-Policy"), r.Header.Get("RateLimit"))
	}
	// A new limit takes effect within about a second, without a restart.
	tb.json(t, http.MethodPatch, "/admin/keys/"+c.Record.ID, keyA, map[string]any{"rate_limit": 5}, nil)
	keyClock.Advance(auth.CacheTTL) // the key cache's lifetime
	if r := submit(time.Hour + time.Minute); r.StatusCode != 202 || r.Header.Get("RateLimit-Policy") != `"hourly";q=5;w=3600` {
		t.Fatalf("after raising the limit: %d %q", r.StatusCode, r.Header.Get("RateLimit-Policy"))
	}
	// Refusals are logged (never the key) and counted.
	if !strings.Contains(tb.logs.String(), `"msg":"rate limited"`) || strings.Contains(tb.logs.String(), c.Key) {
		t.Error("refusals not logged, or the key logged")
	}
	rec := tb.call(t, http.MethodGet, "/metrics", keyA, nil, "", nil)
	metrics := scrape(t, tb.url+"/metrics", keyA)
	if rec.StatusCode != 200 || rec.Header.Get("Cache-Control") != "no-store" || !strings.Contains(metrics, `avatar_rate_limited_requests_total{policy="hourly"} 7`) {
		t.Fatalf("metrics %d:\n%s", rec.StatusCode, grepLines(metrics, "avatar_"))
	}
	if r := tb.call(t, http.MethodGet, "/metrics", c.Key, nil, "", nil); r.StatusCode != 403 {
		t.Fatalf("metrics with a customer key: %d", r.StatusCode)
	}
}

func scrape(t *testing.T, url, key string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
