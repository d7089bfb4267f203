package api_test

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkGateway: one request over loopback through the whole middleware
// (request id, access log, recovery, headers, huma), to an open route and
// to an authenticated route that does no work of its own (an id that is
// not a UUID: 404 before any query), so that the difference is the cost of
// authentication with a cached key.
func BenchmarkGateway(b *testing.B) {
	tb := setup(b, options{noWorkers: true})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	get := func(b *testing.B, path, key string, want int) {
		req, _ := http.NewRequest(http.MethodGet, tb.url+path, nil)
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
			if resp.StatusCode != want {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	}
	b.Run("open", func(b *testing.B) { get(b, "/health", "", 200) })
	b.Run("authenticated", func(b *testing.B) { get(b, "/status/x", keyA, 404) })
}
