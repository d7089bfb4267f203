package serverless

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/avatar-api/avatar-api/internal/runpod"
)

// postHeader is what the SDK sends with a result (rp_http.py _transmit):
// a JSON body under a form Content-Type, and a "charset" header. It is
// copied as is: RunPod's side is known to accept exactly this.
func postHeader(jobID string) http.Header {
	return http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"},
		"Charset":      {"utf-8"},
		"X-Request-Id": {jobID}, // rp_http.py _handle_result
	}
}

// doneURL is where a job's result goes (rp_http.py JOB_DONE_URL and
// _handle_result).
func (l *loop) doneURL(jobID string) string {
	u := strings.ReplaceAll(l.w.Env.PostOutput, "$RUNPOD_POD_ID", l.w.Env.PodID)
	u = strings.ReplaceAll(u, "$ID", jobID)
	return withParams(u, "isStream", "false")
}

// postResult posts a job's output or error, retrying as pace says; a
// result that cannot be posted is logged and dropped, as the SDK does
// (rp_http.py _handle_result): RunPod then times the job out.
func (l *loop) postResult(ctx context.Context, jobID string, out any, werr *runpod.WorkError, log *slog.Logger) {
	body, err := resultBody(out, werr)
	if err != nil {
		log.ErrorContext(ctx, "encoding the job's output failed; posting an error instead", "error", err)
		body, _ = resultBody(nil, &runpod.WorkError{Code: runpod.CodeWorkerError, Message: "the GPU worker failed", Retryable: true})
	}
	for n := 1; ; n++ {
		err := l.post(ctx, jobID, body)
		if err == nil {
			log.DebugContext(ctx, "result posted")
			return
		}
		if n >= l.pace.postAttempts || !retryable(err) {
			log.ErrorContext(ctx, "posting the job's result failed; giving up", "error", err, "attempts", n)
			return
		}
		wait := l.pace.postBackoff * time.Duration(fibonacci(n))
		log.WarnContext(ctx, "posting the job's result failed; retrying", "error", err, "wait", wait)
		sleep(ctx, wait)
	}
}

// resultBody is {"output": out}, or {"error": "…"} with the WorkError
// JSON-encoded in the string (runpod.ParseError reads it back).
func resultBody(out any, werr *runpod.WorkError) ([]byte, error) {
	if werr != nil {
		return json.Marshal(struct {
			Error string `json:"error"`
		}{werr.String()})
	}
	return json.Marshal(struct {
		Output any `json:"output"`
	}{out})
}

// post sends one body to the job's done URL, once.
func (l *loop) post(ctx context.Context, jobID string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, l.pace.postTimeout)
	defer cancel()
	res, err := l.do(ctx, http.MethodPost, l.doneURL(jobID), body, postHeader(jobID))
	if err != nil {
		return err
	}
	if res.status/100 != 2 {
		return &statusError{res.status}
	}
	return nil
}

// retryable reports whether a failed post may succeed if sent again: a
// network failure, a 5xx or a 429. Another 4xx will not change.
func retryable(err error) bool {
	if se, ok := err.(*statusError); ok {
		return se.status >= 500 || se.status == http.StatusTooManyRequests
	}
	return true
}

// fibonacci is the nth Fibonacci number, 1, 1, 2, 3, 5…
func fibonacci(n int) int {
	a, b := 1, 1
	for range n - 1 {
		a, b = b, a+b
	}
	return a
}

// progress sends a job's progress updates, {"status": "IN_PROGRESS",
// "output": {"progress": p}} to the done URL (rp_progress.py), from a
// goroutine of its own so that the job never waits for RunPod: report
// only records the value. At most one update goes out per
// pace.progressEvery, carrying the last value reported; an update that
// fails is not retried, the next one supersedes it.
type progress struct {
	l      *loop
	jobID  string
	log    *slog.Logger
	latest atomic.Uint64 // math.Float64bits of the last value reported
	kick   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

func (l *loop) reporter(ctx context.Context, jobID string, log *slog.Logger) *progress {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p := &progress{l: l, jobID: jobID, log: log, kick: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	go p.run(ctx)
	return p
}

// report records v (clamped to 0..1; NaN ignored) for the next update.
func (p *progress) report(v float64) {
	if math.IsNaN(v) {
		return
	}
	p.latest.Store(math.Float64bits(min(max(v, 0), 1)))
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// close stops the updates and waits for the one in flight to end, so
// that none arrives after the job's result.
func (p *progress) close() {
	p.cancel()
	<-p.done
}

func (p *progress) run(ctx context.Context) {
	defer close(p.done)
	var last time.Time
	sent := math.NaN()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.kick:
		}
		if !sleep(ctx, p.l.pace.progressEvery-time.Since(last)) {
			return
		}
		v := math.Float64frombits(p.latest.Load())
		if v == sent {
			continue
		}
		last = time.Now()
		body, _ := json.Marshal(struct {
			Status string          `json:"status"`
			Output runpod.Progress `json:"output"`
		}{runpod.InProgress, runpod.Progress{Progress: v}})
		err := p.l.post(ctx, p.jobID, body)
		switch {
		case err == nil:
			sent, failing = v, false
		case ctx.Err() != nil:
			return
		case !failing:
			failing = true
			p.log.WarnContext(ctx, "posting progress failed", "error", err)
		}
	}
}
