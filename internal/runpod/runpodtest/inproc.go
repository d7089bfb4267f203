package runpodtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Handler does one job for an in-process worker: it gets the job's input
// and a function that posts a progress update, and returns the output, or
// the error text of a failed job. ctx ends when the job is stopped
// (cancelled, timed out) or the worker is.
type Handler func(ctx context.Context, input json.RawMessage, progress func(json.RawMessage)) (output json.RawMessage, errText string)

// sdkVersion is what the in-process worker reports as runpod_version.
const sdkVersion = "runpodtest"

// pause is how long the in-process worker waits after a failed request.
const pause = 20 * time.Millisecond

// Run starts an in-process worker, for tests that need no separate
// process. It works as the SDK's worker does, over HTTP through the
// double's worker endpoints and the URLs of WorkerEnv: it takes one job
// at a time, posts its progress and result, polls job-stop and stops a
// job listed there (posting nothing for it), and pings. stop ends it and
// waits for it; Close stops it too.
func (s *Server) Run(handler Handler) (stop func()) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return func() {}
	}
	s.inprocN++
	pod := fmt.Sprintf("inproc-%d", s.inprocN)
	ctx, cancel := context.WithCancel(context.Background())
	w := &inprocWorker{
		pod:     pod,
		key:     s.opts.WorkerKey,
		env:     envMap(s.WorkerEnv(pod)),
		every:   min(s.opts.WorkerLostAfter/3, s.pingInterval()),
		handler: handler,
		client:  &http.Client{Transport: &http.Transport{}, Timeout: s.opts.LongPoll + 30*time.Second},
		cancel:  cancel,
	}
	s.inproc = append(s.inproc, w)
	s.mu.Unlock()

	w.wg.Add(3)
	go w.takeJobs(ctx)
	go w.pollStops(ctx)
	go w.ping(ctx)
	return w.stop
}

// inprocWorker is one worker of Run.
type inprocWorker struct {
	pod, key string
	env      map[string]string
	every    time.Duration
	handler  Handler
	client   *http.Client
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	once     sync.Once

	mu      sync.Mutex
	job     string             // the job in progress, "" if none
	stopJob context.CancelFunc // stops it
	// early are stop signals for a job taken but not yet started here
	// (the double shows a job in progress once its take is answered).
	early map[string]bool
}

func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func (w *inprocWorker) stop() {
	w.once.Do(func() {
		w.cancel()
		w.wg.Wait()
		w.client.CloseIdleConnections()
	})
}

// takeURL is the job-take URL as rp_job.py builds it.
func (w *inprocWorker) takeURL() string {
	inProgress := "0"
	if w.current() != "" {
		inProgress = "1"
	}
	return strings.ReplaceAll(w.env["RUNPOD_WEBHOOK_GET_JOB"], "$ID", w.pod) + "&job_in_progress=" + inProgress
}

func (w *inprocWorker) current() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.job
}

func (w *inprocWorker) takeJobs(ctx context.Context) {
	defer w.wg.Done()
	for ctx.Err() == nil {
		status, body := w.get(ctx, w.takeURL())
		switch status {
		case http.StatusOK:
			var job struct {
				ID    string          `json:"id"`
				Input json.RawMessage `json:"input"`
			}
			if json.Unmarshal(body, &job) != nil || job.ID == "" {
				sleep(ctx, pause)
				continue
			}
			w.do(ctx, job.ID, job.Input)
		case http.StatusNoContent:
		default:
			sleep(ctx, pause)
		}
	}
}

// do runs one job and posts its result, unless it was stopped.
func (w *inprocWorker) do(ctx context.Context, id string, input json.RawMessage) {
	jobCtx, stopJob := context.WithCancel(ctx)
	defer stopJob()
	w.mu.Lock()
	w.job, w.stopJob = id, stopJob
	if w.early[id] {
		delete(w.early, id)
		stopJob()
	}
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.job, w.stopJob = "", nil
		w.mu.Unlock()
	}()

	progress := func(p json.RawMessage) {
		w.post(jobCtx, id, map[string]any{"status": inProgress, "output": p})
	}
	out, errText := w.handler(jobCtx, input, progress)
	if jobCtx.Err() != nil {
		return // stopped: the SDK cancels the job's task and posts nothing
	}
	result := map[string]any{}
	switch {
	case errText != "":
		result["error"] = errText
	case out != nil:
		result["output"] = out
	}
	w.post(ctx, id, result)
}

// post sends a job-done body as rp_http.py does (JSON labelled
// application/x-www-form-urlencoded), three attempts as its
// FibonacciRetry(attempts=3).
func (w *inprocWorker) post(ctx context.Context, id string, v any) {
	body, _ := json.Marshal(v)
	u := w.env["RUNPOD_WEBHOOK_POST_OUTPUT"]
	u = strings.ReplaceAll(u, "$RUNPOD_POD_ID", w.pod)
	u = strings.ReplaceAll(u, "$ID", id) + "&isStream=false"
	for range 3 {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Authorization", w.key)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := w.client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode < 300 {
				return
			}
		}
		if !sleep(ctx, pause) {
			return
		}
	}
}

// pollStops long-polls job-stop and stops the job in progress if listed.
func (w *inprocWorker) pollStops(ctx context.Context) {
	defer w.wg.Done()
	stopURL := strings.Replace(w.takeURLBase(), "/job-take/", "/job-stop/", 1)
	for ctx.Err() == nil {
		status, body := w.get(ctx, stopURL)
		if status != http.StatusOK {
			if status != http.StatusNoContent {
				sleep(ctx, pause)
			}
			continue
		}
		var stops struct {
			JobsToStop []string `json:"jobsToStop"`
		}
		_ = json.Unmarshal(body, &stops)
		w.mu.Lock()
		for _, id := range stops.JobsToStop {
			if id == w.job && w.stopJob != nil {
				w.stopJob()
				continue
			}
			if w.early == nil {
				w.early = map[string]bool{}
			}
			w.early[id] = true
		}
		w.mu.Unlock()
	}
}

// takeURLBase is the job-take URL before the SDK's additions, from which
// rp_job.py derives the job-stop URL.
func (w *inprocWorker) takeURLBase() string {
	return strings.ReplaceAll(w.env["RUNPOD_WEBHOOK_GET_JOB"], "$ID", w.pod)
}

// ping pings as rp_ping.py does, with the job in progress.
func (w *inprocWorker) ping(ctx context.Context) {
	defer w.wg.Done()
	base := strings.ReplaceAll(w.env["RUNPOD_WEBHOOK_PING"], "$RUNPOD_POD_ID", w.pod)
	for {
		q := url.Values{"runpod_version": {sdkVersion}}
		if id := w.current(); id != "" {
			q.Set("job_id", id)
		}
		w.get(ctx, base+"&"+q.Encode())
		if !sleep(ctx, w.every) {
			return
		}
	}
}

// get makes a worker GET and returns the status and body, 0 on failure.
func (w *inprocWorker) get(ctx context.Context, u string) (int, []byte) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil
	}
	req.Header.Set("Authorization", w.key)
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResultBytes))
	if err != nil {
		return 0, nil
	}
	return resp.StatusCode, body
}

// sleep waits d or until ctx ends, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
