package runpodtest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/runpod/runpodtest"
)

func TestWorkerEnv(t *testing.T) {
	t.Parallel()
	b := setup(t, runpodtest.Options{EndpointID: "ep1", WorkerKey: "wk"})
	want := map[string]string{
		"RUNPOD_WEBHOOK_GET_JOB":     b.s.URL() + "/v2/ep1/job-take/$ID?gpu=NVIDIA+GeForce+RTX+4090",
		"RUNPOD_WEBHOOK_POST_OUTPUT": b.s.URL() + "/v2/ep1/job-done/$RUNPOD_POD_ID/$ID?gpu=NVIDIA+GeForce+RTX+4090",
		"RUNPOD_WEBHOOK_PING":        b.s.URL() + "/v2/ep1/ping/$RUNPOD_POD_ID?gpu=NVIDIA+GeForce+RTX+4090",
		"RUNPOD_AI_API_KEY":          "wk",
		"RUNPOD_POD_ID":              "pod-1",
		"RUNPOD_PING_INTERVAL":       "10000",
		"RUNPOD_ENDPOINT_ID":         "ep1",
	}
	if len(b.env) != len(want) {
		t.Errorf("WorkerEnv has %d variables, want %d: %v", len(b.env), len(want), b.env)
	}
	for k, v := range want {
		if b.env[k] != v {
			t.Errorf("%s = %q, want %q", k, b.env[k], v)
		}
	}
}

func TestPingIntervalFollowsWorkerLostAfter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		lost time.Duration
		want string
	}{
		{2 * time.Second, "1000"}, // at least a second: the SDK divides by 1000
		{9 * time.Second, "3000"},
		{time.Hour, "10000"},
	} {
		b := setup(t, runpodtest.Options{WorkerLostAfter: tc.lost})
		if got := b.env["RUNPOD_PING_INTERVAL"]; got != tc.want {
			t.Errorf("WorkerLostAfter %v: RUNPOD_PING_INTERVAL = %s, want %s", tc.lost, got, tc.want)
		}
	}
}

func TestJobLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t, runpodtest.Options{})
	id := b.submit(t, `{"input": {"n": 1}}`)
	if !strings.HasSuffix(id, "-u1") || len(id) != 39 {
		t.Errorf("job id %q is not shaped as RunPod's", id)
	}
	if st := b.status(t, id); st["status"] != "IN_QUEUE" || st["delayTime"] != nil || st["workerId"] != nil {
		t.Errorf("queued job's status: %v", st)
	}

	b.clock.Add(1500 * time.Millisecond)
	got, input := b.takeJob(t, "pod-1")
	if got != id || !jsonEqual(input, []byte(`{"n": 1}`)) {
		t.Fatalf("took %s %s, want %s with its input", got, input, id)
	}
	b.clock.Add(time.Second)
	if code := b.done(t, "pod-1", id, `{"status": "IN_PROGRESS", "output": {"progress": 0.5}}`); code != http.StatusOK {
		t.Fatalf("progress answered %d", code)
	}
	st := b.status(t, id)
	if st["status"] != "IN_PROGRESS" || st["workerId"] != "pod-1" || st["delayTime"] != 1500.0 {
		t.Errorf("running job's status: %v", st)
	}
	if out, _ := st["output"].(map[string]any); out["progress"] != 0.5 {
		t.Errorf("running job's output = %v, want the last progress", st["output"])
	}

	b.clock.Add(2 * time.Second)
	if code := b.done(t, "pod-1", id, `{"output": {"video": "v.mp4"}}`); code != http.StatusOK {
		t.Fatalf("job-done answered %d", code)
	}
	st = b.status(t, id)
	if st["status"] != "COMPLETED" || st["delayTime"] != 1500.0 || st["executionTime"] != 3000.0 || st["workerId"] != "pod-1" {
		t.Errorf("completed job's status: %v", st)
	}
	r := b.job(t, id)
	if r.Status != "COMPLETED" || !jsonEqual(r.Output, []byte(`{"video": "v.mp4"}`)) || len(r.Progress) != 1 ||
		r.DelayTime != 1500*time.Millisecond || r.ExecutionTime != 3*time.Second || r.WorkerID != "pod-1" {
		t.Errorf("record: %+v", r)
	}
	if r.TTL != 24*time.Hour || r.ExecutionTimeout != 10*time.Minute {
		t.Errorf("policy defaults: ttl %v, executionTimeout %v", r.TTL, r.ExecutionTimeout)
	}

	// A second result for an ended job changes nothing.
	b.done(t, "pod-1", id, `{"error": "late"}`)
	if r := b.job(t, id); r.Status != "COMPLETED" || r.Error != "" {
		t.Errorf("a late result changed the job: %+v", r)
	}
}

func TestJobDoneError(t *testing.T) {
	t.Parallel()
	b := setup(t, runpodtest.Options{})
	id := b.submit(t, `{"input": {}}`)
	b.takeJob(t, "pod-1")
	b.done(t, "pod-1", id, `{"error": "{\"code\":\"generation_failed\"}"}`)
	st := b.status(t, id)
	if st["status"] != "FAILED" || st["error"] != `{"code":"generation_failed"}` {
		t.Errorf("failed job's status: %v", st)
	}
}

func TestResultFromAnotherPodIsIgnored(t *testing.T) {
	t.Parallel()
	b := setup(t, runpodtest.Options{})
	id := b.submit(t, `{"input": {}}`)
	b.takeJob(t, "pod-1")
	b.done(t, "pod-2", id, `{"output": 1}`)
	if r := b.job(t, id); r.Status != "IN_PROGRESS" {
		t.Errorf("a result from another pod ended the job: %+v", r)
	}
}

func TestJobTakeLongPoll(t *testing.T) {
	t.Parallel()
	b := setup(t, runpodtest.Options{LongPoll: 200 * time.Millisecond})
	start := time.Now()
	if code, _ := b.take(t, "pod-1"); code != http.StatusNoContent {
		t.Fatalf("job-take with an empty queue answered %d, want 204", code)
	}
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Errorf("job-take answered after %v, want it held for the long poll", waited)
	}

	// A job submitted while a worker waits reaches it at once.
	took := make(chan string, 1)
	go func() {
		id, _ := b.takeJob(t, "pod-1")
		took <- id
	}()
	time.Sleep(20 * time.Millisecond)
	id := b.submit(t, `{"input": {}}`)
	select {
	case got := <-took:
		if got != id {
			t.Errorf("took %s, want %s", got, id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting job-take did not get the job")
	}
}

func TestWorkerAuth(t *testing.T) {
	t.Parallel()
	b := setup(t, runpodtest.Options{WorkerKey: "wk"})
	take := strings.ReplaceAll(b.env["RUNPOD_WEBHOOK_GET_JOB"], "$ID", "pod-1")
	for _, auth := range []string{"", "Bearer wk", "other", "Bearer " + b.s.Options().APIKey} {
		if code, _ := call(t, http.MethodGet, take, auth, ""); code != http.StatusUnauthorized {
			t.Errorf("job-take with Authorization %q answered %d, want 401", auth, code)
		}
	}
	// A template whose placeholder was not replaced is refused.
	if code, _ := call(t, http.MethodGet, b.env["RUNPOD_WEBHOOK_GET_JOB"], "wk", ""); code != http.StatusBadRequest {
		t.Errorf("job-take with $ID left in answered %d, want 400", code)
	}
}

func TestPing(t *testing.T) {
	t.Parallel()
	b := setup(t, runpodtest.Options{})
	id := b.submit(t, `{"input": {}}`)
	b.takeJob(t, "pod-1")
	b.clock.Add(time.Second)
	if code := b.ping(t, "pod-1", id); code != http.StatusOK {
		t.Fatalf("ping answered %d", code)
	}
	ws := b.s.Workers()
	if len(ws) != 1 {
		t.Fatalf("workers: %+v", ws)
	}
	w := ws[0]
	if w.PodID != "pod-1" || !w.LastPing.Equal(b.clock.Now()) || !slices.Equal(w.Reported, []string{id}) ||
		!slices.Equal(w.Jobs, []string{id}) || w.Version != "1.12.0" {
		t.Errorf("worker: %+v", w)
	}
}

func TestJobStop(t *testing.T) {
	t.Parallel()
	b := setup(t, runpodtest.Options{})
	if code, _ := b.stops(t, "pod-1"); code != http.StatusNoContent {
		t.Errorf("job-stop with nothing to stop answered %d, want 204", code)
	}
	id := b.submit(t, `{"input": {}}`)
	b.takeJob(t, "pod-1")
	if code, _ := b.api(t, http.MethodPost, "/cancel/"+id, ""); code != http.StatusOK {
		t.Fatalf("/cancel answered %d", code)
	}
	code, body := b.stops(t, "pod-1")
	var stops struct{ JobsToStop []string }
	decode(t, body, &stops)
	if code != http.StatusOK || !slices.Equal(stops.JobsToStop, []string{id}) {
		t.Errorf("job-stop answered %d %s, want the cancelled job", code, body)
	}
	if code, _ := b.stops(t, "pod-1"); code != http.StatusNoContent {
		t.Errorf("a stop signal was given twice (%d)", code)
	}
	// The worker's result for it is ignored.
	b.done(t, "pod-1", id, `{"output": 1}`)
	if r := b.job(t, id); r.Status != "CANCELLED" || r.Output != nil {
		t.Errorf("cancelled job: %+v", r)
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	b := setup(t, runpodtest.Options{})
	stop := b.s.Run(func(ctx context.Context, input json.RawMessage, progress func(json.RawMessage)) (json.RawMessage, string) {
		var in struct{ N int }
		_ = json.Unmarshal(input, &in)
		progress(json.RawMessage(`{"progress": 0.5}`))
		if in.N < 0 {
			return nil, "negative"
		}
		out, _ := json.Marshal(map[string]int{"double": in.N * 2})
		return out, ""
	})
	defer stop()
	ok := b.submit(t, `{"input": {"n": 21}}`)
	bad := b.submit(t, `{"input": {"n": -1}}`)
	eventually(t, "both jobs to end", func() bool {
		r1, _ := b.s.Job(ok)
		r2, _ := b.s.Job(bad)
		return r1.Status == "COMPLETED" && r2.Status == "FAILED"
	})
	r := b.job(t, ok)
	if !jsonEqual(r.Output, []byte(`{"double": 42}`)) || len(r.Progress) != 1 || !strings.HasPrefix(r.WorkerID, "inproc-") {
		t.Errorf("completed: %+v", r)
	}
	if r := b.job(t, bad); r.Error != "negative" {
		t.Errorf("failed: %+v", r)
	}
}

func TestRunStopsCancelledJob(t *testing.T) {
	t.Parallel()
	b := setup(t, runpodtest.Options{})
	started := make(chan struct{})
	stopped := make(chan struct{})
	stop := b.s.Run(func(ctx context.Context, _ json.RawMessage, _ func(json.RawMessage)) (json.RawMessage, string) {
		close(started)
		<-ctx.Done()
		close(stopped)
		return json.RawMessage(`"too late"`), ""
	})
	defer stop()
	id := b.submit(t, `{"input": {}}`)
	<-started
	b.api(t, http.MethodPost, "/cancel/"+id, "")
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler's context did not end after /cancel")
	}
	if r := b.job(t, id); r.Status != "CANCELLED" || r.Output != nil {
		t.Errorf("cancelled job: %+v", r)
	}
}
