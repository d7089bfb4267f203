package main_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWorkerServesMetrics: `avatar-api worker` with WORKER_METRICS_ADDR
// serves /health and /metrics (no key) on a listener of its own, so that a
// machine running only workers can be scraped, and stops cleanly on
// SIGTERM. (The socket is passed by socket activation, which the worker's
// listener takes as serve's does.)
func TestWorkerServesMetrics(t *testing.T) {
	t.Parallel()
	const token = "worker-scraper-token-0123456789abcdef"
	dir := t.TempDir()
	w := startCommand(t, "worker", dir, "WORKER_METRICS_ADDR=127.0.0.1:9091", "METRICS_TOKEN="+token)
	admin := strings.TrimSpace(cli(t, []string{"DATA_DIR=" + dir}, "keys", "create", "--customer", "ops", "--scope", "admin", "-q"))
	customer := strings.TrimSpace(cli(t, []string{"DATA_DIR=" + dir}, "keys", "create", "--customer", "acme", "-q"))
	resp, err := http.Get(w.url + "/health")
	if err != nil {
		t.Fatal(err)
	}
	var health struct{ Status string }
	if err := json.NewDecoder(resp.Body).Decode(&health); err != nil || resp.StatusCode != 200 || health.Status != "ok" {
		t.Fatalf("/health = %d %+v (%v)", resp.StatusCode, health, err)
	}
	resp.Body.Close()
	// Like the API's, the worker's /metrics needs the scraper's token or an
	// admin key.
	for key, want := range map[string]int{"": 401, "not-the-token-" + token: 401, customer: 403, admin: 200} {
		req, _ := http.NewRequest(http.MethodGet, w.url+"/metrics", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("/metrics with %.12q…: %d, want %d", key, resp.StatusCode, want)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, w.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"go_goroutines ", "process_resident_memory_bytes ", "avatar_rate_limit_degraded 0",
		"avatar_worker_slots 1", `avatar_jobs_queued{backend="local"} 0`} {
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Fatalf("/metrics = %d, lacks %q:\n%s", resp.StatusCode, want, body)
		}
	}
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := w.exit(t, 30*time.Second); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if _, err := http.Get(w.url + "/health"); err == nil {
		t.Error("the metrics listener still answers after the worker stopped")
	}
}
