// Package sqlstore is the database/sql implementation of store.Store shared
// by the SQLite and PostgreSQL packages. The SQL is written once with `?`
// placeholders; a Dialect supplies what differs (placeholder style, how
// times are stored, how a unique violation looks, row locks). jobs.go
// reads and creates jobs, transitions.go moves them (the state machine and
// its events), queue.go is what speaks to River, keys.go holds API keys,
// alerts.go and alertlist.go the alerts' state and notifications.
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
	// LockEvents is taken by each transaction just before it writes its
	// job event (and its charge), and held until it commits, so that event
	// and charge ids are handed out in commit order: a reader that has
	// seen id n never later finds a smaller id appear. PostgreSQL takes sequence numbers at insert
	// time, so without it two transitions of two jobs could commit in the
	// other order. "" where transactions are serial anyway (SQLite).
	LockEvents string
	// Epoch is an SQL expression of a timestamp column in whole seconds
	// since the Unix epoch, for summing rows in buckets.
	Epoch func(column string) string
}

// Store implements store.Store on a *sql.DB.
type Store struct {
	db      *sql.DB
	dialect Dialect
	driver  riverdriver.Driver[*sql.Tx]
	river   *river.Client[*sql.Tx] // insert-only client: enqueues in our transactions
	reads   *reader                // the hot reads outside transactions
	now     func() time.Time
	closers []func()
}

// New returns a store over db, enqueuing jobs through driver. maxAttempts
// is the River attempt budget given to each generation job.
func New(db *sql.DB, d Dialect, driver riverdriver.Driver[*sql.Tx], maxAttempts int) (*Store, error) {
	rc, err := river.NewClient(driver, &river.Config{MaxAttempts: maxAttempts, FetchCooldown: FetchCooldown})
	if err != nil {
		return nil, fmt.Errorf("creating queue client: %w", err)
	}
	return &Store{db: db, dialect: d, driver: driver, river: rc, reads: &reader{db: db}, now: time.Now}, nil
}

// FetchCooldown is the least time between two fetches of one queue by one
// process, and between two insert notifications of a queue by one client:
// River's default, 100 ms, was most of a job's wait for an idle worker.
// At most a hundred fetches a second per queue and process, and only
// while jobs keep arriving. (On SQLite, River's listener reads its
// notifications table every 50 ms: that is the rest of the wait there.)
const FetchCooldown = 10 * time.Millisecond

// ReadFrom makes the store's reads outside transactions use pool, whose
// connections must see what db commits (SQLite: read-only connections to
// the same file in WAL mode), each query prepared once when prepare is
// set. The store closes pool with its own.
func (s *Store) ReadFrom(pool *sql.DB, prepare bool) {
	s.reads = &reader{db: pool, prepare: prepare}
	if pool != s.db {
		s.AlsoClose(func() { pool.Close() })
	}
}

// Driver returns the River driver over the same database, for the workers.
func (s *Store) Driver() riverdriver.Driver[*sql.Tx] { return s.driver }

const jobColumns = `id, owner, COALESCE(idempotency_key, ''), fingerprint, request_id, state, progress,
	attempt, prompt, image_key, audio_key, width, height, fps, seed, face_fallback, audio_duration_ms,
	error_code, error_message, result_key, result_bytes, result_duration_ms,
	created_at, updated_at, started_at, finished_at, expires_at, backend, queue,
	worker, run_started_at, COALESCE(run_ms, 0), billed_ms, cost_nusd, price_nusd, remote_id, remote_output, remote_delay_ms, queue_deadline,
	webhook_url, webhook_display, webhook_events`

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

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return err
	}
	return s.reads.db.PingContext(ctx) // the status reads' own pool (SQLite)
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.reads.close()
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
	rows, err := s.reads.QueryContext(ctx, s.q(`SELECT `+jobColumns+` FROM jobs WHERE `+where), args...)
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
