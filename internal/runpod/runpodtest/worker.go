package runpodtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// gpuQuery is the query string RunPod's worker URLs carry (the SDK
// appends "&job_in_progress=" and "&isStream=" to them, so they must have
// one); its value is the SDK's local simulator's
// (tests/test_serverless/local_sim/.env_example).
const gpuQuery = "?gpu=NVIDIA+GeForce+RTX+4090"

// maxResultBytes bounds a job-done body. RunPod documents no limit for
// results; the /run payload limit (10 MB) is taken.
const maxResultBytes = 10 << 20

// worker is what the double knows of a pod.
type worker struct {
	lastSeen, lastPing time.Time
	version            string
	reported           []string
	stop               []string // jobs it must stop, for its next job-stop poll
}

// WorkerRecord is what the double knows of a worker.
type WorkerRecord struct {
	PodID    string
	LastSeen time.Time // its last request of any kind: take, stop poll, post, ping
	LastPing time.Time
	Jobs     []string // the jobs in progress on it, as the double sees them
	Reported []string // the job ids of its last ping
	Version  string   // the runpod_version of its last ping
	Stop     []string // jobs on its stop list, not yet collected
}

// WorkerEnv returns the environment RunPod gives a worker container of
// the endpoint, as the SDK reads it: RUNPOD_WEBHOOK_GET_JOB (whose "$ID"
// the worker replaces by its pod id, rp_job.py), RUNPOD_WEBHOOK_POST_OUTPUT
// ("$RUNPOD_POD_ID" by its pod id and "$ID" by the job's, rp_http.py),
// RUNPOD_WEBHOOK_PING ("$RUNPOD_POD_ID", rp_ping.py), RUNPOD_AI_API_KEY
// (the worker key), RUNPOD_POD_ID, RUNPOD_PING_INTERVAL (ms) and
// RUNPOD_ENDPOINT_ID. The job-stop URL is the job-take URL with
// /job-stop/ for /job-take/, as rp_job.py derives it.
func (s *Server) WorkerEnv(podID string) []string {
	base := s.hs.URL + "/v2/" + s.opts.EndpointID
	return []string{
		"RUNPOD_WEBHOOK_GET_JOB=" + base + "/job-take/$ID" + gpuQuery,
		"RUNPOD_WEBHOOK_POST_OUTPUT=" + base + "/job-done/$RUNPOD_POD_ID/$ID" + gpuQuery,
		"RUNPOD_WEBHOOK_PING=" + base + "/ping/$RUNPOD_POD_ID" + gpuQuery,
		"RUNPOD_AI_API_KEY=" + s.opts.WorkerKey,
		"RUNPOD_POD_ID=" + podID,
		"RUNPOD_PING_INTERVAL=" + itoa(int(s.pingInterval().Milliseconds())),
		"RUNPOD_ENDPOINT_ID=" + s.opts.EndpointID,
	}
}

// pingInterval keeps a worker that pings on time well within
// WorkerLostAfter. It is whole seconds, at least one: the SDK divides it
// by 1000 in integers (rp_ping.py), and RunPod's default is 10 s.
func (s *Server) pingInterval() time.Duration {
	d := min(s.opts.WorkerLostAfter/3, 10*time.Second)
	return max(d.Truncate(time.Second), time.Second)
}

// Workers returns what the double knows of each worker seen, by pod id.
func (s *Server) Workers() []WorkerRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(s.opts.Now())
	out := make([]WorkerRecord, 0, len(s.workers))
	for pod, w := range s.workers {
		out = append(out, WorkerRecord{
			PodID:    pod,
			LastSeen: w.lastSeen,
			LastPing: w.lastPing,
			Jobs:     s.jobsOnLocked(pod),
			Reported: slices.Clone(w.reported),
			Version:  w.version,
			Stop:     slices.Clone(w.stop),
		})
	}
	slices.SortFunc(out, func(a, b WorkerRecord) int { return strings.Compare(a.PodID, b.PodID) })
	return out
}

func (s *Server) jobsOnLocked(pod string) []string {
	var ids []string
	for _, id := range s.order {
		if r := s.jobs[id]; r.Status == inProgress && r.WorkerID == pod {
			ids = append(ids, id)
		}
	}
	return ids
}

// workerLocked returns pod's record, making it if it is new.
func (s *Server) workerLocked(pod string) *worker {
	w, ok := s.workers[pod]
	if !ok {
		w = &worker{}
		s.workers[pod] = w
	}
	return w
}

// stopLocked puts a job on its worker's stop list.
func (s *Server) stopLocked(pod, id string) {
	w := s.workerLocked(pod)
	if !slices.Contains(w.stop, id) {
		w.stop = append(w.stop, id)
	}
	s.notifyLocked()
}

// workerAuth checks a worker request: route, the worker key, the
// endpoint, a pod id that was substituted. It marks the pod seen.
func (s *Server) workerAuth(w http.ResponseWriter, r *http.Request, route string) (pod string, ok bool) {
	if s.injected(w, route) {
		return "", false
	}
	if r.Header.Get("Authorization") != s.opts.WorkerKey {
		writeError(w, http.StatusUnauthorized, "unauthorized")
		return "", false
	}
	if r.PathValue("endpoint") != s.opts.EndpointID {
		writeError(w, http.StatusNotFound, "endpoint not found")
		return "", false
	}
	pod = r.PathValue("pod")
	if pod == "" || strings.HasPrefix(pod, "$") {
		writeError(w, http.StatusBadRequest, "the pod id placeholder was not replaced: "+pod)
		return "", false
	}
	s.mu.Lock()
	now := s.opts.Now()
	s.sweepLocked(now) // a worker back after too long was lost all the same
	s.workerLocked(pod).lastSeen = now
	s.mu.Unlock()
	return pod, true
}

// jobTake serves GET /v2/{endpoint}/job-take/{pod}: the next job, held
// open up to LongPoll while there is none (204 then).
func (s *Server) jobTake(w http.ResponseWriter, r *http.Request) {
	pod, ok := s.workerAuth(w, r, "job-take")
	if !ok {
		return
	}
	deadline := time.NewTimer(s.opts.LongPoll)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		now := s.opts.Now()
		s.sweepLocked(now)
		job := s.takeLocked(pod, now)
		var body []byte
		if job != nil {
			s.workerLocked(pod).lastSeen = now
			body, _ = json.Marshal(struct {
				ID    string          `json:"id"`
				Input json.RawMessage `json:"input"`
			}{job.ID, job.Input})
		}
		changed := s.changed
		s.mu.Unlock()
		if job != nil {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
			return
		}
		if !s.wait(r.Context(), changed, deadline.C) {
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
}

// jobStop serves GET /v2/{endpoint}/job-stop/{pod}: the jobs the worker
// must stop, held open up to LongPoll while there are none (204 then).
func (s *Server) jobStop(w http.ResponseWriter, r *http.Request) {
	pod, ok := s.workerAuth(w, r, "job-stop")
	if !ok {
		return
	}
	deadline := time.NewTimer(s.opts.LongPoll)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		now := s.opts.Now()
		s.sweepLocked(now)
		wk := s.workerLocked(pod)
		ids := wk.stop
		wk.stop = nil
		if len(ids) > 0 {
			wk.lastSeen = now
		}
		changed := s.changed
		s.mu.Unlock()
		if len(ids) > 0 {
			writeJSON(w, http.StatusOK, map[string][]string{"jobsToStop": ids})
			return
		}
		if !s.wait(r.Context(), changed, deadline.C) {
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
}

// doneBody is what a worker posts to job-done: {"output": …} or
// {"error": "…"} (rp_job.py run_job), or {"status": "IN_PROGRESS",
// "output": …} for progress (rp_progress.py). The SDK may also send
// "stopPod", which the double ignores.
type doneBody struct {
	Status string          `json:"status"`
	Output json.RawMessage `json:"output"`
	Error  json.RawMessage `json:"error"`
}

// jobDone serves POST /v2/{endpoint}/job-done/{pod}/{id}?isStream=…. The
// body is JSON whatever its Content-Type (the SDK labels it
// application/x-www-form-urlencoded). A result for a job that is not in
// progress on that pod (cancelled, timed out, re-queued, taken by another
// worker) is answered 200 and ignored: RunPod's answer is not documented,
// and the SDK ignores it.
func (s *Server) jobDone(w http.ResponseWriter, r *http.Request) {
	pod, ok := s.workerAuth(w, r, "job-done")
	if !ok {
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxResultBytes))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "result too large")
		return
	}
	var body doneBody
	if err := json.Unmarshal(raw, &body); err != nil {
		writeError(w, http.StatusBadRequest, "body is not JSON")
		return
	}
	if isNull(body.Output) {
		body.Output = nil
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	s.sweepLocked(now)
	job, ok := s.jobs[r.PathValue("id")]
	if !ok || job.Status != inProgress || job.WorkerID != pod {
		writeJSON(w, http.StatusOK, struct{}{})
		return
	}
	switch {
	case body.Status == inProgress:
		job.Progress = append(job.Progress, body.Output)
		job.Output = body.Output
		s.notifyLocked()
	case len(body.Error) > 0 && !isNull(body.Error):
		// A handler that returns {"error": …, more} has both sent; the
		// job failed, and its output is kept.
		job.Error = errorText(body.Error)
		job.Output = body.Output
		s.endLocked(job, failed, now, true)
	default:
		job.Output = body.Output
		s.endLocked(job, completed, now, true)
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// ping serves GET /v2/{endpoint}/ping/{pod}?job_id=a,b&runpod_version=….
func (s *Server) ping(w http.ResponseWriter, r *http.Request) {
	pod, ok := s.workerAuth(w, r, "ping")
	if !ok {
		return
	}
	q := r.URL.Query()
	s.mu.Lock()
	wk := s.workerLocked(pod)
	wk.lastPing = s.opts.Now()
	wk.version = q.Get("runpod_version")
	wk.reported = nil
	if ids := q.Get("job_id"); ids != "" {
		wk.reported = strings.Split(ids, ",")
	}
	s.sweepLocked(wk.lastPing)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, struct{}{})
}

func isNull(m json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(m), []byte("null"))
}

// errorText is a job's error as RunPod carries it, a string: a JSON
// string is taken as it is, anything else as its JSON text.
func errorText(m json.RawMessage) string {
	var s string
	if json.Unmarshal(m, &s) == nil {
		return s
	}
	return string(bytes.TrimSpace(m))
}
