package serverless

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/runpod"
	"github.com/avatar-api/avatar-api/internal/runpod/runpodtest"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

// fastPace is the worker's timing, shortened so that tests of backing
// off do not wait seconds.
var fastPace = pace{
	takeTimeout: 5 * time.Second, stopTimeout: 5 * time.Second,
	tooMany: 50 * time.Millisecond, backoff: 10 * time.Millisecond, maxBackoff: 100 * time.Millisecond,
	floor: 10 * time.Millisecond, progressEvery: 100 * time.Millisecond,
	postTimeout: 5 * time.Second, postAttempts: 5, postBackoff: 10 * time.Millisecond,
}

// call is what a Handler in these tests does with a job.
type call func(ctx context.Context, input json.RawMessage, progress func(float64)) (any, *runpod.WorkError)

func (c call) Handle(ctx context.Context, input json.RawMessage, progress func(float64)) (any, *runpod.WorkError) {
	return c(ctx, input, progress)
}

// sent records the worker's requests to RunPod on their way out; with
// slow set, each post to job-done takes that long more.
type sent struct {
	mu   sync.Mutex
	reqs []*http.Request
	slow time.Duration
}

func (s *sent) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	s.reqs = append(s.reqs, r.Clone(context.Background()))
	slow := s.slow
	s.mu.Unlock()
	if slow > 0 && strings.Contains(r.URL.Path, "/job-done/") {
		time.Sleep(slow)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// to returns the requests whose path holds route ("/job-done/" …).
func (s *sent) to(route string) []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*http.Request
	for _, r := range s.reqs {
		if strings.Contains(r.URL.Path, route) {
			out = append(out, r)
		}
	}
	return out
}

// rig is a Worker running against the RunPod double.
type rig struct {
	s    *runpodtest.Server
	w    *Worker
	log  *testkit.Buffer
	sent *sent
	stop context.CancelFunc // SIGTERM
	done chan error         // Run's return
}

// start runs a worker with h against a new double; setup may change the
// worker, or the double, before the worker starts.
func start(t *testing.T, h Handler, setup func(*rig)) *rig {
	t.Helper()
	s := runpodtest.New(runpodtest.Options{LongPoll: 50 * time.Millisecond})
	t.Cleanup(s.Close)
	vars := map[string]string{}
	for _, kv := range s.WorkerEnv("pod-1") {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	env, err := EnvFrom(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	env.PingInterval = 50 * time.Millisecond
	r := &rig{s: s, log: &testkit.Buffer{}, sent: &sent{}, done: make(chan error, 1)}
	p := fastPace
	r.w = &Worker{Env: env, Handler: h, HTTP: &http.Client{Transport: r.sent},
		Log:  slog.New(slog.NewTextHandler(r.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		pace: &p}
	if setup != nil {
		setup(r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	go func() { r.done <- r.w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
		if strings.Contains(r.log.String(), s.Options().WorkerKey) || strings.Contains(r.log.String(), "RTX") {
			t.Errorf("the log shows the key or a URL's query:\n%s", r.log)
		}
	})
	return r
}

// api calls the job API as our API does.
func (r *rig) api(t *testing.T, path, body string) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.s.URL()+"/v2/"+r.s.Options().EndpointID+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+r.s.Options().APIKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s answered %d %s", path, res.StatusCode, b)
	}
	return b
}

// submit queues a job with input and returns its id.
func (r *rig) submit(t *testing.T, input string) string {
	t.Helper()
	var job struct{ ID string }
	if err := json.Unmarshal(r.api(t, "/run", `{"input": `+input+`}`), &job); err != nil || job.ID == "" {
		t.Fatalf("/run: %v", err)
	}
	return job.ID
}

// ended waits for job id to end and returns its record.
func (r *rig) ended(t *testing.T, id string) runpodtest.Record {
	t.Helper()
	var rec runpodtest.Record
	testkit.WaitFor(t, 10*time.Second, "job "+id+" to end", func() bool {
		rec, _ = r.s.Job(id)
		return runpod.Ended(rec.Status)
	})
	return rec
}

// TestWorkerTakesRunsAndPosts: a job submitted is taken, its input handed
// to the handler, its progress posted, and its output posted as the
// result; every request carries the worker key, raw.
func TestWorkerTakesRunsAndPosts(t *testing.T) {
	t.Parallel()
	r := start(t, call(func(ctx context.Context, in json.RawMessage, progress func(float64)) (any, *runpod.WorkError) {
		progress(0.5)
		time.Sleep(300 * time.Millisecond)
		return map[string]any{"echo": in}, nil
	}), nil)
	id := r.submit(t, `{"n": 1}`)
	rec := r.ended(t, id)
	if rec.Status != runpod.Completed || rec.WorkerID != "pod-1" {
		t.Fatalf("job: %+v", rec)
	}
	var out struct{ Echo struct{ N int } }
	if err := json.Unmarshal(rec.Output, &out); err != nil || out.Echo.N != 1 {
		t.Errorf("output %s", rec.Output)
	}
	if len(rec.Progress) != 1 || string(rec.Progress[0]) != `{"progress":0.5}` {
		t.Errorf("progress updates: %q", rec.Progress)
	}
	for _, req := range r.sent.to("/") {
		if req.Header.Get("Authorization") != r.s.Options().WorkerKey {
			t.Errorf("%s %s sent Authorization %q", req.Method, req.URL.Path, req.Header.Get("Authorization"))
		}
	}
	done := r.sent.to("/job-done/")
	last := done[len(done)-1]
	if q := last.URL.Query(); q.Get("isStream") != "false" || q.Get("gpu") == "" || last.Header.Get("X-Request-Id") != id {
		t.Errorf("result posted to %s with X-Request-ID %q", last.URL, last.Header.Get("X-Request-Id"))
	}
	take := r.sent.to("/job-take/")[0]
	if q := take.URL.Query(); q.Get("job_in_progress") != "0" || q.Get("gpu") == "" {
		t.Errorf("job taken with %s", take.URL)
	}
}

// TestWorkerPostsHandlerError: a handler's WorkError is the job's error,
// JSON in RunPod's string, which runpod.ParseError reads back whole.
func TestWorkerPostsHandlerError(t *testing.T) {
	t.Parallel()
	want := &runpod.WorkError{Code: "no_face_detected", Message: "no face was found", Retryable: false}
	r := start(t, call(func(context.Context, json.RawMessage, func(float64)) (any, *runpod.WorkError) {
		return nil, want
	}), nil)
	rec := r.ended(t, r.submit(t, `{}`))
	if rec.Status != runpod.Failed {
		t.Fatalf("job: %+v", rec)
	}
	if got := runpod.ParseError(rec.Error); *got != *want {
		t.Errorf("error %+v; want %+v", got, want)
	}
}

// TestWorkerSurvivesAPanic: a handler that panics fails its job, not the
// worker, which takes the next.
func TestWorkerSurvivesAPanic(t *testing.T) {
	t.Parallel()
	r := start(t, call(func(_ context.Context, in json.RawMessage, _ func(float64)) (any, *runpod.WorkError) {
		if string(in) == `"boom"` {
			panic("boom")
		}
		return "fine", nil
	}), nil)
	rec := r.ended(t, r.submit(t, `"boom"`))
	if e := runpod.ParseError(rec.Error); rec.Status != runpod.Failed || e.Code != runpod.CodeWorkerError || !e.Retryable {
		t.Fatalf("job: %+v", rec)
	}
	if rec := r.ended(t, r.submit(t, `"next"`)); rec.Status != runpod.Completed {
		t.Fatalf("next job: %+v", rec)
	}
}

// TestWorkerPollsUntilAJobComes: job-take answers 204 while there is no
// job; the worker asks again, and takes the job when one comes.
func TestWorkerPollsUntilAJobComes(t *testing.T) {
	t.Parallel()
	r := start(t, call(func(context.Context, json.RawMessage, func(float64)) (any, *runpod.WorkError) {
		return "done", nil
	}), nil)
	testkit.WaitFor(t, 5*time.Second, "a few empty polls", func() bool { return len(r.sent.to("/job-take/")) >= 3 })
	if rec := r.ended(t, r.submit(t, `{}`)); rec.Status != runpod.Completed {
		t.Fatalf("job: %+v", rec)
	}
}

// TestWorkerSurvivesRunPodFailures: 5xx, 429, FlashBoot's 400 and
// connections dropped, on every route, are waited out; the job is taken
// and its result arrives.
func TestWorkerSurvivesRunPodFailures(t *testing.T) {
	t.Parallel()
	r := start(t, call(func(_ context.Context, _ json.RawMessage, progress func(float64)) (any, *runpod.WorkError) {
		progress(0.3)
		time.Sleep(200 * time.Millisecond)
		return "made it", nil
	}), func(r *rig) {
		// Injected before the worker starts: its first requests fail.
		s := r.s
		s.Fail("job-take", http.StatusInternalServerError, 2)
		s.Fail("job-take", http.StatusTooManyRequests, 1)
		s.Fail("job-take", http.StatusBadRequest, 1)
		s.Fail("job-take", 0, 1)
		s.Fail("job-take", http.StatusBadGateway, 1)
		s.Fail("job-stop", http.StatusServiceUnavailable, 3)
		s.Fail("job-stop", http.StatusTooManyRequests, 1)
		s.Fail("ping", http.StatusInternalServerError, 3)
		s.Fail("job-done", http.StatusServiceUnavailable, 2)
		s.Fail("job-done", http.StatusTooManyRequests, 1)
		s.Fail("job-done", 0, 1)
	})
	rec := r.ended(t, r.submit(t, `{}`))
	if rec.Status != runpod.Completed || string(rec.Output) != `"made it"` {
		t.Fatalf("job: %+v", rec)
	}
	// Six failures were injected; Go's transport may send a GET whose
	// connection was dropped unanswered again by itself, so one of those
	// may not be seen here as a request of its own.
	if n := len(r.sent.to("/job-take/")); n < 6 {
		t.Errorf("%d job-take requests; want the failed ones and one more", n)
	}
}

// TestWorkerGivesUpOnAResultRunPodRefuses: a result RunPod keeps failing
// is retried postAttempts times, then dropped; the worker goes on.
func TestWorkerGivesUpOnAResultRunPodRefuses(t *testing.T) {
	t.Parallel()
	r := start(t, call(func(context.Context, json.RawMessage, func(float64)) (any, *runpod.WorkError) {
		return "lost", nil
	}), nil)
	r.s.Fail("job-done", http.StatusBadGateway, fastPace.postAttempts)
	first := r.submit(t, `1`)
	testkit.WaitFor(t, 5*time.Second, "the result's attempts", func() bool {
		return len(r.sent.to("/job-done/")) == fastPace.postAttempts
	})
	if rec, _ := r.s.Job(first); rec.Status != runpod.InProgress {
		t.Errorf("job with its result lost: %+v", rec)
	}
	if rec := r.ended(t, r.submit(t, `2`)); rec.Status != runpod.Completed {
		t.Fatalf("next job: %+v", rec)
	}
}

// TestWorkerStopsTheJobRunPodCancels: a job cancelled on RunPod reaches
// the worker on the stop channel; the handler's context ends, nothing is
// posted for the job (rp_scale.py), and the worker takes the next.
func TestWorkerStopsTheJobRunPodCancels(t *testing.T) {
	t.Parallel()
	running, returned := make(chan struct{}), make(chan struct{})
	r := start(t, call(func(ctx context.Context, in json.RawMessage, _ func(float64)) (any, *runpod.WorkError) {
		if string(in) != `"long"` {
			return "short", nil
		}
		close(running)
		defer close(returned)
		select {
		case <-ctx.Done():
			return nil, &runpod.WorkError{Code: runpod.CodeStopped, Message: "stopped", Retryable: true}
		case <-time.After(10 * time.Second):
			return "not stopped", nil
		}
	}), nil)
	id := r.submit(t, `"long"`)
	<-running
	r.api(t, "/cancel/"+id, "")
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler's context did not end")
	}
	// The next job done, the worker is past the stopped one.
	if rec := r.ended(t, r.submit(t, `"next"`)); rec.Status != runpod.Completed {
		t.Fatalf("next job: %+v", rec)
	}
	if n := len(r.sent.to("/job-done/pod-1/" + id)); n != 0 {
		t.Errorf("%d posts for the stopped job", n)
	}
	if rec, _ := r.s.Job(id); rec.Status != runpod.Cancelled {
		t.Errorf("job: %+v", rec)
	}
}

// TestWorkerShutdown: when Run's context ends (SIGTERM), the running job
// may finish within Grace, and its result is posted; past Grace it is
// cancelled and reported as a retryable worker_stopped. Either way Run
// returns nil and takes no more jobs.
func TestWorkerShutdown(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		work  time.Duration
		grace time.Duration
		want  string // status
	}{
		{name: "within grace", work: 300 * time.Millisecond, grace: 5 * time.Second, want: runpod.Completed},
		{name: "past grace", work: 10 * time.Second, grace: 200 * time.Millisecond, want: runpod.Failed},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			running := make(chan struct{}, 1)
			r := start(t, call(func(ctx context.Context, _ json.RawMessage, _ func(float64)) (any, *runpod.WorkError) {
				running <- struct{}{}
				select {
				case <-time.After(c.work):
					return "finished", nil
				case <-ctx.Done():
					// A handler that says nothing of why: the worker knows.
					return nil, &runpod.WorkError{Code: runpod.CodeGeneration, Message: "interrupted"}
				}
			}), func(r *rig) { r.w.Grace = c.grace })
			id := r.submit(t, `{}`)
			<-running
			r.stop()
			select {
			case err := <-r.done:
				r.done <- err // for the cleanup
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return")
			}
			rec, _ := r.s.Job(id)
			if rec.Status != c.want {
				t.Fatalf("job: %+v", rec)
			}
			if c.want == runpod.Failed {
				if e := runpod.ParseError(rec.Error); e.Code != runpod.CodeStopped || !e.Retryable {
					t.Errorf("error %+v", e)
				}
			}
			takes := len(r.sent.to("/job-take/"))
			next := r.submit(t, `{}`)
			time.Sleep(200 * time.Millisecond)
			if rec, _ := r.s.Job(next); rec.Status != runpod.InQueue || len(r.sent.to("/job-take/")) != takes {
				t.Errorf("a stopped worker took a job: %+v", rec)
			}
		})
	}
}

// TestWorkerPingsWithTheJob: pings name the job in progress, and the
// SDK's version; none once it is done.
func TestWorkerPingsWithTheJob(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	r := start(t, call(func(ctx context.Context, _ json.RawMessage, _ func(float64)) (any, *runpod.WorkError) {
		<-release
		return "ok", nil
	}), nil)
	id := r.submit(t, `{}`)
	worker := func() runpodtest.WorkerRecord {
		for _, w := range r.s.Workers() {
			if w.PodID == "pod-1" {
				return w
			}
		}
		return runpodtest.WorkerRecord{}
	}
	testkit.WaitFor(t, 5*time.Second, "a ping naming the job", func() bool {
		return slices.Equal(worker().Reported, []string{id})
	})
	if v := worker().Version; v != SDKVersion {
		t.Errorf("runpod_version %q", v)
	}
	close(release)
	r.ended(t, id)
	testkit.WaitFor(t, 5*time.Second, "a ping naming no job", func() bool {
		return len(worker().Reported) == 0 && !worker().LastPing.IsZero()
	})
	for _, p := range r.sent.to("/ping/") {
		if q := p.URL.Query(); q.Get("runpod_version") != SDKVersion || q.Get("gpu") == "" {
			t.Errorf("ping %s", p.URL)
		}
	}
}

// TestWorkerThrottlesProgress: a handler reporting progress every 10 ms
// for 2.5 s gets at most one update a second posted, the last value
// each time, and is never held up by RunPod, however slowly it answers.
func TestWorkerThrottlesProgress(t *testing.T) {
	t.Parallel()
	var slowest, took atomic.Int64 // nanoseconds
	r := start(t, call(func(_ context.Context, _ json.RawMessage, progress func(float64)) (any, *runpod.WorkError) {
		start := time.Now()
		for i := 1; i <= 250; i++ {
			t0 := time.Now()
			progress(float64(i) / 250)
			if d := int64(time.Since(t0)); d > slowest.Load() {
				slowest.Store(d)
			}
			time.Sleep(10 * time.Millisecond)
		}
		took.Store(int64(time.Since(start)))
		return "ok", nil
	}), func(r *rig) {
		r.w.pace.progressEvery = defaultPace.progressEvery
		r.sent.slow = 300 * time.Millisecond
	})
	rec := r.ended(t, r.submit(t, `{}`))
	most := int(time.Duration(took.Load())/time.Second) + 1
	if n := len(rec.Progress); n < 2 || n > most {
		t.Errorf("%d progress updates in %s: %q", n, time.Duration(took.Load()), rec.Progress)
	}
	last := 0.0
	for _, p := range rec.Progress {
		var v runpod.Progress
		if err := json.Unmarshal(p, &v); err != nil || v.Progress <= last {
			t.Errorf("progress updates %q do not grow", rec.Progress)
		}
		last = v.Progress
	}
	if d := time.Duration(slowest.Load()); d > 100*time.Millisecond {
		t.Errorf("reporting progress took up to %s", d)
	}
}

// TestWorkerRefusesAnIncompleteSetup: Run without a handler or an
// environment fails at once rather than polling nothing.
func TestWorkerRefusesAnIncompleteSetup(t *testing.T) {
	t.Parallel()
	if err := (&Worker{}).Run(t.Context()); err == nil {
		t.Error("Run with no handler returned nil")
	}
	h := call(func(context.Context, json.RawMessage, func(float64)) (any, *runpod.WorkError) { return nil, nil })
	if err := (&Worker{Handler: h}).Run(t.Context()); err == nil {
		t.Error("Run with no environment returned nil")
	}
}
