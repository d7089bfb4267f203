// Package serverless is `avatar-api worker --runpod`: our binary speaking
// RunPod's serverless worker protocol, so that it runs inside a RunPod
// worker container with no Python. The protocol is not documented apart
// from RunPod's Python SDK, so this package does what the SDK does
// (github.com/runpod/runpod-python, release 1.12.0, runpod/serverless/:
// worker.py, modules/rp_scale.py, rp_job.py, rp_http.py, rp_ping.py,
// rp_progress.py, rp_local.py, worker_state.py); each behaviour names the
// file it comes from.
//
// A Worker takes one job at a time from RunPod, runs it through a Handler,
// and posts the output back; meanwhile it pings RunPod and listens on the
// stop channel. Generate is the Handler that makes our videos.
package serverless

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/avatar-api/avatar-api/internal/runpod"
)

// SDKVersion is the SDK release whose protocol this package speaks; it is
// sent as runpod_version with each ping, as the SDK sends its own
// (rp_ping.py), so that RunPod treats us as a worker of that release.
const SDKVersion = "1.12.0"

// Handler runs jobs. It is an interface so that the protocol loop can be
// tested, and run locally (RunTestInput), apart from the generation.
type Handler interface {
	// Handle runs one job's input; progress reports 0..1. It returns the
	// output, or a *runpod.WorkError.
	Handle(ctx context.Context, input json.RawMessage, progress func(float64)) (any, *runpod.WorkError)
}

// Worker is one RunPod serverless worker.
type Worker struct {
	Env     Env
	Handler Handler
	HTTP    *http.Client // nil: a client with no overall timeout (each request has its own)
	Log     *slog.Logger // nil: slog.Default()
	// Grace is how long, once Run's ctx ends (SIGTERM), the running job
	// may go on (0: none); then it is cancelled and reported as
	// runpod.CodeStopped, retryable. The SDK waits for the job however long it takes
	// (rp_scale.py run_jobs); RunPod does not, it kills the container.
	Grace time.Duration

	pace *pace // nil: defaultPace; tests shorten it
}

// pace is the worker's timing.
type pace struct {
	takeTimeout   time.Duration // bound of a job-take long poll (rp_scale.py jobs_fetcher_timeout)
	stopTimeout   time.Duration // bound of a stop-channel long poll (rp_scale.py stop_signals_fetcher_timeout)
	tooMany       time.Duration // the wait after a 429 (rp_scale.py: "debounce for 5 seconds")
	backoff       time.Duration // the first wait after a failed poll, doubling
	maxBackoff    time.Duration
	floor         time.Duration // least time between two polls that found nothing (rp_scale.py monitor_stop_signals)
	progressEvery time.Duration // least time between two progress updates
	postTimeout   time.Duration // one attempt at posting a result
	postAttempts  int           // attempts at posting a job's result
	postBackoff   time.Duration // Fibonacci base between them (rp_http.py: FibonacciRetry)
}

var defaultPace = pace{
	takeTimeout:   90 * time.Second,
	stopTimeout:   90 * time.Second,
	tooMany:       5 * time.Second,
	backoff:       time.Second,
	maxBackoff:    30 * time.Second,
	floor:         time.Second,
	progressEvery: time.Second,
	postTimeout:   30 * time.Second,
	// The SDK tries 3 times, 0.1 s apart; a result lost is a job RunPod
	// times out, so ours tries longer: 1, 1, 2 and 3 s apart.
	postAttempts: 5,
	postBackoff:  time.Second,
}

// Causes of a job's cancellation, told apart when the handler returns.
var (
	errStopRequested = errors.New("RunPod asked to stop the job")
	errShutdown      = errors.New("the worker is shutting down")
	errFinished      = errors.New("the job finished")
)

// loop is one Run: the worker's URLs with its id filled in, and the job
// in progress, which the ping and the stop channel read.
type loop struct {
	w       *Worker
	client  *http.Client
	log     *slog.Logger
	pace    pace
	takeURL string // $ID filled in
	stopURL string // "" when it cannot be derived
	pingURL string // "" when there is none
	current atomic.Pointer[active]
}

// active is the job in progress.
type active struct {
	id     string
	cancel context.CancelCauseFunc
}

// Run takes jobs, one at a time, until ctx ends, then lets the running
// job finish within Grace and returns nil. Meanwhile it pings RunPod with
// the job in progress and cancels the job RunPod asks to stop. No answer
// of RunPod's, and no failure to reach it, ends Run: they are logged and
// the worker backs off.
func (w *Worker) Run(ctx context.Context) error {
	if w.Handler == nil {
		return errors.New("serverless worker: no handler")
	}
	if !httpURL(w.Env.GetJob) || !httpURL(w.Env.PostOutput) || w.Env.PodID == "" {
		return errors.New("serverless worker: incomplete environment (see EnvFrom)")
	}
	l := w.loop()
	l.log.InfoContext(ctx, "RunPod worker started", "env", w.Env)
	if l.stopURL == "" {
		// rp_scale.py monitor_stop_signals does the same.
		l.log.WarnContext(ctx, "no stop channel: RUNPOD_WEBHOOK_GET_JOB has no /job-take/; jobs cannot be stopped by RunPod")
	}
	if l.pingURL == "" {
		l.log.WarnContext(ctx, "RUNPOD_WEBHOOK_PING is not set: no pings will be sent")
	}

	// The ping and the stop channel outlive ctx while a job finishes.
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { l.pings(bg) })
	wg.Go(func() { l.stops(bg) })
	l.takeJobs(ctx)
	stop()
	wg.Wait()
	l.log.InfoContext(ctx, "RunPod worker stopped")
	return nil
}

func (w *Worker) loop() *loop {
	l := &loop{w: w, client: w.HTTP, log: w.Log, pace: defaultPace}
	if l.client == nil {
		l.client = &http.Client{}
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	if w.pace != nil {
		l.pace = *w.pace
	}
	// worker_state.py WORKER_ID; rp_job.py JOB_GET_URL and _job_stop_url.
	l.takeURL = strings.ReplaceAll(w.Env.GetJob, "$ID", w.Env.PodID)
	if strings.Contains(l.takeURL, "/job-take/") {
		l.stopURL = strings.Replace(l.takeURL, "/job-take/", "/job-stop/", 1)
	}
	// rp_ping.py Heartbeat.__init__.
	if w.Env.Ping != "" {
		l.pingURL = strings.ReplaceAll(w.Env.Ping, "$RUNPOD_POD_ID", w.Env.PodID)
	}
	return l
}

// job is what job-take answers: rp_job.py get_job requires "id" and
// "input"; the rest (a webhook, a policy) is RunPod's.
type job struct {
	ID    string          `json:"id"`
	Input json.RawMessage `json:"input"`
}

// takeJobs polls for jobs and runs them until ctx ends.
func (l *loop) takeJobs(ctx context.Context) {
	fails := 0
	for ctx.Err() == nil {
		start := time.Now()
		jobs, err := l.getJobs(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, errTooMany):
			l.log.WarnContext(ctx, "RunPod asked to slow down taking jobs", "wait", l.pace.tooMany)
			sleep(ctx, l.pace.tooMany)
		case err != nil:
			fails++
			wait := l.backoff(fails)
			l.log.WarnContext(ctx, "taking a job failed; backing off", "error", err, "wait", wait)
			sleep(ctx, wait)
		case len(jobs) == 0:
			fails = 0
			sleep(ctx, l.pace.floor-time.Since(start))
		default:
			fails = 0
			for _, j := range jobs {
				l.runJob(ctx, j)
			}
		}
	}
}

// getJobs long-polls job-take, as rp_job.py get_job does: 204, and 400
// (FlashBoot), are "no job"; 429 is errTooMany; an answer that is not
// JSON, or is empty, is no job either.
func (l *loop) getJobs(ctx context.Context) ([]job, error) {
	rctx, cancel := context.WithTimeout(ctx, l.pace.takeTimeout)
	defer cancel()
	// One job at a time: this worker never polls while a job is in
	// progress, so job_in_progress is always 0 (rp_job.py _job_get_url
	// sends 1 only when the SDK's concurrency lets it poll while busy).
	res, err := l.do(rctx, http.MethodGet, withParams(l.takeURL, "job_in_progress", "0"), nil, nil)
	if err != nil {
		if ctx.Err() == nil && rctx.Err() != nil {
			return nil, nil // the long poll's own bound: ask again
		}
		return nil, err
	}
	switch res.status {
	case http.StatusNoContent, http.StatusBadRequest:
		return nil, nil
	case http.StatusTooManyRequests:
		return nil, errTooMany
	}
	if res.status/100 != 2 {
		return nil, &statusError{res.status}
	}
	if !res.json() || len(res.body) == 0 {
		l.log.DebugContext(ctx, "job-take answered no JSON; no job", "content_type", res.ctype)
		return nil, nil
	}
	// A single job, as asked; a list is the batch API's answer
	// (rp_job.py get_job), taken as well.
	var jobs []job
	if res.body[0] == '[' {
		if err := json.Unmarshal(res.body, &jobs); err != nil {
			return nil, fmt.Errorf("reading the jobs taken: %w", err)
		}
	} else {
		var j job
		if err := json.Unmarshal(res.body, &j); err != nil {
			return nil, fmt.Errorf("reading the job taken: %w", err)
		}
		jobs = []job{j}
	}
	for _, j := range jobs {
		if j.ID == "" || len(j.Input) == 0 {
			return nil, errors.New("a job taken has no id or no input")
		}
	}
	return jobs, nil
}

// runJob runs one job and posts its result. A job RunPod asked to stop
// gets no result: the SDK cancels its task and posts nothing
// (rp_scale.py stop_job, handle_job), RunPod having ended the job itself.
func (l *loop) runJob(ctx context.Context, j job) {
	log := l.log.With("runpod_job", j.ID)
	jctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	l.current.Store(&active{id: j.ID, cancel: cancel})
	defer l.current.Store(nil) // after the result is posted: rp_scale.py handle_job

	go l.grace(ctx, jctx, cancel, log)
	rep := l.reporter(ctx, j.ID, log)
	log.InfoContext(ctx, "job started")
	start := time.Now()
	out, werr := l.handle(jctx, j.Input, rep.report, log)
	cancel(errFinished) // from here on, a stop or the grace's end changes nothing
	rep.close()

	switch cause := context.Cause(jctx); {
	case errors.Is(cause, errStopRequested):
		log.InfoContext(ctx, "job stopped at RunPod's request; no result is posted", "seconds", time.Since(start).Seconds())
		return
	case errors.Is(cause, errShutdown) && werr != nil:
		// Whatever the handler made of its cancellation, the cause is
		// ours, and another worker may well finish the job.
		werr = &runpod.WorkError{Code: runpod.CodeStopped, Message: "the GPU worker stopped before the video was finished", Retryable: true}
	}
	if werr != nil {
		log.WarnContext(ctx, "job failed", "code", werr.Code, "retryable", werr.Retryable, "seconds", time.Since(start).Seconds())
	} else {
		log.InfoContext(ctx, "job done", "seconds", time.Since(start).Seconds())
	}
	l.postResult(context.WithoutCancel(ctx), j.ID, out, werr, log)
}

// grace cancels the job Grace after ctx ends, unless it ended first.
func (l *loop) grace(ctx, jctx context.Context, cancel context.CancelCauseFunc, log *slog.Logger) {
	select {
	case <-jctx.Done():
		return
	case <-ctx.Done():
	}
	log.InfoContext(jctx, "shutting down; the running job may finish", "grace", l.w.Grace)
	t := time.NewTimer(l.w.Grace)
	defer t.Stop()
	select {
	case <-jctx.Done():
	case <-t.C:
		log.WarnContext(jctx, "grace over; stopping the running job")
		cancel(errShutdown)
	}
}

// handle runs the handler, turning a panic into a failed job: one bad
// job must not take the worker down (rp_job.py run_job catches every
// exception).
func (l *loop) handle(ctx context.Context, input json.RawMessage, progress func(float64), log *slog.Logger) (out any, werr *runpod.WorkError) {
	defer func() {
		if p := recover(); p != nil {
			log.ErrorContext(ctx, "handler panicked", "panic", p, "stack", string(debug.Stack()))
			out, werr = nil, &runpod.WorkError{Code: runpod.CodeWorkerError, Message: "the GPU worker failed", Retryable: true}
		}
	}()
	return l.w.Handler.Handle(ctx, input, progress)
}

// backoff is the wait after the nth failure in a row: doubling from
// pace.backoff up to pace.maxBackoff. The SDK retries at once
// (rp_scale.py get_jobs), which a RunPod in trouble does not need.
func (l *loop) backoff(n int) time.Duration {
	d := l.pace.backoff
	for i := 1; i < n && d < l.pace.maxBackoff; i++ {
		d *= 2
	}
	return min(d, l.pace.maxBackoff)
}

// sleep waits d, or until ctx ends; it reports whether it waited all of d.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// isJSON reports whether a Content-Type is JSON's (rp_job.py checks it
// before reading a job).
func isJSON(ctype string) bool {
	mt, _, err := mime.ParseMediaType(ctype)
	return err == nil && mt == "application/json"
}
