package api_test

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkGateway: one request over loopback through the whole middleware
// (request id, access log, recovery, headers, huma) to two handlers that do
// equally little: /health without authentication, /whoami with it — its
// key found in the one-second cache, or looked up in SQLite every time.
// The differences are the cost of authentication per request.
func BenchmarkGateway(b *testing.B) {
	cached := setup(b, options{noWorkers: true})
	uncached := setup(b, options{noWorkers: true, noKeyCache: true})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	get := func(b *testing.B, url, key string) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		for b.Loop() {
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	}
	b.Run("no-auth", func(b *testing.B) { get(b, cached.url+"/health", "") })
	b.Run("auth-cached", func(b *testing.B) { get(b, cached.url+"/whoami", keyA) })
	b.Run("auth-miss", func(b *testing.B) { get(b, uncached.url+"/whoami", keyA) })
}
