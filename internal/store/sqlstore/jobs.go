package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/avatar-api/avatar-api/internal/queue"
	"github.com/avatar-api/avatar-api/internal/store"
)

// CreateJob implements store.Store: the job row, its queue entry and its
// Create event, in one transaction.
func (s *Store) CreateJob(ctx context.Context, j *store.Job) (*store.Job, error) {
	now := s.now().UTC().Truncate(time.Microsecond)
	j.State, j.CreatedAt, j.UpdatedAt = store.StateQueued, now, now
	if j.MaxQueue > 0 {
		d := now.Add(j.MaxQueue)
		j.QueueDeadline = &d
	}
	b := queue.Backend{Name: j.Backend, Queue: j.Queue}.OrLocal()
	j.Backend, j.Queue = b.Name, b.Queue
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if j.IdempotencyKey != "" {
			if old, err := s.one(ctx, tx, "owner = ? AND idempotency_key = ?", j.Owner, j.IdempotencyKey); err == nil {
				if !old.CreatedAt.Before(now.Add(-store.IdempotencyWindow)) {
					return store.ErrConflict
				}
				// Its window is over: the key is free again.
				if _, err := tx.ExecContext(ctx, s.q(`UPDATE jobs SET idempotency_key = NULL WHERE id = ?`), old.ID); err != nil {
					return s.interpret(err, "freeing idempotency key")
				}
			}
		}
		var idem any
		if j.IdempotencyKey != "" {
			idem = j.IdempotencyKey
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO jobs (id, owner, idempotency_key, fingerprint, request_id, state,
			progress, attempt, prompt, image_key, audio_key, width, height, fps, seed, face_fallback, audio_duration_ms,
			created_at, updated_at, backend, queue, price_nusd, queue_deadline, webhook_url, webhook_display, webhook_events)
			VALUES (?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			j.ID, j.Owner, idem, j.Fingerprint, j.RequestID, j.State, j.Prompt, j.ImageKey, j.AudioKey,
			j.Width, j.Height, j.FPS, j.Seed, j.FaceFallback, j.AudioDuration.Milliseconds(), s.t(now), s.t(now), j.Backend, j.Queue, j.Price,
			s.tp(j.QueueDeadline), j.WebhookURL, j.WebhookDisplay, strings.Join(j.WebhookEvents, ","))
		if err != nil {
			return s.interpret(err, "inserting job")
		}
		if err := s.enqueue(ctx, tx, j.ID, j.Queue); err != nil {
			return err
		}
		if err := s.lockEvents(ctx, tx); err != nil {
			return err
		}
		_, err = s.record(ctx, tx, store.Event{JobID: j.ID, Owner: j.Owner, Transition: store.Create, To: store.StateQueued, At: now})
		return err
	})
	if errors.Is(err, store.ErrConflict) && j.IdempotencyKey != "" {
		existing, gerr := s.one(ctx, s.db, "owner = ? AND idempotency_key = ?", j.Owner, j.IdempotencyKey)
		if gerr != nil {
			return nil, fmt.Errorf("reading job of idempotency key: %w", gerr)
		}
		return existing, store.ErrConflict
	}
	if err != nil {
		return nil, err
	}
	return j, nil
}

// JobByIdempotencyKey implements store.Store.
func (s *Store) JobByIdempotencyKey(ctx context.Context, owner, key string) (*store.Job, error) {
	return s.one(ctx, s.reads, "owner = ? AND idempotency_key = ? AND created_at >= ?", owner, key,
		s.t(s.now().Add(-store.IdempotencyWindow)))
}

// GetJob implements store.Store.
func (s *Store) GetJob(ctx context.Context, id string) (*store.Job, error) {
	return s.one(ctx, s.reads, "id = ?", id)
}

// ListJobs implements store.Store.
func (s *Store) ListJobs(ctx context.Context, p store.ListParams) ([]*store.Job, error) {
	where, args := "owner = ?", []any{p.Owner}
	if p.Before != "" {
		where += " AND id < ?"
		args = append(args, p.Before)
	}
	args = append(args, p.Limit)
	return s.many(ctx, where+" ORDER BY id DESC LIMIT ?", args...)
}

// FinishedSince implements store.Store: the jobs of the queue that
// ended since t after being started (a job cancelled while queued took
// no worker's time), read through the index of finished jobs.
func (s *Store) FinishedSince(ctx context.Context, q string, t time.Time) (int, error) {
	var n int
	err := s.reads.QueryRowContext(ctx, s.q(`SELECT count(*) FROM jobs
		WHERE finished_at >= ? AND queue = ? AND started_at IS NOT NULL`), s.t(t), q).Scan(&n)
	return n, s.interpret(err, "counting finished jobs")
}

// QueuePosition implements store.Store.
func (s *Store) QueuePosition(ctx context.Context, id string) (int, error) {
	var n int
	err := s.reads.QueryRowContext(ctx, s.q(`SELECT count(*) FROM jobs
		WHERE state = ? AND queue = (SELECT queue FROM jobs WHERE id = ?) AND id < ?`),
		store.StateQueued, id, id).Scan(&n)
	return n, s.interpret(err, "counting queue")
}

// SetProgress implements store.Store. Progress is not a transition: it
// records no event.
func (s *Store) SetProgress(ctx context.Context, p store.ProgressParams) (store.State, error) {
	attempt := p.Attempt
	var st store.State
	var cur int
	err := s.db.QueryRowContext(ctx, s.q(`UPDATE jobs SET progress = CASE WHEN state = ? AND attempt = ? THEN ? ELSE progress END,
		updated_at = CASE WHEN state = ? AND attempt = ? THEN ? ELSE updated_at END
		WHERE id = ? RETURNING state, attempt`),
		store.StateProcessing, attempt, p.Progress, store.StateProcessing, attempt, s.t(s.now()), p.JobID).Scan(&st, &cur)
	if err != nil {
		return "", s.interpret(err, "recording progress")
	}
	if !st.Final() && cur != attempt {
		return st, store.ErrConflict
	}
	return st, nil
}

// SetRemote implements store.Store.
func (s *Store) SetRemote(ctx context.Context, p store.RemoteParams) error {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE jobs SET remote_id = ?, remote_output = ?, remote_delay_ms = ?
		WHERE id = ? AND state = ? AND attempt = ?`),
		p.RemoteID, p.Output, p.Delay.Milliseconds(), p.JobID, store.StateProcessing, p.Attempt)
	if err != nil {
		return s.interpret(err, "recording the remote job")
	}
	if n, err := res.RowsAffected(); err != nil {
		return s.interpret(err, "recording the remote job")
	} else if n == 0 {
		return store.ErrConflict
	}
	return nil
}

// DueForExpiry implements store.Store.
func (s *Store) DueForExpiry(ctx context.Context, t time.Time, limit int) ([]*store.Job, error) {
	return s.many(ctx, "state = ? AND expires_at <= ? ORDER BY expires_at LIMIT ?", store.StateCompleted, s.t(t), limit)
}

// PastQueueDeadline implements store.Store: queued jobs that never started
// and whose deadline is at or before t, through the partial index of such
// jobs (its condition spelled as the index's).
func (s *Store) PastQueueDeadline(ctx context.Context, t time.Time, limit int) ([]*store.Job, error) {
	return s.many(ctx, "state = 'queued' AND queue_deadline IS NOT NULL AND started_at IS NULL AND queue_deadline <= ? ORDER BY queue_deadline LIMIT ?", s.t(t), limit)
}
