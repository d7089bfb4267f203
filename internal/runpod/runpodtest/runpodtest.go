// Package runpodtest is a test double of RunPod serverless: an outside
// cloud service that tests cannot reach, played here by a real HTTP
// server on 127.0.0.1. It is not a mock of our own code: it is written
// from RunPod's documentation and its Python SDK, and where they are
// silent it picks the plausible behaviour and says so in a comment.
//
// It serves both sides of an endpoint: the job API our API calls (/run,
// /status, /cancel, /health under /v2/{endpoint}) and the worker's side
// (job-take, job-stop, job-done, ping), whose URLs WorkerEnv hands to a
// worker process exactly as RunPod hands them to its container, on one
// host (URL); the REST API v2's endpoint (GET and PATCH
// /v2/serverless/{id}, see rest.go) on another (RESTURL), as RunPod
// serves them from api.runpod.ai and api.runpod.io. Run is an in-process
// worker for tests that need no separate process.
//
// Sources (read August 2026):
//
//   - docs.runpod.io/serverless/endpoints/send-requests: the /run body
//     ("input", "webhook", "policy": {"executionTimeout", "ttl"} in ms,
//     defaults 10 min and 24 h, "ttl: total lifespan of the job ... when
//     TTL expires, the job is deleted regardless of state" and status
//     checks return 404), result retention (30 min for /run), webhooks
//     ("should return a 200 status code. If the call fails, Runpod retries
//     up to 2 more times with a 10-second delay"), errors (401, 404, 429).
//   - docs.runpod.io/serverless/endpoints/operation-reference: the
//     responses of /run, /status, /cancel and /health, job ids such as
//     "60902e6c-08a1-426e-9cb9-9eaec90f5e2b-u1".
//   - docs.runpod.io/serverless/endpoints/job-states: IN_QUEUE,
//     IN_PROGRESS, COMPLETED, FAILED, CANCELLED, TIMED_OUT ("expired
//     before it was picked up by a worker or the worker failed to report
//     back before reaching the timeout threshold").
//   - docs.runpod.io/serverless/workers/overview: worker states (idle,
//     initializing, running, throttled, unhealthy).
//   - The REST API v2 (api.runpod.io/v2/openapi.json,
//     docs.runpod.io/api-reference-v2): its sources are named in rest.go.
//   - github.com/runpod/runpod-python 1.12.0, the worker's side:
//     runpod/serverless/modules/rp_job.py (job-take: "$ID" in
//     RUNPOD_WEBHOOK_GET_JOB is the pod id, "&job_in_progress=" appended,
//     204 when there is no job, {"id", "input"} when there is; job-stop:
//     the job-take URL with /job-stop/, answering {"jobsToStop": [...]}
//     or 204), rp_http.py (job-done: "$RUNPOD_POD_ID" and "$ID" in
//     RUNPOD_WEBHOOK_POST_OUTPUT, "&isStream=" appended, a JSON body sent
//     as application/x-www-form-urlencoded), rp_progress.py (a progress
//     update is {"status": "IN_PROGRESS", "output": …} to job-done),
//     rp_ping.py (GET RUNPOD_WEBHOOK_PING with "$RUNPOD_POD_ID", params
//     job_id and runpod_version, every RUNPOD_PING_INTERVAL ms),
//     http_client.py (workers send "Authorization: <RUNPOD_AI_API_KEY>",
//     no Bearer), runpod/endpoint/runner.py (clients send "Authorization:
//     Bearer <key>").
package runpodtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"
)

// Options shape a Server; zero values take the defaults named.
type Options struct {
	// EndpointID is the one endpoint the double serves; default "ep-test".
	EndpointID string
	// APIKey is what the job API and the REST API accept as
	// "Authorization: Bearer <APIKey>" (the job API also takes the bare
	// key, as RunPod's own curl examples send it); default random.
	APIKey string
	// WorkerKey is what workers send as "Authorization: <WorkerKey>"
	// (RUNPOD_AI_API_KEY, no Bearer, as the SDK does); default random.
	WorkerKey string
	// Retention is how long an ended job's result is kept before /status
	// answers 404; default 30 min, as RunPod keeps /run results.
	Retention time.Duration
	// WorkerLostAfter is how long a worker with a job in progress may stay
	// silent (no ping, take, stop poll or post) before it is lost: its job
	// is re-queued once (counted in health's "retried"), and FAILED with
	// error "worker lost" the second time; default 30 s.
	WorkerLostAfter time.Duration
	// WebhookRetryDelay is the wait between webhook attempts; default 1 s
	// (RunPod waits 10 s; tests want less).
	WebhookRetryDelay time.Duration
	// LongPoll is how long job-take and job-stop hold a request open when
	// there is nothing to give; default 1 s.
	LongPoll time.Duration
	// Now is the clock that ttl, executionTimeout, retention and lost
	// workers are judged against; default time.Now. Long polls and webhook
	// retries wait in real time.
	Now func() time.Time
}

const (
	defaultEndpointID       = "ep-test"
	defaultRetention        = 30 * time.Minute
	defaultWorkerLostAfter  = 30 * time.Second
	defaultWebhookRetry     = time.Second
	defaultLongPoll         = time.Second
	defaultExecutionTimeout = 600 * time.Second // RunPod's executionTimeout default
	defaultTTL              = 24 * time.Hour    // RunPod's ttl default
	tick                    = 20 * time.Millisecond
)

// Server is a running double of one RunPod serverless endpoint. Its
// methods are safe for concurrent use.
type Server struct {
	opts Options
	hs   *httptest.Server // the job API and the worker's side
	rest *httptest.Server // the REST API v2
	hook *http.Client     // delivers webhooks

	done   chan struct{}      // closed by Close: long polls and retries end
	ctx    context.Context    // ends with Close: webhook requests
	cancel context.CancelFunc //
	wg     sync.WaitGroup     // the ticker and webhook deliveries

	mu       sync.Mutex
	closed   bool
	changed  chan struct{} // closed and replaced at every change, for long polls
	jobs     map[string]*Record
	order    []string // job ids in submission order
	queue    []string // ids IN_QUEUE, the next one first
	workers  map[string]*worker
	endpoint endpoint
	counts   counts
	fails    map[string][]failure
	drop     int // webhooks still to lose
	hooks    []Delivery
	inproc   []*inprocWorker
	inprocN  int
}

// counts are the job figures of /health that are not states.
type counts struct {
	completed, failed, retried int
}

// failure is an injected answer: the next n requests to a route get status.
type failure struct {
	status, n int
}

// New starts a double on 127.0.0.1. Close it when done.
func New(opts Options) *Server {
	if opts.EndpointID == "" {
		opts.EndpointID = defaultEndpointID
	}
	if opts.APIKey == "" {
		opts.APIKey = randomKey()
	}
	if opts.WorkerKey == "" {
		opts.WorkerKey = randomKey()
	}
	if opts.Retention <= 0 {
		opts.Retention = defaultRetention
	}
	if opts.WorkerLostAfter <= 0 {
		opts.WorkerLostAfter = defaultWorkerLostAfter
	}
	if opts.WebhookRetryDelay <= 0 {
		opts.WebhookRetryDelay = defaultWebhookRetry
	}
	if opts.LongPoll <= 0 {
		opts.LongPoll = defaultLongPoll
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:     opts,
		hook:     &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}},
		done:     make(chan struct{}),
		ctx:      ctx,
		cancel:   cancel,
		changed:  make(chan struct{}),
		jobs:     make(map[string]*Record),
		workers:  make(map[string]*worker),
		endpoint: newEndpoint(opts.EndpointID),
		fails:    make(map[string][]failure),
	}
	// Started once both are set: the REST API's answers name the job
	// API's URL.
	s.hs = httptest.NewUnstartedServer(s.routes())
	s.rest = httptest.NewUnstartedServer(s.restRoutes())
	s.hs.Start()
	s.rest.Start()
	s.wg.Add(1)
	go s.tick()
	return s
}

// Close stops the in-process workers, ends the long polls and webhook
// deliveries, and shuts the server down.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	workers := s.inproc
	s.mu.Unlock()

	close(s.done)
	s.cancel()
	for _, w := range workers {
		w.stop()
	}
	s.hs.Close()
	s.rest.Close()
	s.wg.Wait()
	s.hook.CloseIdleConnections()
}

// URL is the job API's base, for Config.APIURL: /v2/{endpoint}/... is
// served here, and the worker's side.
func (s *Server) URL() string { return s.hs.URL }

// RESTURL is the REST API v2's base, for Config.RESTURL:
// /v2/serverless/{id} is served here.
func (s *Server) RESTURL() string { return s.rest.URL }

// Options returns the options with their defaults filled in.
func (s *Server) Options() Options { return s.opts }

// Fail makes the next n requests to route answer status instead of being
// served. Routes: "run", "status", "cancel", "health", "endpoint" (the
// REST API's GET and PATCH), "job-take", "job-stop", "job-done", "ping".
// A 429 carries Retry-After: 1. Status 0 closes the connection without an
// answer, after the request was read: an answer lost on the way.
// Injections for a route are served in the order given. An unknown
// route panics: a misspelt one would inject nothing.
func (s *Server) Fail(route string, status, n int) {
	switch route {
	case "run", "status", "cancel", "health", "endpoint", "job-take", "job-stop", "job-done", "ping":
	default:
		panic("runpodtest: Fail of an unknown route " + route)
	}
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails[route] = append(s.fails[route], failure{status: status, n: n})
}

// DropWebhooks makes the webhooks of the next n jobs that end with one
// get lost: no attempt reaches the receiver, and none is recorded.
func (s *Server) DropWebhooks(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop += n
}

// injected answers a request with an injected failure, if one is due,
// and reports whether it did.
func (s *Server) injected(w http.ResponseWriter, route string) bool {
	s.mu.Lock()
	q := s.fails[route]
	if len(q) == 0 {
		s.mu.Unlock()
		return false
	}
	f := q[0]
	if q[0].n--; q[0].n == 0 {
		s.fails[route] = q[1:]
	}
	s.mu.Unlock()
	if f.status == 0 {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return true
			}
		}
		f.status = http.StatusBadGateway
	}
	if f.status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	if route == "endpoint" {
		writeProblem(w, f.status, http.StatusText(f.status))
	} else {
		writeError(w, f.status, http.StatusText(f.status))
	}
	return true
}

// tick applies ttl, executionTimeout and lost workers while no request
// comes, so that webhooks and stop signals leave on time.
func (s *Server) tick() {
	defer s.wg.Done()
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			s.mu.Lock()
			s.sweepLocked(s.opts.Now())
			s.mu.Unlock()
		}
	}
}

// notifyLocked wakes the long polls, which look again.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// wait waits for a change, the end of the poll, or the request's or the
// server's end, and reports whether it may look again.
func (s *Server) wait(ctx context.Context, changed <-chan struct{}, deadline <-chan time.Time) bool {
	select {
	case <-changed:
		return true
	case <-deadline:
	case <-ctx.Done():
	case <-s.done:
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers a job API request with an error. The job API's
// error bodies are not documented; {"error": "..."} is a guess.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// writeProblem answers a REST API v2 request with an error, an RFC 9457
// problem: {"title", "status", "detail"} and, for a body that failed
// validation, "errors" (docs.runpod.io/api-reference-v2/migrate-from-v1;
// api.runpod.io/v2/openapi.json, ErrorResponse).
func writeProblem(w http.ResponseWriter, status int, detail string, errs ...string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Title  string   `json:"title"`
		Status int      `json:"status"`
		Detail string   `json:"detail"`
		Errors []string `json:"errors,omitempty"`
	}{http.StatusText(status), status, detail, errs})
}

func randomKey() string {
	return "rpa_" + randomHex(20)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// ms is d in whole milliseconds, as RunPod reports durations.
func ms(d time.Duration) int64 { return d.Milliseconds() }

func itoa(n int) string { return strconv.Itoa(n) }
