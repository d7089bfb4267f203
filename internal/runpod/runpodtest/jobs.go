package runpodtest

import (
	"bytes"
	"encoding/json"
	"slices"
	"time"
)

// Job states, as RunPod names them (docs.runpod.io/serverless/endpoints/job-states).
const (
	inQueue    = "IN_QUEUE"
	inProgress = "IN_PROGRESS"
	completed  = "COMPLETED"
	failed     = "FAILED"
	cancelled  = "CANCELLED"
	timedOut   = "TIMED_OUT"
)

// errWorkerLost is the error of a job whose worker was lost twice.
const errWorkerLost = "worker lost"

// Record is the double's account of one job, for tests to read. It
// outlives what RunPod shows: a job past its ttl or retention still has
// its Record, though /status answers 404.
type Record struct {
	ID, Status string
	Input      json.RawMessage
	Output     json.RawMessage // the result; while IN_PROGRESS, the last progress update
	Error      string
	WorkerID   string // the pod that took it last
	Webhook    string

	Submitted, Started, Ended time.Time
	DelayTime, ExecutionTime  time.Duration

	Progress []json.RawMessage // every progress update, in order
	Retries  int               // times it was re-queued after its worker was lost

	// ExecutionTimeout and TTL are the job's policy, defaults filled in.
	ExecutionTimeout, TTL time.Duration
}

func ended(status string) bool {
	switch status {
	case completed, failed, cancelled, timedOut:
		return true
	}
	return false
}

// Job returns the record of job id.
func (s *Server) Job(id string) (Record, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(s.opts.Now())
	r, ok := s.jobs[id]
	if !ok {
		return Record{}, false
	}
	return r.clone(), true
}

// Jobs returns every job's record, in the order they were submitted.
func (s *Server) Jobs() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(s.opts.Now())
	out := make([]Record, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.jobs[id].clone())
	}
	return out
}

func (r *Record) clone() Record {
	c := *r
	c.Input = bytes.Clone(r.Input)
	c.Output = bytes.Clone(r.Output)
	c.Progress = make([]json.RawMessage, len(r.Progress))
	for i, p := range r.Progress {
		c.Progress[i] = bytes.Clone(p)
	}
	return c
}

// visibleLocked reports whether /status still shows the job at now: not
// past its ttl (RunPod deletes a job at its ttl "regardless of state"),
// nor past the retention of its result.
func (s *Server) visibleLocked(r *Record, now time.Time) bool {
	if !now.Before(r.Submitted.Add(r.TTL)) {
		return false
	}
	return !ended(r.Status) || now.Before(r.Ended.Add(s.opts.Retention))
}

// submitLocked queues a new job.
func (s *Server) submitLocked(r *Record) {
	s.jobs[r.ID] = r
	s.order = append(s.order, r.ID)
	s.queue = append(s.queue, r.ID)
	s.notifyLocked()
}

// takeLocked gives the next queued job, if any, to pod.
func (s *Server) takeLocked(pod string, now time.Time) *Record {
	if len(s.queue) == 0 {
		return nil
	}
	r := s.jobs[s.queue[0]]
	s.queue = s.queue[1:]
	r.Status = inProgress
	r.Started = now
	r.DelayTime = now.Sub(r.Submitted)
	r.WorkerID = pod
	r.Output = nil
	s.notifyLocked()
	return r
}

// endLocked ends a job. A job ended while its worker holds it (cancelled,
// timed out) goes on that worker's stop list. hook sends its webhook.
func (s *Server) endLocked(r *Record, status string, at time.Time, hook bool) {
	if r.Status == inProgress && status != completed && status != failed {
		s.stopLocked(r.WorkerID, r.ID)
	}
	if r.Status == inQueue {
		s.queue = slices.DeleteFunc(s.queue, func(id string) bool { return id == r.ID })
	}
	if r.Status == inProgress {
		r.ExecutionTime = at.Sub(r.Started)
	}
	r.Status = status
	r.Ended = at
	switch status {
	case completed:
		s.counts.completed++
	case failed, timedOut:
		s.counts.failed++
	}
	if hook {
		s.hookLocked(r)
	}
	s.notifyLocked()
}

// requeueLocked puts a job whose worker was lost back at the head of the
// queue (RunPod does not say where; the head keeps submission order).
func (s *Server) requeueLocked(r *Record) {
	s.stopLocked(r.WorkerID, r.ID) // should the worker come back
	r.Status = inQueue
	r.Retries++
	r.Started = time.Time{}
	r.DelayTime = 0
	r.Output = nil
	s.counts.retried++
	s.queue = append([]string{r.ID}, s.queue...)
	s.notifyLocked()
}

// sweepLocked applies, as of now, what time does to jobs: ttl (the job
// is TIMED_OUT and deleted: /status answers 404, and no webhook is sent,
// a choice where the docs are silent), executionTimeout (TIMED_OUT, its
// worker told to stop, the webhook sent) and lost workers. When several
// are due, the one due first happens.
func (s *Server) sweepLocked(now time.Time) {
	for _, id := range s.order {
		r := s.jobs[id]
		if ended(r.Status) {
			continue
		}
		expires := r.Submitted.Add(r.TTL)
		if r.Status == inQueue {
			if !now.Before(expires) {
				s.endLocked(r, timedOut, expires, false)
			}
			continue
		}
		timeout := r.Started.Add(r.ExecutionTimeout)
		lost := s.workerLocked(r.WorkerID).lastSeen.Add(s.opts.WorkerLostAfter)
		switch first := earliest(expires, timeout, lost); {
		case now.Before(first):
		case first.Equal(expires):
			s.endLocked(r, timedOut, expires, false)
		case first.Equal(timeout):
			s.endLocked(r, timedOut, timeout, true)
		case r.Retries == 0:
			s.requeueLocked(r)
		default:
			r.Error = errWorkerLost
			s.stopLocked(r.WorkerID, r.ID)
			s.endLocked(r, failed, lost, true)
		}
	}
}

func earliest(t time.Time, ts ...time.Time) time.Time {
	for _, u := range ts {
		if u.Before(t) {
			t = u
		}
	}
	return t
}

// statusBody is a job as /status shows it, and as its webhook carries it.
type statusBody struct {
	ID            string          `json:"id"`
	Status        string          `json:"status"`
	DelayTime     *int64          `json:"delayTime,omitempty"`
	ExecutionTime *int64          `json:"executionTime,omitempty"`
	Output        json.RawMessage `json:"output,omitempty"`
	Error         string          `json:"error,omitempty"`
	WorkerID      string          `json:"workerId,omitempty"`
}

func newStatusBody(r *Record) statusBody {
	b := statusBody{ID: r.ID, Status: r.Status, Output: r.Output, Error: r.Error}
	if !r.Started.IsZero() {
		d := ms(r.DelayTime)
		b.DelayTime = &d
		b.WorkerID = r.WorkerID
	}
	if !r.Started.IsZero() && !r.Ended.IsZero() {
		e := ms(r.ExecutionTime)
		b.ExecutionTime = &e
	}
	return b
}
