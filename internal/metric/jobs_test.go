package metric

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestJobSubmitted(t *testing.T) {
	t.Parallel()
	m := New(nil)
	got := moved(t, m, func() { m.JobSubmitted("runpod") })
	sameSeries(t, got, snapshot{`avatar_jobs_submitted_total{backend="runpod"}`: 1})
}

func TestJobStarted(t *testing.T) {
	t.Parallel()
	m := New(nil)
	got := moved(t, m, func() { m.JobStarted("local", 7*time.Second) })
	sameSeries(t, got, snapshot{
		`avatar_job_queue_wait_seconds_count{backend="local"}`: 1,
		`avatar_job_queue_wait_seconds_sum{backend="local"}`:   7,
	})
	if le := lowestBucket(t, m, "avatar_job_queue_wait_seconds", `{backend="local"}`); le != 10 {
		t.Errorf("7 s landed in the bucket le=%g, want 10", le)
	}
}

func TestRunEnded(t *testing.T) {
	t.Parallel()
	m := New(nil)
	got := moved(t, m, func() { m.RunEnded("runpod", Requeued, 95*time.Second, 90*time.Second, 0.0125) })
	sameSeries(t, got, snapshot{
		`avatar_job_generation_seconds_count{backend="runpod",outcome="requeued"}`: 1,
		`avatar_job_generation_seconds_sum{backend="runpod",outcome="requeued"}`:   95,
		`avatar_billed_seconds_total{backend="runpod"}`:                            90,
		`avatar_cost_usd_total{backend="runpod"}`:                                  0.0125,
	})
	if le := lowestBucket(t, m, "avatar_job_generation_seconds", `{backend="runpod",outcome="requeued"}`); le != 120 {
		t.Errorf("95 s landed in the bucket le=%g, want 120", le)
	}

	// The local backend bills nothing: its counters exist, at 0.
	got = moved(t, m, func() { m.RunEnded("local", Lost, 1200*time.Second, 0, 0) })
	sameSeries(t, got, snapshot{
		`avatar_job_generation_seconds_count{backend="local",outcome="lost"}`: 1,
		`avatar_job_generation_seconds_sum{backend="local",outcome="lost"}`:   1200,
		`avatar_billed_seconds_total{backend="local"}`:                        0,
		`avatar_cost_usd_total{backend="local"}`:                              0,
	})
	if le := lowestBucket(t, m, "avatar_job_generation_seconds", `{backend="local",outcome="lost"}`); le != 1200 {
		t.Errorf("20 min landed in the bucket le=%g, want 1200 (the bounds are inclusive)", le)
	}

	// A bill a counter cannot add is dropped; the run still counts.
	for _, cost := range []float64{-1, math.NaN(), math.Inf(1)} {
		got = moved(t, m, func() { m.RunEnded("runpod", Completed, time.Second, -time.Second, cost) })
		if _, ok := got[`avatar_job_generation_seconds_count{backend="runpod",outcome="completed"}`]; !ok || len(got) != 2 {
			t.Errorf("a run billed -1 s and %g USD moved:\n%s", cost, got)
		}
	}
}

func TestJobFinished(t *testing.T) {
	t.Parallel()
	m := New(nil)
	got := moved(t, m, func() { m.JobFinished("local", Failed, "no_face_detected", 45*time.Second) })
	sameSeries(t, got, snapshot{
		`avatar_jobs_finished_total{backend="local",code="no_face_detected",outcome="failed"}`: 1,
		`avatar_job_duration_seconds_count{backend="local",outcome="failed"}`:                  1,
		`avatar_job_duration_seconds_sum{backend="local",outcome="failed"}`:                    45,
	})
	if le := lowestBucket(t, m, "avatar_job_duration_seconds", `{backend="local",outcome="failed"}`); le != 60 {
		t.Errorf("45 s landed in the bucket le=%g, want 60", le)
	}
	got = moved(t, m, func() { m.JobFinished("local", Completed, "", 400*time.Millisecond) })
	sameSeries(t, got, snapshot{
		`avatar_jobs_finished_total{backend="local",code="none",outcome="completed"}`: 1,
		`avatar_job_duration_seconds_count{backend="local",outcome="completed"}`:      1,
		`avatar_job_duration_seconds_sum{backend="local",outcome="completed"}`:        0.4,
	})
	if le := lowestBucket(t, m, "avatar_job_duration_seconds", `{backend="local",outcome="completed"}`); le != 0.5 {
		t.Errorf("0.4 s landed in the bucket le=%g, want 0.5", le)
	}
}

// TestLabelsStayBounded: a code, backend or outcome outside what our code
// defines is reported as "other", never as itself.
func TestLabelsStayBounded(t *testing.T) {
	t.Parallel()
	for _, code := range []string{
		"Timeout", "no-face", "_timeout", "timeout_", "worker__lost", "9lives", "cuda error: out of memory",
		strings.Repeat("a", 41), "job_0b7c1c4e_9f6a_4c0e_8d51_a1b2c3d4e5f6x",
	} {
		m := New(nil)
		got := moved(t, m, func() { m.JobFinished("local", Failed, code, time.Second) })
		if _, ok := got[`avatar_jobs_finished_total{backend="local",code="other",outcome="failed"}`]; !ok || len(got) != 3 {
			t.Errorf("code %q:\n%s", code, got)
		}
	}
	for _, code := range []string{"timeout", "worker_lost", "generation_failed", "gpu_oom_2", strings.Repeat("a", 40)} {
		if name(code) != code {
			t.Errorf("name(%q) = %q, want it unchanged", code, name(code))
		}
	}

	m := New(nil)
	got := moved(t, m, func() {
		m.JobSubmitted("RunPod Serverless")
		m.JobFinished("", "expired", "", time.Second)
		m.RunEnded("local", "succeeded", time.Second, 0, 0)
	})
	sameSeries(t, got, snapshot{
		`avatar_jobs_submitted_total{backend="other"}`:                            1,
		`avatar_jobs_finished_total{backend="other",code="none",outcome="other"}`: 1,
		`avatar_job_duration_seconds_count{backend="other",outcome="other"}`:      1,
		`avatar_job_duration_seconds_sum{backend="other",outcome="other"}`:        1,
		`avatar_job_generation_seconds_count{backend="local",outcome="other"}`:    1,
		`avatar_job_generation_seconds_sum{backend="local",outcome="other"}`:      1,
		`avatar_billed_seconds_total{backend="local"}`:                            0,
		`avatar_cost_usd_total{backend="local"}`:                                  0,
	})
}

func TestJobsRescued(t *testing.T) {
	t.Parallel()
	m := New(nil)
	got := moved(t, m, func() { m.JobsRescued(3) })
	sameSeries(t, got, snapshot{`avatar_jobs_rescued_total{}`: 3})
	// None rescued (the usual sweep) moves nothing.
	if got := moved(t, m, func() { m.JobsRescued(0) }); len(got) != 0 {
		t.Errorf("0 rescued moved %v", got)
	}
}

func TestCollected(t *testing.T) {
	t.Parallel()
	m := New(nil)
	got := moved(t, m, func() { m.Collected(2, 5, 4096) })
	sameSeries(t, got, snapshot{`avatar_jobs_pruned_total{}`: 2, `avatar_storage_orphans_deleted_total{}`: 5,
		`avatar_storage_orphan_bytes_deleted_total{}`: 4096})
	if got := moved(t, m, func() { m.Collected(0, 0, 0) }); len(got) != 0 {
		t.Errorf("a run that deleted nothing moved %v", got)
	}
}
