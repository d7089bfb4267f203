package runpodtest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/runpod/runpodtest"
)

func TestRunRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t, runpodtest.Options{EndpointID: "ep1", APIKey: "key"})
	run := b.s.URL() + "/v2/ep1/run"
	tests := []struct {
		name, url, auth, body string
		want                  int
	}{
		{"NoKey", run, "", `{"input": {}}`, http.StatusUnauthorized},
		{"WrongKey", run, "Bearer other", `{"input": {}}`, http.StatusUnauthorized},
		{"WorkerKey", run, b.s.Options().WorkerKey, `{"input": {}}`, http.StatusUnauthorized},
		{"UnknownEndpoint", b.s.URL() + "/v2/ep2/run", "Bearer key", `{"input": {}}`, http.StatusNotFound},
		{"NoInput", run, "Bearer key", `{"webhook": "http://127.0.0.1/x"}`, http.StatusBadRequest},
		{"NullInput", run, "Bearer key", `{"input": null}`, http.StatusBadRequest},
		{"NotJSON", run, "Bearer key", `input`, http.StatusBadRequest},
		{"BadWebhook", run, "Bearer key", `{"input": {}, "webhook": "ftp://x"}`, http.StatusBadRequest},
		{"ShortTimeout", run, "Bearer key", `{"input": {}, "policy": {"executionTimeout": 4999}}`, http.StatusBadRequest},
		{"LongTTL", run, "Bearer key", `{"input": {}, "policy": {"ttl": 604800001}}`, http.StatusBadRequest},
		{"Bearer", run, "Bearer key", `{"input": {}}`, http.StatusOK},
		{"BareKey", run, "key", `{"input": {}}`, http.StatusOK}, // as the docs' curl examples send it
	}
	for _, tc := range tests {
		if code, body := call(t, http.MethodPost, tc.url, tc.auth, tc.body); code != tc.want {
			t.Errorf("%s: /run answered %d %s, want %d", tc.name, code, body, tc.want)
		}
	}
	if n := len(b.s.Jobs()); n != 2 {
		t.Errorf("%d jobs queued, want the 2 accepted", n)
	}
}

func TestPolicy(t *testing.T) {
	t.Parallel()
	b := setup(t, runpodtest.Options{})
	id := b.submit(t, `{"input": {}, "policy": {"executionTimeout": 5000, "ttl": 10000, "lowPriority": true}}`)
	if r := b.job(t, id); r.ExecutionTimeout != 5*time.Second || r.TTL != 10*time.Second {
		t.Errorf("policy: executionTimeout %v, ttl %v", r.ExecutionTimeout, r.TTL)
	}
}

func TestTTLOfQueuedJob(t *testing.T) {
	t.Parallel()
	b := setup(t, runpodtest.Options{})
	id := b.submit(t, `{"input": {}, "webhook": "http://127.0.0.1:1/hook", "policy": {"ttl": 60000}}`)
	b.clock.Add(59 * time.Second)
	if st := b.status(t, id); st["status"] != "IN_QUEUE" {
		t.Fatalf("before its ttl: %v", st)
	}
	b.clock.Add(time.Second)
	if st := b.status(t, id); st != nil {
		t.Errorf("at its ttl /status answered %v, want 404", st)
	}
	r := b.job(t, id)
	if r.Status != "TIMED_OUT" || !r.Ended.Equal(r.Submitted.Add(time.Minute)) {
		t.Errorf("record: %+v", r)
	}
	if code, _ := b.take(t, "pod-1"); code != http.StatusNoContent {
		t.Errorf("an expired job was given to a worker (%d)", code)
	}
	if hooks := b.s.Webhooks(); len(hooks) != 0 {
		t.Errorf("a job deleted at its ttl had webhooks: %+v", hooks)
	}
}

func TestTTLOfRunningJob(t *testing.T) {
	t.Parallel()
	b := setup(t, runpodtest.Options{})
	id := b.submit(t, `{"input": {}, "policy": {"ttl": 60000, "executionTimeout": 120000}}`)
	b.takeJob(t, "pod-1")
	b.clock.Add(time.Minute)
	if st := b.status(t, id); st != nil {
		t.Errorf("at its ttl /status answered %v, want 404", st)
	}
	_, body := b.stops(t, "pod-1")
	var stops struct{ JobsToStop []string }
	decode(t, body, &stops)
	if !slices.Equal(stops.JobsToStop, []string{id}) {
		t.Errorf("job-stop answered %s, want the expired job", body)
	}
	if r := b.job(t, id); r.Status != "TIMED_OUT" {
		t.Errorf("record: %+v", r)
	}
}

func TestExecutionTimeout(t *testing.T) {
	t.Parallel()
	hooks := newReceiver(t)
	b := setup(t, runpodtest.Options{})
	id := b.submit(t, `{"input": {}, "webhook": "`+hooks.url+`", "policy": {"executionTimeout": 5000}}`)
	b.clock.Add(time.Minute) // in the queue: executionTimeout does not run
	b.takeJob(t, "pod-1")
	b.clock.Add(4 * time.Second)
	b.ping(t, "pod-1", id)
	if st := b.status(t, id); st["status"] != "IN_PROGRESS" {
		t.Fatalf("before its executionTimeout: %v", st)
	}
	b.clock.Add(time.Second)
	st := b.status(t, id)
	if st["status"] != "TIMED_OUT" || st["executionTime"] != 5000.0 || st["delayTime"] != 60000.0 {
		t.Errorf("after its executionTimeout: %v", st)
	}
	_, body := b.stops(t, "pod-1")
	var stops struct{ JobsToStop []string }
	decode(t, body, &stops)
	if !slices.Equal(stops.JobsToStop, []string{id}) {
		t.Errorf("job-stop answered %s, want the timed-out job", body)
	}
	eventually(t, "the webhook", func() bool { return len(b.s.Webhooks()) == 1 })
	var sent map[string]any
	decode(t, b.s.Webhooks()[0].Body, &sent)
	if sent["id"] != id || sent["status"] != "TIMED_OUT" {
		t.Errorf("webhook body: %v", sent)
	}
}

func TestEndpointExecutionTimeoutIsTheDefault(t *testing.T) {
	t.Parallel()
	b := setup(t, runpodtest.Options{})
	if code, body := b.rest(t, http.MethodPatch, `{"timeout": 30000}`); code != http.StatusOK {
		t.Fatalf("PATCH answered %d %s", code, body)
	}
	id := b.submit(t, `{"input": {}}`)
	if r := b.job(t, id); r.ExecutionTimeout != 30*time.Second {
		t.Errorf("executionTimeout = %v, want the endpoint's 30 s", r.ExecutionTimeout)
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	b := setup(t, runpodtest.Options{})
	queued := b.submit(t, `{"input": {}}`)
	code, body := b.api(t, http.MethodPost, "/cancel/"+queued, "")
	if code != http.StatusOK || !jsonEqual(body, []byte(`{"id": "`+queued+`", "status": "CANCELLED"}`)) {
		t.Errorf("/cancel answered %d %s", code, body)
	}
	if code, _ := b.take(t, "pod-1"); code != http.StatusNoContent {
		t.Errorf("a cancelled job was given to a worker (%d)", code)
	}
	if st := b.status(t, queued); st["status"] != "CANCELLED" {
		t.Errorf("cancelled job: %v", st)
	}

	done := b.submit(t, `{"input": {}}`)
	b.takeJob(t, "pod-1")
	b.done(t, "pod-1", done, `{"output": 1}`)
	if _, body := b.api(t, http.MethodPost, "/cancel/"+done, ""); !jsonEqual(body, []byte(`{"id": "`+done+`", "status": "COMPLETED"}`)) {
		t.Errorf("/cancel of an ended job answered %s, want its state", body)
	}
	if code, _ := b.api(t, http.MethodPost, "/cancel/nope", ""); code != http.StatusNotFound {
		t.Errorf("/cancel of an unknown job answered %d, want 404", code)
	}
}

func TestRetention(t *testing.T) {
	t.Parallel()
	b := setup(t, runpodtest.Options{Retention: 10 * time.Minute})
	id := b.submit(t, `{"input": {}}`)
	b.takeJob(t, "pod-1")
	b.done(t, "pod-1", id, `{"output": 1}`)
	b.clock.Add(10*time.Minute - time.Millisecond)
	if st := b.status(t, id); st["status"] != "COMPLETED" {
		t.Errorf("within retention: %v", st)
	}
	b.clock.Add(time.Millisecond)
	if st := b.status(t, id); st != nil {
		t.Errorf("past retention /status answered %v, want 404", st)
	}
	if code, _ := b.api(t, http.MethodPost, "/cancel/"+id, ""); code != http.StatusNotFound {
		t.Errorf("past retention /cancel answered %d, want 404", code)
	}
	if _, ok := b.s.Job(id); !ok {
		t.Error("the record went with the retention")
	}
	if st := b.status(t, "nope"); st != nil {
		t.Errorf("unknown job: %v", st)
	}
}

func TestLostWorker(t *testing.T) {
	t.Parallel()
	hooks := newReceiver(t)
	b := setup(t, runpodtest.Options{WorkerLostAfter: 30 * time.Second})
	id := b.submit(t, `{"input": {}, "webhook": "`+hooks.url+`"}`)
	b.takeJob(t, "pod-1")

	// A worker that pings is not lost.
	for range 3 {
		b.clock.Add(20 * time.Second)
		b.ping(t, "pod-1", id)
	}
	if r := b.job(t, id); r.Status != "IN_PROGRESS" {
		t.Fatalf("a worker that pings was lost: %+v", r)
	}

	// Silent for 30 s: its job goes back to the queue, once.
	b.clock.Add(30 * time.Second)
	r := b.job(t, id)
	if r.Status != "IN_QUEUE" || r.Retries != 1 {
		t.Fatalf("after the first loss: %+v", r)
	}
	if h := b.health(t); h.Jobs.Retried != 1 || h.Jobs.InQueue != 1 || h.Workers.Running != 0 {
		t.Errorf("health: %+v", h)
	}
	if got, _ := b.takeJob(t, "pod-2"); got != id {
		t.Fatalf("pod-2 took %s, want the re-queued job", got)
	}
	// The first worker, back, is told to stop it, and its result is ignored.
	_, body := b.stops(t, "pod-1")
	if !jsonEqual(body, []byte(`{"jobsToStop": ["`+id+`"]}`)) {
		t.Errorf("job-stop of the lost worker: %s", body)
	}
	b.done(t, "pod-1", id, `{"output": "stale"}`)
	if r := b.job(t, id); r.Status != "IN_PROGRESS" || r.WorkerID != "pod-2" {
		t.Errorf("the lost worker's result was taken: %+v", r)
	}

	// Lost again: FAILED.
	b.clock.Add(30 * time.Second)
	if st := b.status(t, id); st["status"] != "FAILED" || st["error"] != "worker lost" {
		t.Errorf("after the second loss: %v", st)
	}
	eventually(t, "the webhook", func() bool { return len(b.s.Webhooks()) == 1 })
}

func TestHealth(t *testing.T) {
	t.Parallel()
	b := setup(t, runpodtest.Options{})
	ok := b.submit(t, `{"input": {}}`)
	bad := b.submit(t, `{"input": {}}`)
	b.submit(t, `{"input": {}}`) // running
	b.submit(t, `{"input": {}}`) // queued
	b.takeJob(t, "pod-1")
	b.done(t, "pod-1", ok, `{"output": 1}`)
	b.takeJob(t, "pod-1")
	b.done(t, "pod-1", bad, `{"error": "x"}`)
	b.takeJob(t, "pod-2")
	b.ping(t, "pod-3", "")
	h := b.health(t)
	want := health{}
	want.Jobs.Completed, want.Jobs.Failed, want.Jobs.InProgress, want.Jobs.InQueue = 1, 1, 1, 1
	want.Workers.Idle, want.Workers.Ready, want.Workers.Running = 2, 2, 1
	if h != want {
		t.Errorf("health = %+v, want %+v", h, want)
	}
	// Workers silent for WorkerLostAfter are not counted.
	b.clock.Add(29 * time.Second)
	b.ping(t, "pod-2", "")
	b.clock.Add(time.Second)
	if h := b.health(t); h.Workers.Idle != 0 || h.Workers.Ready != 0 || h.Workers.Running != 1 {
		t.Errorf("health 30 s later: %+v", h)
	}
}

func TestWebhookRetries(t *testing.T) {
	t.Parallel()
	hooks := newReceiver(t, 500, 503, 200)
	b := setup(t, runpodtest.Options{})
	id := b.submit(t, `{"input": {}, "webhook": "`+hooks.url+`"}`)
	b.takeJob(t, "pod-1")
	b.done(t, "pod-1", id, `{"output": {"video": "v"}}`)
	eventually(t, "three attempts", func() bool { return len(b.s.Webhooks()) == 3 })
	var statuses []int
	for i, d := range b.s.Webhooks() {
		statuses = append(statuses, d.Status)
		if d.JobID != id || d.URL != hooks.url || d.Attempt != i+1 {
			t.Errorf("delivery %d: %+v", i, d)
		}
		var body map[string]any
		decode(t, d.Body, &body)
		if body["id"] != id || body["status"] != "COMPLETED" || body["output"] == nil {
			t.Errorf("delivery %d body: %s", i, d.Body)
		}
	}
	if !slices.Equal(statuses, []int{500, 503, 200}) {
		t.Errorf("statuses answered: %v", statuses)
	}
	if got := hooks.received(); len(got) != 3 {
		t.Errorf("the receiver got %d requests, want 3", len(got))
	}
}

func TestWebhookGivesUpAfterThreeAttempts(t *testing.T) {
	t.Parallel()
	hooks := newReceiver(t, 500, 500, 500, 200)
	b := setup(t, runpodtest.Options{})
	id := b.submit(t, `{"input": {}, "webhook": "`+hooks.url+`"}`)
	b.takeJob(t, "pod-1")
	b.done(t, "pod-1", id, `{"error": "x"}`)
	eventually(t, "three attempts", func() bool { return len(b.s.Webhooks()) == 3 })
	time.Sleep(50 * time.Millisecond)
	if n := len(b.s.Webhooks()); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
}

func TestWebhookUnreachable(t *testing.T) {
	t.Parallel()
	b := setup(t, runpodtest.Options{})
	id := b.submit(t, `{"input": {}, "webhook": "http://127.0.0.1:1/hook"}`)
	b.takeJob(t, "pod-1")
	b.done(t, "pod-1", id, `{"output": 1}`)
	eventually(t, "three attempts", func() bool { return len(b.s.Webhooks()) == 3 })
	for _, d := range b.s.Webhooks() {
		if d.Status != 0 {
			t.Errorf("an unreachable receiver's attempt has status %d", d.Status)
		}
	}
}

func TestDropWebhooks(t *testing.T) {
	t.Parallel()
	hooks := newReceiver(t)
	b := setup(t, runpodtest.Options{})
	b.s.DropWebhooks(1)
	lost := b.submit(t, `{"input": {}, "webhook": "`+hooks.url+`"}`)
	kept := b.submit(t, `{"input": {}, "webhook": "`+hooks.url+`"}`)
	for _, id := range []string{lost, kept} {
		b.takeJob(t, "pod-1")
		b.done(t, "pod-1", id, `{"output": 1}`)
	}
	eventually(t, "the kept webhook", func() bool { return len(hooks.received()) == 1 })
	time.Sleep(20 * time.Millisecond)
	if got := hooks.received(); len(got) != 1 || got[0]["id"] != kept {
		t.Errorf("received %v, want the second job's only", got)
	}
}

func TestNoWebhookForCancelledJob(t *testing.T) {
	t.Parallel()
	hooks := newReceiver(t)
	b := setup(t, runpodtest.Options{})
	id := b.submit(t, `{"input": {}, "webhook": "`+hooks.url+`"}`)
	b.api(t, http.MethodPost, "/cancel/"+id, "")
	time.Sleep(20 * time.Millisecond)
	if n := len(b.s.Webhooks()); n != 0 {
		t.Errorf("%d webhooks for a cancelled job", n)
	}
}

func TestFail(t *testing.T) {
	t.Parallel()
	b := setup(t, runpodtest.Options{})
	id := b.submit(t, `{"input": {}}`)
	b.s.Fail("status", http.StatusServiceUnavailable, 2)
	b.s.Fail("status", http.StatusTooManyRequests, 1)
	for _, want := range []int{503, 503} {
		if code, _ := b.api(t, http.MethodGet, "/status/"+id, ""); code != want {
			t.Errorf("/status answered %d, want %d", code, want)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, b.s.URL()+"/v2/ep-test/status/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+b.s.Options().APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("/status answered %d with Retry-After %q, want 429 and 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if st := b.status(t, id); st["status"] != "IN_QUEUE" {
		t.Errorf("after the injections: %v", st)
	}

	// Each route has its own injections; worker routes too.
	b.s.Fail("job-take", http.StatusInternalServerError, 1)
	b.s.Fail("job-done", http.StatusBadGateway, 1)
	if code, _ := b.take(t, "pod-1"); code != 500 {
		t.Errorf("job-take answered %d, want 500", code)
	}
	b.takeJob(t, "pod-1")
	if code := b.done(t, "pod-1", id, `{"output": 1}`); code != 502 {
		t.Errorf("job-done answered %d, want 502", code)
	}
	if r := b.job(t, id); r.Status != "IN_PROGRESS" {
		t.Errorf("a refused job-done was taken: %+v", r)
	}
	b.done(t, "pod-1", id, `{"output": 1}`)

	// Status 0: the connection closes without an answer.
	b.s.Fail("run", 0, 1)
	req, _ = http.NewRequest(http.MethodPost, b.s.URL()+"/v2/ep-test/run", nil)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Error("a request failed with status 0 got an answer")
	}
	if n := len(b.s.Jobs()); n != 1 {
		t.Errorf("%d jobs, want 1", n)
	}
}

func TestRunWorkerRidesOutFailures(t *testing.T) {
	t.Parallel()
	b := setup(t, runpodtest.Options{})
	b.s.Fail("job-take", http.StatusTooManyRequests, 2)
	b.s.Fail("job-done", http.StatusServiceUnavailable, 1)
	stop := b.s.Run(func(_ context.Context, input json.RawMessage, _ func(json.RawMessage)) (json.RawMessage, string) {
		return input, ""
	})
	defer stop()
	id := b.submit(t, `{"input": "echo"}`)
	eventually(t, "the job to complete", func() bool { r, _ := b.s.Job(id); return r.Status == "COMPLETED" })
}

// health is /health's answer.
type health struct {
	Jobs struct {
		Completed, Failed, InProgress, InQueue, Retried int
	}
	Workers struct {
		Idle, Initializing, Ready, Running, Throttled, Unhealthy int
	}
}

func (b *bundle) health(t *testing.T) health {
	t.Helper()
	code, body := b.api(t, http.MethodGet, "/health", "")
	if code != http.StatusOK {
		t.Fatalf("/health answered %d %s", code, body)
	}
	var h health
	decode(t, body, &h)
	return h
}

func TestFailOfUnknownRoutePanics(t *testing.T) {
	t.Parallel()
	b := setup(t, runpodtest.Options{})
	defer func() {
		if recover() == nil {
			t.Error("Fail of a misspelt route did not panic")
		}
	}()
	b.s.Fail("stauts", 500, 1)
}
