package runpodtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// routes is the route table of the job API's host (api.runpod.ai): the
// job API and the worker's side.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()

	// The job API, which our API calls.
	mux.HandleFunc("POST /v2/{endpoint}/run", s.run)
	mux.HandleFunc("GET /v2/{endpoint}/status/{id}", s.status)
	mux.HandleFunc("POST /v2/{endpoint}/status/{id}", s.status) // runpod/docs PR 139: status is also POSTed
	mux.HandleFunc("POST /v2/{endpoint}/cancel/{id}", s.cancelJob)
	mux.HandleFunc("GET /v2/{endpoint}/health", s.health)

	// The worker's side, which RunPod's SDK (or our worker) calls.
	mux.HandleFunc("GET /v2/{endpoint}/job-take/{pod}", s.jobTake)
	mux.HandleFunc("GET /v2/{endpoint}/job-stop/{pod}", s.jobStop)
	mux.HandleFunc("POST /v2/{endpoint}/job-done/{pod}/{id}", s.jobDone)
	mux.HandleFunc("GET /v2/{endpoint}/ping/{pod}", s.ping)
	return mux
}

// restRoutes is the route table of the REST API v2's host
// (api.runpod.io): the endpoint's settings (rest.go). A host of its own,
// as at RunPod: on one host its paths and the job API's would clash (GET
// /v2/serverless/health matches both).
func (s *Server) restRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/serverless/{id}", s.getEndpoint)
	mux.HandleFunc("PATCH /v2/serverless/{id}", s.patchEndpoint)
	return mux
}

// maxRunBytes is /run's payload limit, 10 MB (docs: operation-reference).
const maxRunBytes = 10 << 20

// Policy limits (docs: send-requests, "Execution policies").
const (
	minExecutionTimeout = 5 * time.Second
	minTTL              = 10 * time.Second
	maxPolicy           = 7 * 24 * time.Hour
)

// apiAuth checks a job API request: route, key, endpoint. RunPod's docs
// show the key both as "Bearer <key>" and bare; both are taken.
func (s *Server) apiAuth(w http.ResponseWriter, r *http.Request, route string) bool {
	if s.injected(w, route) {
		return false
	}
	auth := r.Header.Get("Authorization")
	if auth != "Bearer "+s.opts.APIKey && auth != s.opts.APIKey {
		writeError(w, http.StatusUnauthorized, "unauthorized")
		return false
	}
	if r.PathValue("endpoint") != s.opts.EndpointID {
		writeError(w, http.StatusNotFound, "endpoint not found")
		return false
	}
	return true
}

// runBody is what /run takes.
type runBody struct {
	Input   json.RawMessage `json:"input"`
	Webhook string          `json:"webhook"`
	Policy  struct {
		ExecutionTimeout *int64 `json:"executionTimeout"` // ms
		TTL              *int64 `json:"ttl"`              // ms
		LowPriority      bool   `json:"lowPriority"`      // accepted; the double does not scale
	} `json:"policy"`
}

// run serves POST /v2/{endpoint}/run.
func (s *Server) run(w http.ResponseWriter, r *http.Request) {
	if !s.apiAuth(w, r, "run") {
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRunBytes))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "payload too large")
		return
	}
	var body runBody
	if err := json.Unmarshal(raw, &body); err != nil {
		writeError(w, http.StatusBadRequest, "body is not JSON")
		return
	}
	if len(body.Input) == 0 || isNull(body.Input) {
		writeError(w, http.StatusBadRequest, "input is required")
		return
	}
	if body.Webhook != "" {
		if u, err := url.Parse(body.Webhook); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			writeError(w, http.StatusBadRequest, "webhook is not an http(s) URL")
			return
		}
	}
	execTimeout, err := policy(body.Policy.ExecutionTimeout, minExecutionTimeout, "executionTimeout")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ttl, err := policy(body.Policy.TTL, minTTL, "ttl")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if ttl == 0 {
		ttl = defaultTTL
	}

	s.mu.Lock()
	if execTimeout == 0 {
		// "Setting executionTimeout in a request overrides the default
		// endpoint setting for that specific job only."
		execTimeout = time.Duration(s.endpoint.Timeout) * time.Millisecond
	}
	now := s.opts.Now()
	s.sweepLocked(now)
	job := &Record{
		ID:               newJobID(),
		Status:           inQueue,
		Input:            body.Input,
		Webhook:          body.Webhook,
		Submitted:        now,
		ExecutionTimeout: execTimeout,
		TTL:              ttl,
	}
	s.submitLocked(job)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"id": job.ID, "status": inQueue})
}

// policy reads a policy duration in ms; 0 when absent.
func policy(v *int64, least time.Duration, name string) (time.Duration, error) {
	if v == nil {
		return 0, nil
	}
	d := time.Duration(*v) * time.Millisecond
	if d < least || d > maxPolicy {
		return 0, fmt.Errorf("policy %s must be between %d and %d ms", name, least.Milliseconds(), maxPolicy.Milliseconds())
	}
	return d, nil
}

// newJobID makes an id shaped as RunPod's: a UUID and a suffix ("-u1").
func newJobID() string {
	h := randomHex(16)
	return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:] + "-u1"
}

// lookupLocked is the job id as /status and /cancel see it at now, after
// time has done its work: not found past its ttl or retention.
func (s *Server) lookupLocked(id string, now time.Time) (*Record, bool) {
	s.sweepLocked(now)
	j, ok := s.jobs[id]
	if !ok || !s.visibleLocked(j, now) {
		return nil, false
	}
	return j, true
}

// status serves GET /v2/{endpoint}/status/{id}.
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	if !s.apiAuth(w, r, "status") {
		return
	}
	s.mu.Lock()
	now := s.opts.Now()
	job, ok := s.lookupLocked(r.PathValue("id"), now)
	if !ok {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "request does not exist")
		return
	}
	body := newStatusBody(job)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, body)
}

// cancelJob serves POST /v2/{endpoint}/cancel/{id}. A queued job leaves
// the queue; a running one goes on its worker's stop list, and what the
// worker posts for it later is ignored. A job already ended keeps its
// state, which is answered (the docs do not say). No webhook is sent for
// a cancelled job: the docs promise one when a job completes, and the
// caller knows it cancelled.
func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request) {
	if !s.apiAuth(w, r, "cancel") {
		return
	}
	s.mu.Lock()
	now := s.opts.Now()
	job, ok := s.lookupLocked(r.PathValue("id"), now)
	if !ok {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "request does not exist")
		return
	}
	if !ended(job.Status) {
		s.endLocked(job, cancelled, now, false)
	}
	status := job.Status
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"id": job.ID, "status": status})
}

// healthBody is /health's answer (docs: operation-reference, /health).
type healthBody struct {
	Jobs struct {
		Completed  int `json:"completed"`
		Failed     int `json:"failed"`
		InProgress int `json:"inProgress"`
		InQueue    int `json:"inQueue"`
		Retried    int `json:"retried"`
	} `json:"jobs"`
	Workers struct {
		Idle         int `json:"idle"`
		Initializing int `json:"initializing"`
		Ready        int `json:"ready"`
		Running      int `json:"running"`
		Throttled    int `json:"throttled"`
		Unhealthy    int `json:"unhealthy"`
	} `json:"workers"`
}

// health serves GET /v2/{endpoint}/health from the double's state.
// Completed and failed count every job that ended so, since the double
// started (RunPod's window is not documented); failed counts TIMED_OUT
// too. A worker heard from within WorkerLostAfter is running when it
// holds a job, else idle and ready (the docs do not define "ready"; a
// worker that can take a job is the reading taken). The double knows no
// initializing, throttled or unhealthy workers.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	if !s.apiAuth(w, r, "health") {
		return
	}
	s.mu.Lock()
	now := s.opts.Now()
	s.sweepLocked(now)
	var h healthBody
	h.Jobs.Completed = s.counts.completed
	h.Jobs.Failed = s.counts.failed
	h.Jobs.Retried = s.counts.retried
	busy := make(map[string]bool)
	for _, job := range s.jobs {
		switch {
		case !s.visibleLocked(job, now):
		case job.Status == inQueue:
			h.Jobs.InQueue++
		case job.Status == inProgress:
			h.Jobs.InProgress++
			busy[job.WorkerID] = true
		}
	}
	for pod, wk := range s.workers {
		switch {
		case now.Sub(wk.lastSeen) >= s.opts.WorkerLostAfter:
		case busy[pod]:
			h.Workers.Running++
		default:
			h.Workers.Idle++
			h.Workers.Ready++
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, h)
}
