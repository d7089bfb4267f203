// Package sqlstore is the database/sql implementation of store.Store shared
// by the SQLite and PostgreSQL packages. The SQL is written once with `?`
// placeholders; a Dialect supplies what differs (placeholder style, how
// times are stored, how a unique violation looks).
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"

	"github.com/avatar-api/avatar-api/internal/queue"
	"github.com/avatar-api/avatar-api/internal/store"
)

// Dialect is what differs between databases.
type Dialect struct {
	// Numbered placeholders ($1, $2…) instead of `?`.
	Numbered bool
	// Time converts a time to the value stored in a timestamp column.
	Time func(time.Time) any
	// IsUniqueViolation reports a unique-constraint error.
	IsUniqueViolation func(error) bool
	// ForUpdate locks the rows a transaction reads to change ("" where the
	// transaction already holds the database's write lock, as in SQLite).
	ForUpdate string
	// LockFirstKey serialises first-start bootstraps across processes
	// within a transaction ("" where transactions are serial anyway).
	LockFirstKey string
}

// Store implements store.Store on a *sql.DB.
type Store struct {
	db      *sql.DB
	dialect Dialect
	driver  riverdriver.Driver[*sql.Tx]
	river   *river.Client[*sql.Tx] // insert-only client: enqueues in our transactions
	now     func() time.Time
	closers []func()
}

// New returns a store over db, enqueuing jobs through driver. maxAttempts
// is the River attempt budget given to each generation job.
func New(db *sql.DB, d Dialect, driver riverdriver.Driver[*sql.Tx], maxAttempts int) (*Store, error) {
	rc, err := river.NewClient(driver, &river.Config{MaxAttempts: maxAttempts})
	if err != nil {
		return nil, fmt.Errorf("creating queue client: %w", err)
	}
	return &Store{db: db, dialect: d, driver: driver, river: rc, now: time.Now}, nil
}

// Driver returns the River driver over the same database, for the workers.
func (s *Store) Driver() riverdriver.Driver[*sql.Tx] { return s.driver }

const jobColumns = `id, owner, COALESCE(idempotency_key, ''), fingerprint, request_id, state, progress,
	attempt, prompt, image_key, audio_key, width, height, fps, seed, face_fallback, audio_duration_ms,
	error_code, error_message, result_key, result_bytes, result_duration_ms,
	created_at, updated_at, started_at, finished_at, expires_at`

// q rewrites `?` placeholders for the dialect.
func (s *Store) q(query string) string {
	if !s.dialect.Numbered {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (s *Store) t(t time.Time) any { return s.dialect.Time(t.UTC()) }

func (s *Store) tp(t *time.Time) any {
	if t == nil {
		return nil
	}
	return s.t(*t)
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// CreateJob implements store.Store.
func (s *Store) CreateJob(ctx context.Context, j *store.Job) (*store.Job, error) {
	now := s.now().UTC().Truncate(time.Microsecond)
	j.State, j.CreatedAt, j.UpdatedAt = store.StateQueued, now, now
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if j.IdempotencyKey != "" {
			if _, err := s.one(ctx, tx, "owner = ? AND idempotency_key = ?", j.Owner, j.IdempotencyKey); err == nil {
				return store.ErrConflict
			}
		}
		var idem any
		if j.IdempotencyKey != "" {
			idem = j.IdempotencyKey
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO jobs (id, owner, idempotency_key, fingerprint, request_id, state,
			progress, attempt, prompt, image_key, audio_key, width, height, fps, seed, face_fallback, audio_duration_ms,
			created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			j.ID, j.Owner, idem, j.Fingerprint, j.RequestID, j.State, j.Prompt, j.ImageKey, j.AudioKey,
			j.Width, j.Height, j.FPS, j.Seed, j.FaceFallback, j.AudioDuration.Milliseconds(), s.t(now), s.t(now))
		if err != nil {
			return s.interpret(err, "inserting job")
		}
		res, err := s.river.InsertTx(ctx, tx, queue.GenerateArgs{JobID: j.ID}, nil)
		if err != nil {
			return fmt.Errorf("enqueuing job: %w", err)
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE jobs SET river_job_id = ? WHERE id = ?`), res.Job.ID, j.ID)
		return s.interpret(err, "linking queue entry")
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
	return s.one(ctx, s.db, "owner = ? AND idempotency_key = ?", owner, key)
}

// GetJob implements store.Store.
func (s *Store) GetJob(ctx context.Context, id string) (*store.Job, error) {
	return s.one(ctx, s.db, "id = ?", id)
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

// QueuePosition implements store.Store.
func (s *Store) QueuePosition(ctx context.Context, id string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT count(*) FROM jobs WHERE state = ? AND id < ?`),
		store.StateQueued, id).Scan(&n)
	return n, s.interpret(err, "counting queue")
}

// CancelJob implements store.Store.
func (s *Store) CancelJob(ctx context.Context, id, owner string) (*store.Job, error) {
	var j *store.Job
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		j, err = s.one(ctx, tx, "id = ? AND owner = ?", id, owner)
		if err != nil {
			return err
		}
		if j.State.Final() {
			return store.ErrConflict
		}
		now := s.now().UTC()
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE jobs SET state = ?, updated_at = ?, finished_at = ? WHERE id = ?`),
			store.StateCancelled, s.t(now), s.t(now), id); err != nil {
			return s.interpret(err, "cancelling job")
		}
		j.State, j.UpdatedAt, j.FinishedAt = store.StateCancelled, now, &now
		var rid sql.NullInt64
		if err := tx.QueryRowContext(ctx, s.q(`SELECT river_job_id FROM jobs WHERE id = ?`), id).Scan(&rid); err != nil {
			return s.interpret(err, "reading queue entry")
		}
		if rid.Valid {
			if _, err := s.river.JobCancelTx(ctx, tx, rid.Int64); err != nil && !errors.Is(err, river.ErrNotFound) {
				return fmt.Errorf("cancelling queue entry: %w", err)
			}
		}
		return nil
	})
	return j, err
}

// StartJob implements store.Store.
func (s *Store) StartJob(ctx context.Context, id string, attempt int) (*store.Job, error) {
	now := s.now().UTC()
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE jobs SET state = ?, attempt = ?, progress = 0,
		started_at = COALESCE(started_at, ?), updated_at = ? WHERE id = ? AND state IN (?, ?)`),
		store.StateProcessing, attempt, s.t(now), s.t(now), id, store.StateQueued, store.StateProcessing)
	if err != nil {
		return nil, s.interpret(err, "starting job")
	}
	j, err := s.GetJob(ctx, id)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return j, store.ErrConflict
	}
	return j, nil
}

// SetProgress implements store.Store.
func (s *Store) SetProgress(ctx context.Context, id string, attempt int, progress float64) (store.State, error) {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE jobs SET progress = ?, updated_at = ? WHERE id = ? AND state = ? AND attempt = ?`),
		progress, s.t(s.now()), id, store.StateProcessing, attempt)
	if err != nil {
		return "", s.interpret(err, "recording progress")
	}
	var st store.State
	var cur int
	err = s.db.QueryRowContext(ctx, s.q(`SELECT state, attempt FROM jobs WHERE id = ?`), id).Scan(&st, &cur)
	if err != nil {
		return "", s.interpret(err, "reading job state")
	}
	if n, _ := res.RowsAffected(); n == 0 && !st.Final() && cur != attempt {
		return st, store.ErrConflict
	}
	return st, nil
}

// RequeueJob implements store.Store.
func (s *Store) RequeueJob(ctx context.Context, id string, attempt int) error {
	return s.transition(ctx, id, attempt, `state = ?, progress = 0`, []any{store.StateQueued}, store.StateProcessing)
}

// CompleteJob implements store.Store.
func (s *Store) CompleteJob(ctx context.Context, id string, attempt int, r store.Result) error {
	now := s.now().UTC()
	return s.transition(ctx, id, attempt,
		`state = ?, progress = 1, result_key = ?, result_bytes = ?, result_duration_ms = ?, finished_at = ?, expires_at = ?`,
		[]any{store.StateCompleted, r.Key, r.Bytes, r.Duration.Milliseconds(), s.t(now), s.t(r.ExpiresAt)},
		store.StateProcessing)
}

// FailJob implements store.Store.
func (s *Store) FailJob(ctx context.Context, id string, attempt int, code, message string) error {
	return s.transition(ctx, id, attempt, `state = ?, error_code = ?, error_message = ?, finished_at = ?`,
		[]any{store.StateFailed, code, message, s.t(s.now())}, store.StateQueued, store.StateProcessing)
}

// ExpireJob implements store.Store.
func (s *Store) ExpireJob(ctx context.Context, id string) error {
	return s.transition(ctx, id, 0, `state = ?`, []any{store.StateExpired}, store.StateCompleted)
}

// transition applies set to job id if its state is one of from and, unless
// attempt is 0, attempt still owns it; otherwise ErrNotFound or ErrConflict.
func (s *Store) transition(ctx context.Context, id string, attempt int, set string, args []any, from ...store.State) error {
	in := strings.TrimSuffix(strings.Repeat("?, ", len(from)), ", ")
	args = append(args, s.t(s.now()), id, attempt, attempt)
	for _, st := range from {
		args = append(args, st)
	}
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE jobs SET `+set+`, updated_at = ?
		WHERE id = ? AND (? = 0 OR attempt = ?) AND state IN (`+in+`)`), args...)
	if err != nil {
		return s.interpret(err, "updating job")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.GetJob(ctx, id); err != nil {
			return err
		}
		return store.ErrConflict
	}
	return nil
}

// DueForExpiry implements store.Store.
func (s *Store) DueForExpiry(ctx context.Context, t time.Time, limit int) ([]*store.Job, error) {
	return s.many(ctx, "state = ? AND expires_at <= ? ORDER BY expires_at LIMIT ?", store.StateCompleted, s.t(t), limit)
}

// Orphaned implements store.Store. River's table is river_job in both
// dialects; a job whose entry is missing counts as orphaned too.
func (s *Store) Orphaned(ctx context.Context, t time.Time, limit int) ([]*store.Job, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT j.id FROM jobs j LEFT JOIN river_job r ON r.id = j.river_job_id
		WHERE j.state IN (?, ?) AND j.updated_at < ?
		AND (r.id IS NULL OR r.state IN ('completed', 'cancelled', 'discarded'))
		ORDER BY j.updated_at LIMIT ?`), store.StateQueued, store.StateProcessing, s.t(t), limit)
	if err != nil {
		return nil, s.interpret(err, "listing orphaned jobs")
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, s.interpret(err, "listing orphaned jobs")
		}
		ids = append(ids, id)
	}
	rows.Close() // before the next query: SQLite has one connection
	if err := rows.Err(); err != nil {
		return nil, s.interpret(err, "listing orphaned jobs")
	}
	jobs := make([]*store.Job, 0, len(ids))
	for _, id := range ids {
		j, err := s.GetJob(ctx, id)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// QueueJobState implements store.Store.
func (s *Store) QueueJobState(ctx context.Context, id string) (string, error) {
	var rid sql.NullInt64
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT river_job_id FROM jobs WHERE id = ?`), id).Scan(&rid); err != nil {
		return "", s.interpret(err, "reading queue entry")
	}
	if !rid.Valid {
		return "", store.ErrNotFound
	}
	row, err := s.river.JobGet(ctx, rid.Int64)
	if errors.Is(err, river.ErrNotFound) {
		return "", store.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("reading queue entry: %w", err)
	}
	return string(row.State), nil
}

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// PingQueue checks that River's tables answer.
func (s *Store) PingQueue(ctx context.Context) error {
	if _, err := s.river.JobList(ctx, river.NewJobListParams().First(1)); err != nil {
		return fmt.Errorf("reading queue: %w", err)
	}
	return nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	err := s.db.Close()
	for _, f := range s.closers {
		f()
	}
	return err
}

// AlsoClose registers f to run after the pool is closed.
func (s *Store) AlsoClose(f func()) { s.closers = append(s.closers, f) }

// SetClock replaces the store's clock, for tests of time-based behaviour.
func (s *Store) SetClock(now func() time.Time) { s.now = now }

func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.interpret(err, "committing")
	}
	return nil
}

func (s *Store) one(ctx context.Context, db querier, where string, args ...any) (*store.Job, error) {
	j, err := scanJob(db.QueryRowContext(ctx, s.q(`SELECT `+jobColumns+` FROM jobs WHERE `+where), args...))
	return j, s.interpret(err, "reading job")
}

func (s *Store) many(ctx context.Context, where string, args ...any) ([]*store.Job, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+jobColumns+` FROM jobs WHERE `+where), args...)
	if err != nil {
		return nil, s.interpret(err, "listing jobs")
	}
	defer rows.Close()
	var jobs []*store.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, s.interpret(err, "reading job")
		}
		jobs = append(jobs, j)
	}
	return jobs, s.interpret(rows.Err(), "listing jobs")
}

// interpret maps driver errors to the store's sentinels and wraps the rest.
func (s *Store) interpret(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	case s.dialect.IsUniqueViolation(err):
		return store.ErrConflict
	}
	return fmt.Errorf("%s: %w", what, err)
}
