package job

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/avatar-api/avatar-api/internal/store"
)

// Job is a job as its owner may see it: what the service answers, apart
// from the row the store keeps (no storage keys, fingerprint or seed).
type Job struct {
	ID       string
	State    string // queued, processing, completed, failed, cancelled, expired
	Progress float64
	// QueuePosition counts the queued jobs ahead of this one (0: next);
	// nil unless the job is queued and its position was asked for.
	QueuePosition *int
	// QueueETA is how long until it is expected to start: the jobs ahead
	// and itself, at the rate its queue's jobs ended in the last
	// throughputWindow; nil when none ended then (no rate to go by).
	QueueETA      *time.Duration
	Attempt       int
	Prompt        string
	Width         int
	Height        int
	FPS           int
	AudioDuration time.Duration
	FaceFallback  bool
	CreatedAt     time.Time
	StartedAt     *time.Time
	FinishedAt    *time.Time
	ExpiresAt     *time.Time // when the video is deleted (completed jobs)
	QueueDeadline *time.Time // when it lapses if not started (max_queue_seconds)
	ErrorCode     string     // why it failed
	ErrorMessage  string
	// What its runs were billed so far, and their cost (final once the
	// job has ended).
	Billed time.Duration
	Cost   store.NanoUSD
}

// throughputWindow is the span over which a queue's rate is measured for
// the ETA: long enough to hold a few jobs, short enough to follow a
// change of workers.
const throughputWindow = 15 * time.Minute

// view is the owner's view of a stored job.
func view(j *store.Job) *Job {
	return &Job{
		ID: j.ID, State: string(j.State), Progress: j.Progress, Attempt: j.Attempt, Prompt: j.Prompt,
		Width: j.Width, Height: j.Height, FPS: j.FPS, AudioDuration: j.AudioDuration, FaceFallback: j.FaceFallback,
		CreatedAt: j.CreatedAt, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt, ExpiresAt: j.ExpiresAt,
		QueueDeadline: j.QueueDeadline, ErrorCode: j.ErrorCode, ErrorMessage: j.ErrorMessage, Billed: j.Billed, Cost: j.Cost,
	}
}

// viewWithPosition is view, with the queue position of a queued job.
func (s *Service) viewWithPosition(ctx context.Context, j *store.Job) (*Job, error) {
	v := view(j)
	if j.State == store.StateQueued {
		n, err := s.Store.QueuePosition(ctx, j.ID)
		if err != nil {
			return nil, fmt.Errorf("%w: reading queue position: %w", ErrUnavailable, err)
		}
		v.QueuePosition = &n
		done, err := s.throughput.get(ctx, s.Store, queueOf(j), s.now())
		if err != nil {
			return nil, fmt.Errorf("%w: reading throughput: %w", ErrUnavailable, err)
		}
		if done > 0 {
			eta := time.Duration(float64(n+1) * float64(throughputWindow) / float64(done))
			v.QueueETA = &eta
		}
	}
	return v, nil
}

// queueOf is the River queue of a job's entry: its backend's, or the
// local one's for a job from before backends had names.
func queueOf(j *store.Job) string {
	if j.Queue == "" {
		return "generate"
	}
	return j.Queue
}

// throughputCache keeps each queue's recent throughput for a few seconds:
// every status read of a queued job, and every live status event, would
// count the queue's last 15 minutes again.
type throughputCache struct {
	mu   sync.Mutex
	seen map[string]throughputReading
}

type throughputReading struct {
	at   time.Time
	done int
}

// throughputTTL is how long a reading serves: a rate over 15 minutes
// barely moves in it.
const throughputTTL = 5 * time.Second

func (c *throughputCache) get(ctx context.Context, st store.Store, q string, now time.Time) (int, error) {
	c.mu.Lock()
	r, ok := c.seen[q]
	c.mu.Unlock()
	if ok && !now.Before(r.at) && now.Sub(r.at) < throughputTTL {
		return r.done, nil
	}
	done, err := st.FinishedSince(ctx, q, now.Add(-throughputWindow))
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	if c.seen == nil {
		c.seen = map[string]throughputReading{}
	}
	c.seen[q] = throughputReading{at: now, done: done}
	c.mu.Unlock()
	return done, nil
}
