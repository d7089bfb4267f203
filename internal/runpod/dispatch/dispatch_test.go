package dispatch_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/runpod"
	"github.com/avatar-api/avatar-api/internal/runpod/dispatch"
	"github.com/avatar-api/avatar-api/internal/runpod/runpodtest"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

// bundle is one test's RunPod double, client and dispatcher.
type bundle struct {
	double *runpodtest.Server
	client *runpod.Client
	d      *dispatch.Dispatcher
	// recorded are the runs the dispatcher recorded on the job.
	mu       sync.Mutex
	recorded []generator.Run
	// pokes counts the webhooks our route took; statuses the /status
	// answers the dispatcher got.
	pokes, statuses atomic.Int32
}

// counting is the RunPod API, counting the status answers.
type counting struct {
	dispatch.API
	n *atomic.Int32
}

func (c counting) Status(ctx context.Context, id string) (runpod.Job, error) {
	j, err := c.API.Status(ctx, id)
	c.n.Add(1)
	return j, err
}

type options struct {
	poll    time.Duration
	webhook bool
	now     func() time.Time
}

func setup(t *testing.T, o options) *bundle {
	t.Helper()
	if o.poll == 0 {
		o.poll = 20 * time.Millisecond
	}
	// Workers are never taken for lost here: the clock of a test that
	// moves it would otherwise make them so.
	double := runpodtest.New(runpodtest.Options{LongPoll: 20 * time.Millisecond, WebhookRetryDelay: 10 * time.Millisecond, Now: o.now,
		WorkerLostAfter: 24 * time.Hour})
	t.Cleanup(double.Close)
	client, err := runpod.New(runpod.Config{
		APIURL: double.URL(), RESTURL: double.RESTURL(), EndpointID: double.Options().EndpointID, APIKey: double.Options().APIKey,
		Sleep: func(ctx context.Context, d time.Duration) error { // no real backoff in tests
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Millisecond):
				return nil
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle{double: double, client: client}
	cfg := dispatch.Config{API: counting{client, &b.statuses}, ExecutionTimeout: time.Minute, TTL: time.Hour, PollInterval: o.poll, Secret: []byte("test-secret-0123456789abcdef0123")}
	if o.webhook {
		// Our API's webhook route, as far as the dispatcher is concerned:
		// the path's job id and token, handed to Poke.
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/runpod/webhook/"), "/")
			b.pokes.Add(1)
			if len(parts) != 2 || !b.d.Poke(parts[0], parts[1]) {
				http.NotFound(w, r)
				return
			}
		}))
		t.Cleanup(srv.Close)
		cfg.WebhookURL = srv.URL + "/runpod/webhook"
	}
	b.d = dispatch.New(cfg)
	return b
}

// request is a job's request as the worker makes it for a generator that
// runs elsewhere.
func (b *bundle) request(jobID string) generator.Request {
	exp := time.Now().Add(time.Hour)
	return generator.Request{
		AudioFormat: "wav", AudioDuration: 4 * time.Second, Prompt: "hello", Width: 128, Height: 128, FPS: 10, Seed: 1,
		Remote: generator.Remote{
			JobID: jobID, Attempt: 1,
			Image:  generator.Object{Key: "inputs/" + jobID + "/image.png", URL: "http://storage.invalid/image", Expires: exp, MaxBytes: 1000},
			Audio:  generator.Object{Key: "inputs/" + jobID + "/audio.wav", URL: "http://storage.invalid/audio", Expires: exp, MaxBytes: 1000},
			Output: generator.Object{Key: "staging/" + jobID + ".mp4", URL: "http://storage.invalid/put", Expires: exp, MaxBytes: 1 << 20},
			Record: func(_ context.Context, run generator.Run) error {
				b.mu.Lock()
				defer b.mu.Unlock()
				b.recorded = append(b.recorded, run)
				return nil
			},
		},
	}
}

func (b *bundle) runs() []generator.Run {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]generator.Run(nil), b.recorded...)
}

// worker is an in-process RunPod worker of the double that answers with
// out (or errText) after checking the input is ours.
func (b *bundle) worker(t *testing.T, out runpod.Output, errText string, hold <-chan struct{}) {
	t.Helper()
	stop := b.double.Run(func(ctx context.Context, raw json.RawMessage, progress func(json.RawMessage)) (json.RawMessage, string) {
		var in runpod.Input
		if err := json.Unmarshal(raw, &in); err != nil || in.Check() != nil {
			return nil, "bad input"
		}
		progress(json.RawMessage(`{"progress":0.5}`))
		if hold != nil {
			select {
			case <-hold:
			case <-ctx.Done():
				return nil, "stopped"
			}
		}
		if errText != "" {
			return nil, errText
		}
		o, _ := json.Marshal(out)
		return o, ""
	})
	t.Cleanup(stop)
}

var goodOutput = runpod.Output{Version: runpod.Version, Video: runpod.Video{DurationMS: 4000, Bytes: 5000, Width: 128, Height: 128, FPS: 10, Frames: 40}}

func TestCompletes(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	b.worker(t, goodOutput, "", nil)
	req := b.request("job-1")
	res, err := b.d.Generate(context.Background(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	jobs := b.double.Jobs()
	if len(jobs) != 1 || jobs[0].Status != runpod.Completed {
		t.Fatalf("RunPod has %+v", jobs)
	}
	// RunPod reports whole milliseconds.
	if !res.Uploaded || res.UploadedKey != req.Remote.Output.Key || res.Billed == nil || *res.Billed != jobs[0].ExecutionTime.Truncate(time.Millisecond) {
		t.Fatalf("result %+v, want uploaded at %s billed %s", res, req.Remote.Output.Key, jobs[0].ExecutionTime)
	}
	if res.Duration != 4*time.Second || res.Size != 5000 {
		t.Fatalf("result %+v", res)
	}
	runs := b.runs()
	if len(runs) != 2 || runs[0].ID != jobs[0].ID || runs[0].Output != req.Remote.Output.Key || runs[1].Delay != jobs[0].DelayTime.Truncate(time.Millisecond) {
		t.Fatalf("recorded %+v; RunPod's job %+v", runs, jobs[0])
	}
	var in runpod.Input
	if err := json.Unmarshal(jobs[0].Input, &in); err != nil || in.Output.URL != req.Remote.Output.URL || in.AudioDurationMS != 4000 {
		t.Fatalf("input sent %s (%v)", jobs[0].Input, err)
	}
	if jobs[0].TTL != time.Hour || jobs[0].ExecutionTimeout != time.Minute {
		t.Fatalf("policy sent: ttl %s, execution timeout %s", jobs[0].TTL, jobs[0].ExecutionTimeout)
	}
}

// TestWebhookWakes: with polling slower than the test, the webhook is
// what ends the wait. The worker finishes only once the dispatcher has
// had its first status answer, so only a poke can make it ask again.
func TestWebhookWakes(t *testing.T) {
	t.Parallel()
	b := setup(t, options{poll: time.Hour, webhook: true})
	hold := make(chan struct{})
	b.worker(t, goodOutput, "", hold)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := b.d.Generate(ctx, b.request("job-hook"), nil); done <- err }()
	waitFor(t, func() bool {
		j := b.double.Jobs()
		return b.statuses.Load() > 0 && len(j) == 1 && j[0].Status == runpod.InProgress
	})
	close(hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if b.pokes.Load() == 0 || b.statuses.Load() < 2 {
		t.Fatalf("%d webhooks, %d status answers: the end was not learnt from the webhook", b.pokes.Load(), b.statuses.Load())
	}
}

// TestLostWebhookPollingRecovers: the webhook never arrives; polling
// finds the end.
func TestLostWebhookPollingRecovers(t *testing.T) {
	t.Parallel()
	b := setup(t, options{webhook: true})
	b.double.DropWebhooks(1)
	b.worker(t, goodOutput, "", nil)
	if _, err := b.d.Generate(context.Background(), b.request("job-lost-hook"), nil); err != nil {
		t.Fatal(err)
	}
	for _, w := range b.double.Webhooks() {
		if w.Status != 0 {
			t.Fatalf("a webhook reached us though it was to be lost: %+v", w)
		}
	}
}

func TestBadWebhookToken(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	if b.d.Poke("job-x", "not-the-token") {
		t.Fatal("a wrong token was accepted")
	}
	if !b.d.Poke("job-x", dispatch.Token([]byte("test-secret-0123456789abcdef0123"), "job-x")) {
		t.Fatal("the right token was refused")
	}
}

// TestRunPodFailingForAWhile: 429 and 500 on /run and /status are
// retried; the job is not lost and not sent twice.
func TestRunPodFailingForAWhile(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	b.double.Fail("run", http.StatusTooManyRequests, 2)
	b.double.Fail("status", http.StatusInternalServerError, 3)
	b.worker(t, goodOutput, "", nil)
	if _, err := b.d.Generate(context.Background(), b.request("job-flaky"), nil); err != nil {
		t.Fatal(err)
	}
	if n := len(b.double.Jobs()); n != 1 {
		t.Fatalf("RunPod got %d jobs, want 1", n)
	}
}

func TestWorkerErrorKeepsItsCode(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	werr := &runpod.WorkError{Code: "no_face_detected", Message: "no face in the portrait"}
	b.worker(t, runpod.Output{}, werr.String(), nil)
	_, err := b.d.Generate(context.Background(), b.request("job-noface"), nil)
	var f *generator.Failure
	if !errors.As(err, &f) || f.Code != "no_face_detected" || f.Retryable || f.Billed == nil {
		t.Fatalf("err = %v (%+v)", err, f)
	}
}

func TestForeignErrorIsRetryable(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	b.worker(t, runpod.Output{}, "Traceback (most recent call last): /opt/model/infer.py CUDA out of memory", nil)
	_, err := b.d.Generate(context.Background(), b.request("job-oom"), nil)
	var f *generator.Failure
	if !errors.As(err, &f) || f.Code != runpod.CodeWorkerError || !f.Retryable || strings.Contains(f.Message, "infer.py") {
		t.Fatalf("err = %v (%+v)", err, f)
	}
}

func TestOutputOfAnotherVersionRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	b.worker(t, runpod.Output{Version: runpod.Version + 1}, "", nil)
	_, err := b.d.Generate(context.Background(), b.request("job-v2"), nil)
	var f *generator.Failure
	if !errors.As(err, &f) || f.Code != dispatch.CodeBadOutput {
		t.Fatalf("err = %v", err)
	}
}

// TestTimedOut: RunPod stops a job past its execution timeout.
func TestTimedOut(t *testing.T) {
	t.Parallel()
	clock := &testkit.Clock{}
	b := setup(t, options{now: clock.Now})
	hold := make(chan struct{})
	defer close(hold)
	b.worker(t, goodOutput, "", hold)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := b.d.Generate(ctx, b.request("job-slow"), nil); done <- err }()
	waitFor(t, func() bool { j := b.double.Jobs(); return len(j) == 1 && j[0].Status == runpod.InProgress })
	clock.Advance(2 * time.Minute) // past the minute of execution timeout
	err := <-done
	var f *generator.Failure
	if !errors.As(err, &f) || f.Code != dispatch.CodeTimeout || f.Retryable {
		t.Fatalf("err = %v", err)
	}
}

// TestCancel: the job's end (a customer's cancel) cancels it at RunPod,
// queued or running.
func TestCancel(t *testing.T) {
	t.Parallel()
	for _, running := range []bool{false, true} {
		b := setup(t, options{})
		hold := make(chan struct{})
		if running {
			b.worker(t, goodOutput, "", hold)
		}
		ctx, cancel := context.WithCancelCause(context.Background())
		done := make(chan error, 1)
		go func() { _, err := b.d.Generate(ctx, b.request("job-cancel"), nil); done <- err }()
		want := runpod.InQueue
		if running {
			want = runpod.InProgress
		}
		waitFor(t, func() bool { j := b.double.Jobs(); return len(j) == 1 && j[0].Status == want })
		cancelled := errors.New("job cancelled")
		cancel(cancelled)
		if err := <-done; !errors.Is(err, cancelled) {
			t.Fatalf("running %v: err = %v", running, err)
		}
		if j := b.double.Jobs(); j[0].Status != runpod.Cancelled {
			t.Fatalf("running %v: RunPod's job is %s, want CANCELLED", running, j[0].Status)
		}
		close(hold)
	}
}

// TestShutdownLeavesTheRunForTheNextAttempt: a shutdown does not cancel
// the job at RunPod; the next attempt follows the same job to its end
// instead of paying for another.
func TestShutdownLeavesTheRunForTheNextAttempt(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	hold := make(chan struct{})
	b.worker(t, goodOutput, "", hold)
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan error, 1)
	req := b.request("job-restart")
	go func() { _, err := b.d.Generate(ctx, req, nil); done <- err }()
	waitFor(t, func() bool { j := b.double.Jobs(); return len(j) == 1 && j[0].Status == runpod.InProgress })
	cancel(generator.ErrShutdown)
	if err := <-done; !errors.Is(err, generator.ErrShutdown) {
		t.Fatalf("err = %v", err)
	}
	if j := b.double.Jobs(); j[0].Status != runpod.InProgress {
		t.Fatalf("RunPod's job is %s after our shutdown, want still IN_PROGRESS", j[0].Status)
	}

	next := b.request("job-restart")
	next.Remote.Attempt = 2
	next.Remote.Output.Key = "staging/another.mp4"
	next.Remote.Previous = b.runs()[0]
	close(hold)
	res, err := b.d.Generate(context.Background(), next, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(b.double.Jobs()); n != 1 {
		t.Fatalf("RunPod got %d jobs, want the first one followed", n)
	}
	if res.UploadedKey != req.Remote.Output.Key {
		t.Fatalf("video expected at %s (the first run's), got %s", req.Remote.Output.Key, res.UploadedKey)
	}
}

// TestForgottenJob: RunPod answers 404 for a job past its retention.
func TestForgottenJob(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	req := b.request("job-forgotten")
	req.Remote.Previous = generator.Run{ID: "no-such-job", Output: "staging/old.mp4"}
	b.worker(t, goodOutput, "", nil)
	// The earlier run is unknown: a new one is sent and completes.
	res, err := b.d.Generate(context.Background(), req, nil)
	if err != nil || res.UploadedKey != req.Remote.Output.Key {
		t.Fatalf("res %+v, err %v", res, err)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 20 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestGPUReadingsComeBack: the worker's GPU readings reach the result,
// an unknown utilisation (-1) as NaN, implausible ones dropped.
func TestGPUReadingsComeBack(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	at := time.Now().UTC().Truncate(time.Second)
	out := goodOutput
	out.Worker = "pod-7"
	out.GPU = []runpod.GPUSample{
		{GPU: 0, Utilization: 0.87, MemoryUsedBytes: 6 << 30, MemoryTotalBytes: 24 << 30, At: at},
		{GPU: 0, Utilization: -1, MemoryUsedBytes: 6 << 30, MemoryTotalBytes: 24 << 30, At: at.Add(5 * time.Second)},
		{GPU: 0, Utilization: 7, At: at}, // not a share
	}
	b.worker(t, out, "", nil)
	res, err := b.d.Generate(context.Background(), b.request("job-gpu"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Worker != "pod-7" || len(res.GPU) != 2 || res.GPU[0].Utilization != 0.87 || !math.IsNaN(res.GPU[1].Utilization) ||
		!res.GPU[0].At.Equal(at) || res.GPU[0].MemoryTotalBytes != 24<<30 {
		t.Fatalf("worker %q, readings %+v", res.Worker, res.GPU)
	}
}

// TestUnknownWorkerCodeIsNotTrusted: a code our worker does not send
// becomes worker_error with our words; a refusal keeps its code and, if
// plain, its words.
func TestUnknownWorkerCodeIsNotTrusted(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	werr := &runpod.WorkError{Code: "pay_us_at_evil_example", Message: "visit http://evil.example"}
	b.worker(t, runpod.Output{}, werr.String(), nil)
	_, err := b.d.Generate(context.Background(), b.request("job-evil"), nil)
	var f *generator.Failure
	if !errors.As(err, &f) || f.Code != runpod.CodeWorkerError || strings.Contains(f.Message, "evil") || !f.Retryable {
		t.Fatalf("err = %v (%+v)", err, f)
	}
}
