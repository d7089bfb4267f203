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
	w := startCommand(t, "worker", t.TempDir(), "WORKER_METRICS_ADDR=127.0.0.1:9091")
	resp, err := http.Get(w.url + "/health")
	if err != nil {
		t.Fatal(err)
	}
	var health struct{ Status string }
	if err := json.NewDecoder(resp.Body).Decode(&health); err != nil || resp.StatusCode != 200 || health.Status != "ok" {
		t.Fatalf("/health = %d %+v (%v)", resp.StatusCode, health, err)
	}
	resp.Body.Close()
	resp, err = http.Get(w.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"go_goroutines ", "process_resident_memory_bytes ", "avatar_rate_limit_degraded 0"} {
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
