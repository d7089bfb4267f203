package job

import (
	"context"
	"fmt"
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
	ErrorCode     string     // why it failed
	ErrorMessage  string
}

// view is the owner's view of a stored job.
func view(j *store.Job) *Job {
	return &Job{
		ID: j.ID, State: string(j.State), Progress: j.Progress, Attempt: j.Attempt, Prompt: j.Prompt,
		Width: j.Width, Height: j.Height, FPS: j.FPS, AudioDuration: j.AudioDuration, FaceFallback: j.FaceFallback,
		CreatedAt: j.CreatedAt, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt, ExpiresAt: j.ExpiresAt,
		ErrorCode: j.ErrorCode, ErrorMessage: j.ErrorMessage,
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
	}
	return v, nil
}
