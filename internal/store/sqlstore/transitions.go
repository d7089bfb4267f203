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
// (UPDATE … RETURNING, so the row answered is the row written), bills the
// run the move ends, records the Event, writes the webhook delivery the
// job asks for with its queue entry, and for a cancel ends the queue
// entry too.
func (s *Store) Apply(ctx context.Context, p store.ApplyParams) (store.Applied, error) {
	rule, ok := store.Machine[p.Transition]
	if !ok || p.Transition == store.Create {
		return store.Applied{}, fmt.Errorf("apply: %q is not a transition of an existing job", p.Transition)
	}
	var out store.Applied
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
		// A queue deadline holds for a job that never started: such a job
		// past it cannot start (its caller lapses it), and only such a job
		// lapses (one given back to the queue after a run keeps its run's
		// bill and figures, and waits for its retry).
		now := s.now().UTC().Truncate(time.Microsecond)
		lapsable := cur.StartedAt == nil && cur.QueueDeadline != nil
		switch p.Transition {
		case store.Start:
			fenced = fenced || (lapsable && !now.Before(*cur.QueueDeadline))
		case store.Lapse:
			fenced = !lapsable
		}
		if !rule.Allows(cur.State) || fenced {
			out.Job = cur
			return store.ErrConflict
		}
		charge, run := s.bill(p, cur, now)
		set, args := s.changes(p, cur, rule.To, charge, run, now)
		args = append(args, s.t(now), p.JobID)
		out.Job, err = scanJob(tx.QueryRowContext(ctx, s.q(`UPDATE jobs SET `+set+`, updated_at = ? WHERE id = ? RETURNING `+jobColumns), args...))
		if err != nil {
			return s.interpret(err, "updating job")
		}
		attempt := cur.Attempt
		if p.Transition == store.Start {
			attempt = p.Attempt
		}
		if p.Transition == store.Cancel || p.Transition == store.Lapse {
			if err := s.cancelEntry(ctx, tx, p.JobID); err != nil {
				return err
			}
		}
		if err := s.lockEvents(ctx, tx); err != nil {
			return err
		}
		if charge != nil {
			if err := s.charge(ctx, tx, charge); err != nil {
				return err
			}
			out.Charge = charge
		}
		out.Event = store.Event{JobID: p.JobID, Owner: cur.Owner, Transition: p.Transition,
			From: cur.State, To: rule.To, Attempt: attempt, Code: p.Code, At: now}
		if out.Event.ID, err = s.record(ctx, tx, out.Event); err != nil {
			return err
		}
		return s.webhook(ctx, tx, out.Job, out.Event, cur.StartedAt == nil)
	})
	return out, err
}

// bill is the charge of the run that the transition p ends, and the run's
// wall time; a nil charge when no run is going (a queued job, or one whose
// run was billed already). The run ends now when its own attempt makes the
// move; when someone else does (a cancel, the sweep, a successor taking
// over a lost run, which a start always is), at the run's last sign of
// life, the job's last update.
func (s *Store) bill(p store.ApplyParams, cur *store.Job, now time.Time) (*store.Charge, time.Duration) {
	if cur.RunStartedAt == nil || p.Transition == store.Expire {
		return nil, 0
	}
	own := p.Transition != store.Start && p.Attempt != 0 && p.Attempt == cur.Attempt
	end := cur.UpdatedAt
	if own {
		end = now
	}
	run := max(0, end.Sub(*cur.RunStartedAt)).Truncate(time.Millisecond)
	c := &store.Charge{JobID: cur.ID, Owner: cur.Owner, Backend: cur.Backend, Worker: cur.Worker,
		Attempt: cur.Attempt, Started: *cur.RunStartedAt, Billed: run, At: now}
	if own && p.Billed != nil {
		c.Billed, c.Reported = max(0, *p.Billed).Truncate(time.Millisecond), true
	}
	if cur.RemoteID != "" && !c.Reported {
		// A run at another service (RunPod) is billed what the service
		// reports, never our wall time, which would count its queue: a
		// run taken over goes on there and its successor bills it when it
		// ends; one cancelled or lost before it reported is billed nothing
		// here (the service's own bill has it).
		c.Billed = 0
	}
	c.Cost = cur.Price.Of(c.Billed)
	return c, run
}

// changes is the SET clause of a transition and its arguments: the new
// state and what the transition records, and for a move that ends a run,
// the run's time and its charge added to the job's.
func (s *Store) changes(p store.ApplyParams, cur *store.Job, to store.State, c *store.Charge, run time.Duration, now time.Time) (string, []any) {
	set, args := `state = ?`, []any{to}
	add := func(clause string, values ...any) {
		set += ", " + clause
		args = append(args, values...)
	}
	if c != nil {
		if p.Transition != store.Start { // a start sets its own run's below
			add(`run_started_at = NULL`)
		}
		add(`run_ms = ?, billed_ms = billed_ms + ?, cost_nusd = cost_nusd + ?`, run.Milliseconds(), c.Billed.Milliseconds(), c.Cost)
	}
	switch p.Transition {
	case store.Start:
		add(`attempt = ?, progress = 0, worker = ?, run_started_at = ?, started_at = COALESCE(started_at, ?), queue_ms = COALESCE(queue_ms, ?)`,
			p.Attempt, p.Worker, s.t(now), s.t(now), now.Sub(cur.CreatedAt).Milliseconds())
	case store.Requeue:
		add(`progress = 0`)
	case store.Complete:
		r := p.Result
		if r.TTL > 0 {
			r.ExpiresAt = now.Add(r.TTL)
		}
		add(`progress = 1, result_key = ?, result_bytes = ?, result_duration_ms = ?, finished_at = ?, expires_at = ?`,
			r.Key, r.Bytes, r.Duration.Milliseconds(), s.t(now), s.t(r.ExpiresAt))
	case store.Fail, store.Lapse:
		add(`error_code = ?, error_message = ?, finished_at = ?`, p.Code, p.Message, s.t(now))
	case store.Cancel:
		add(`finished_at = ?`, s.t(now))
	}
	return set, args
}

// charge writes a run's charge.
func (s *Store) charge(ctx context.Context, tx *sql.Tx, c *store.Charge) error {
	err := tx.QueryRowContext(ctx, s.q(`INSERT INTO job_charges (job_id, owner, backend, worker, attempt, started_at, billed_ms, cost_nusd, reported, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`), c.JobID, c.Owner, c.Backend, c.Worker, c.Attempt,
		s.t(c.Started), c.Billed.Milliseconds(), c.Cost, c.Reported, s.t(c.At)).Scan(&c.ID)
	return s.interpret(err, "recording charge")
}

// lockEvents takes the dialect's LockEvents, held until the commit: the
// writes after it — a transition's charge and its event, and the event's
// webhook delivery, the last statements of their transaction — get ids in
// commit order.
func (s *Store) lockEvents(ctx context.Context, tx *sql.Tx) error {
	if s.dialect.LockEvents == "" {
		return nil
	}
	_, err := tx.ExecContext(ctx, s.dialect.LockEvents)
	return s.interpret(err, "locking job events")
}

// record writes one event: the single place a transition becomes an event.
// The caller has taken lockEvents, held until its commit (only the
// event's webhook delivery follows it).
func (s *Store) record(ctx context.Context, tx *sql.Tx, e store.Event) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, s.q(`INSERT INTO job_events (job_id, owner, transition, from_state, to_state, attempt, code, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`), e.JobID, e.Owner, e.Transition, e.From, e.To, e.Attempt, e.Code, s.t(e.At)).Scan(&id)
	return id, s.interpret(err, "recording job event")
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
