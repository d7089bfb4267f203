package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/avatar-api/avatar-api/internal/store"
)

// Apply implements store.Store: one transaction locks the job's row, checks
// the move against store.Machine and the attempt fence, updates the row
// (UPDATE … RETURNING, so the row answered is the row written), records the
// Event, and for a cancel ends the queue entry too.
func (s *Store) Apply(ctx context.Context, p store.ApplyParams) (*store.Job, error) {
	rule, ok := store.Machine[p.Transition]
	if !ok || p.Transition == store.Create {
		return nil, fmt.Errorf("apply: %q is not a transition of an existing job", p.Transition)
	}
	var out *store.Job
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		cur, err := s.one(ctx, tx, "id = ?"+s.dialect.ForUpdate, p.JobID)
		if err != nil {
			return err
		}
		if p.Owner != "" && cur.Owner != p.Owner {
			return store.ErrNotFound
		}
		// The fence: a transition of an attempt applies only while no other
		// attempt holds the job; a start only over an earlier attempt (a
		// start that arrives late cannot take the job back from its
		// successor).
		fenced := p.Attempt != 0 && cur.Attempt != p.Attempt
		if p.Transition == store.Start {
			fenced = p.Attempt < cur.Attempt
		}
		if !rule.Allows(cur.State) || fenced {
			out = cur
			return store.ErrConflict
		}
		now := s.now().UTC().Truncate(time.Microsecond)
		set, args := s.changes(p, rule.To, now)
		args = append(args, s.t(now), p.JobID)
		out, err = scanJob(tx.QueryRowContext(ctx, s.q(`UPDATE jobs SET `+set+`, updated_at = ? WHERE id = ? RETURNING `+jobColumns), args...))
		if err != nil {
			return s.interpret(err, "updating job")
		}
		attempt := cur.Attempt
		if p.Transition == store.Start {
			attempt = p.Attempt
		}
		if p.Transition == store.Cancel {
			if err := s.cancelEntry(ctx, tx, p.JobID); err != nil {
				return err
			}
		}
		return s.record(ctx, tx, store.Event{JobID: p.JobID, Owner: cur.Owner, Transition: p.Transition,
			From: cur.State, To: rule.To, Attempt: attempt, Code: p.Code, At: now})
	})
	return out, err
}

// changes is the SET clause of a transition and its arguments.
func (s *Store) changes(p store.ApplyParams, to store.State, now time.Time) (string, []any) {
	switch p.Transition {
	case store.Start:
		return `state = ?, attempt = ?, progress = 0, started_at = COALESCE(started_at, ?)`, []any{to, p.Attempt, s.t(now)}
	case store.Requeue:
		return `state = ?, progress = 0`, []any{to}
	case store.Complete:
		r := p.Result
		return `state = ?, progress = 1, result_key = ?, result_bytes = ?, result_duration_ms = ?, finished_at = ?, expires_at = ?`,
			[]any{to, r.Key, r.Bytes, r.Duration.Milliseconds(), s.t(now), s.t(r.ExpiresAt)}
	case store.Fail:
		return `state = ?, error_code = ?, error_message = ?, finished_at = ?`, []any{to, p.Code, p.Message, s.t(now)}
	case store.Cancel:
		return `state = ?, finished_at = ?`, []any{to, s.t(now)}
	}
	return `state = ?`, []any{to} // Expire
}

// record writes one event: the single place a transition becomes an event.
// It is the last statement of its transaction, as it takes the dialect's
// LockEvents, held until the commit.
func (s *Store) record(ctx context.Context, tx *sql.Tx, e store.Event) error {
	if s.dialect.LockEvents != "" {
		if _, err := tx.ExecContext(ctx, s.dialect.LockEvents); err != nil {
			return s.interpret(err, "locking job events")
		}
	}
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO job_events (job_id, owner, transition, from_state, to_state, attempt, code, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`), e.JobID, e.Owner, e.Transition, e.From, e.To, e.Attempt, e.Code, s.t(e.At))
	return s.interpret(err, "recording job event")
}

// Events implements store.Store.
func (s *Store) Events(ctx context.Context, p store.EventsParams) ([]store.Event, error) {
	where, args := "id > ?", []any{p.After}
	if p.JobID != "" {
		where += " AND job_id = ?"
		args = append(args, p.JobID)
	}
	args = append(args, p.Limit)
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, job_id, owner, transition, from_state, to_state, attempt, code, at
		FROM job_events WHERE `+where+` ORDER BY id LIMIT ?`), args...)
	if err != nil {
		return nil, s.interpret(err, "listing job events")
	}
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		var e store.Event
		var at timeValue
		if err := rows.Scan(&e.ID, &e.JobID, &e.Owner, &e.Transition, &e.From, &e.To, &e.Attempt, &e.Code, &at); err != nil {
			return nil, s.interpret(err, "reading job event")
		}
		e.At = at.t
		out = append(out, e)
	}
	return out, s.interpret(rows.Err(), "listing job events")
}
