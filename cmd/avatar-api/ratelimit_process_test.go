package main_test

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/avatar-api/avatar-api/internal/store/postgres/pgtest"
)

// TestRateLimitAcrossReplicas: two servers share PostgreSQL and Redis; 200
// clients at once on one key whose limit is 50 get exactly 50 answers.
func TestRateLimitAcrossReplicas(t *testing.T) {
	t.Parallel()
	env := []string{"DATABASE_URL=" + pgtest.NewDatabase(t), "REDIS_URL=redis://127.0.0.1:6379/0",
		"EMBEDDED_WORKERS=false", "API_KEY=", "POLL_RATE_LIMIT=50", "POLL_RATE_WINDOW=1h"}
	a := start(t, t.TempDir(), env...)
	b := start(t, t.TempDir(), env...)
	key := strings.TrimSpace(cli(t, env, "keys", "create", "--customer", "acme", "-q"))
	var ok, limited atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 100}}
	for i := range 200 {
		url := a.url
		if i%2 == 1 {
			url = b.url
		}
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, url+"/whoami", nil)
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case 200:
				ok.Add(1)
			case 429:
				limited.Add(1)
			default:
				t.Errorf("status %d", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 50 || limited.Load() != 150 {
		t.Fatalf("%d allowed, %d limited; want exactly 50 and 150", ok.Load(), limited.Load())
	}
}

// TestRateLimitWithoutRedis: with Redis unreachable the server still serves
// and limits (per replica), and /ready says so while staying ready.
func TestRateLimitWithoutRedis(t *testing.T) {
	t.Parallel()
	dead := "redis://" + deadAddr(t) + "/0" // nothing listens there
	p := start(t, t.TempDir(), "REDIS_URL="+dead, "POLL_RATE_LIMIT=3", "POLL_RATE_WINDOW=1h")
	codes := []int{}
	for range 5 {
		codes = append(codes, status(t, p.url, apiKey))
	}
	if codes[0] != 200 || codes[2] != 200 || codes[3] != 429 || codes[4] != 429 {
		t.Fatalf("statuses %v, want 3 × 200 then 429", codes)
	}
	resp, err := http.Get(p.url + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"rate_limiter":"degraded`) {
		t.Fatalf("/ready = %d %s", resp.StatusCode, body)
	}
	if n := strings.Count(p.logs.String(), "redis unreachable"); n != 1 {
		t.Fatalf("the outage was logged %d times, want once", n)
	}
}
