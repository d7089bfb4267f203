package metric

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/testkit"
)

// families are every family of this package, which the scrape below must
// hold.
var families = []string{
	"avatar_rate_limited_requests_total", "avatar_rate_limit_degraded", "avatar_metrics_source_errors_total",
	"avatar_http_requests_total", "avatar_http_request_duration_seconds",
	"avatar_jobs_submitted_total", "avatar_job_queue_wait_seconds", "avatar_job_generation_seconds",
	"avatar_billed_seconds_total", "avatar_cost_usd_total", "avatar_jobs_finished_total", "avatar_job_duration_seconds",
	"avatar_jobs_queued", "avatar_jobs_running",
	"avatar_worker_slots", "avatar_worker_busy_slots", "avatar_worker_busy_ratio",
	"avatar_worker_busy_seconds_total", "avatar_worker_capacity_seconds_total",
	"avatar_gpu_utilization_ratio", "avatar_gpu_memory_used_bytes", "avatar_gpu_memory_total_bytes",
	"avatar_jobs_rescued_total", "avatar_ready_check_ok",
	"avatar_jobs_pruned_total", "avatar_storage_orphans_deleted_total", "avatar_storage_orphan_bytes_deleted_total",
	"avatar_jobs_deferred_total",
}

// TestScrapePassesPromtool moves every collector, scrapes the handler as
// Prometheus would and lints the answer with promtool: names, units,
// suffixes and help texts as Prometheus wants them.
func TestScrapePassesPromtool(t *testing.T) {
	t.Parallel()
	m := New(func() bool { return true })
	m.RateLimited.WithLabelValues("hourly").Inc()
	m.ObserveRequest("GET /status/{job_id}", "GET", 200, 3*time.Millisecond)
	m.ObserveRequest("", "BREW", 404, time.Millisecond)
	m.JobSubmitted("local")
	m.JobStarted("local", 2*time.Second)
	m.RunEnded("runpod", Completed, 40*time.Second, 38*time.Second, 0.02)
	m.JobFinished("local", Failed, "no_face_detected", time.Minute)
	m.SetQueueSource(func(context.Context) ([]QueueDepth, error) {
		return []QueueDepth{{Backend: "local", Queued: 2, Running: 1}}, nil
	})
	m.SetWorkerSource(func() WorkerUse { return WorkerUse{Slots: 2, Busy: 1, BusySeconds: 10, CapacitySeconds: 20} })
	m.SetGPUSource(func() []GPUReading {
		return []GPUReading{{GPU: 0, Utilization: 0.5, MemoryUsedBytes: 1 << 30, MemoryTotalBytes: 24 << 30}}
	})
	m.JobsRescued(2)
	m.Collected(1, 2, 3)
	m.JobDeferred()
	m.SetReadySource(func(context.Context) map[string]string {
		return map[string]string{"database": "ok", "storage": "unavailable"}
	})
	server := httptest.NewServer(m.Handler())
	defer server.Close()

	body := get(t, server.URL)
	for _, f := range families {
		if !strings.Contains(body, "\n# TYPE "+f+" ") {
			t.Errorf("the scrape has no %s", f)
		}
	}
	testkit.Promtool(t, []byte(body))
}

// TestPromtoolComplains shows the test above has teeth: the lint fails a
// scrape with a counter named without _total.
func TestPromtoolComplains(t *testing.T) {
	t.Parallel()
	r := &recorder{TB: t}
	testkit.Promtool(r, []byte("# HELP avatar_jobs Jobs.\n# TYPE avatar_jobs counter\navatar_jobs 1\n"))
	if !strings.Contains(r.failure, `counter metrics should have "_total" suffix`) {
		t.Errorf("promtool let a counter without _total through: %q", r.failure)
	}
}

// recorder is a test that notes its failure instead of failing.
type recorder struct {
	testing.TB
	failure string
}

func (r *recorder) Helper()                        {}
func (r *recorder) Fatal(args ...any)              { r.failure = fmt.Sprint(args...) }
func (r *recorder) Fatalf(format string, a ...any) { r.failure = fmt.Sprintf(format, a...) }
