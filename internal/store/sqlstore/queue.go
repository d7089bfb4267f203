package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/avatar-api/avatar-api/internal/queue"
	"github.com/avatar-api/avatar-api/internal/store"
)

// The parts of the store that speak to River's queue, through River's own
// client and driver (never its tables).

// enqueue inserts a job's queue entry on the River queue q (its backend's)
// in tx and links it to the job row.
func (s *Store) enqueue(ctx context.Context, tx *sql.Tx, id, q string) error {
	res, err := s.river.InsertTx(ctx, tx, queue.GenerateArgs{JobID: id}, &river.InsertOpts{Queue: q})
	if err != nil {
		return fmt.Errorf("enqueuing job: %w", err)
	}
	_, err = tx.ExecContext(ctx, s.q(`UPDATE jobs SET river_job_id = ? WHERE id = ?`), res.Job.ID, id)
	return s.interpret(err, "linking queue entry")
}

// cancelEntry ends a job's queue entry in tx; a worker running it is told
// within a second (River's remote cancel).
func (s *Store) cancelEntry(ctx context.Context, tx *sql.Tx, id string) error {
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
}

// Orphaned implements store.Store: non-final jobs not updated since t
// whose queue entry is gone or ended (River gave up after its attempts were
// used by crashes), asked of River's client.
func (s *Store) Orphaned(ctx context.Context, t time.Time, limit int) ([]*store.Job, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, river_job_id FROM jobs WHERE state IN (?, ?) AND updated_at < ?
		ORDER BY updated_at LIMIT ?`), store.StateQueued, store.StateProcessing, s.t(t), limit)
	if err != nil {
		return nil, s.interpret(err, "listing unfinished jobs")
	}
	entry := map[string]int64{}
	var ids []string
	var rids []int64
	for rows.Next() {
		var id string
		var rid sql.NullInt64
		if err := rows.Scan(&id, &rid); err != nil {
			rows.Close()
			return nil, s.interpret(err, "listing unfinished jobs")
		}
		ids = append(ids, id)
		if rid.Valid {
			entry[id] = rid.Int64
			rids = append(rids, rid.Int64)
		}
	}
	rows.Close() // before the next query: SQLite has one connection
	if err := rows.Err(); err != nil {
		return nil, s.interpret(err, "listing unfinished jobs")
	}
	live := map[int64]bool{}
	if len(rids) > 0 {
		res, err := s.river.JobList(ctx, river.NewJobListParams().IDs(rids...).First(len(rids)))
		if err != nil {
			return nil, fmt.Errorf("reading queue entries: %w", err)
		}
		for _, r := range res.Jobs {
			switch r.State {
			case rivertype.JobStateCompleted, rivertype.JobStateCancelled, rivertype.JobStateDiscarded:
			default:
				live[r.ID] = true
			}
		}
	}
	var jobs []*store.Job
	for _, id := range ids {
		if rid, ok := entry[id]; ok && live[rid] {
			continue
		}
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

// PingQueue checks that River's tables answer.
func (s *Store) PingQueue(ctx context.Context) error {
	if _, err := s.river.JobList(ctx, river.NewJobListParams().First(1)); err != nil {
		return fmt.Errorf("reading queue: %w", err)
	}
	return nil
}

// RescueStale implements store.Store. River's own rescuer waits for
// JOB_RESCUE_AFTER (longer than any attempt may run); this reads the
// job's heartbeat instead: an attempt that has not touched its job for
// silent is taken for dead, and its queue entry made available again at
// once (or discarded, its attempts used up, for the sweep to fail the job
// as lost). It goes through River's driver, as River's rescuer does, and
// the same guard holds: only an entry still running an attempt that began
// more than silent ago is changed, so an entry another worker took
// meanwhile is left alone; a merely slow attempt is stopped by the job's
// attempt fencing when it next writes. The job's heartbeat is read by the
// store's clock, River's entries by River's (the real time).
func (s *Store) RescueStale(ctx context.Context, silent time.Duration, limit int) (int, error) {
	exec := s.driver.GetExecutor()
	now := time.Now().UTC()
	before := now.Add(-silent)          // River's horizon
	heard := s.now().UTC().Add(-silent) // the job's
	params := &riverdriver.JobRescueManyParams{StuckHorizon: before}
	var after int64
	for len(params.ID) < limit {
		stuck, err := exec.JobGetStuck(ctx, &riverdriver.JobGetStuckParams{AfterID: after, Max: 100, StuckHorizon: before})
		if err != nil {
			return 0, fmt.Errorf("listing running queue entries: %w", err)
		}
		for _, row := range stuck {
			after = row.ID
			if row.Kind != (queue.GenerateArgs{}).Kind() || len(params.ID) >= limit {
				continue
			}
			var args queue.GenerateArgs
			if err := json.Unmarshal(row.EncodedArgs, &args); err != nil {
				continue // not ours to judge: River's rescuer will
			}
			j, err := s.GetJob(ctx, args.JobID)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return 0, err
			}
			// Alive: its attempt wrote after the horizon. Ended: nothing
			// to run again (the entry is River's rescuer's to close).
			if j.State.Final() || !j.UpdatedAt.Before(heard) {
				continue
			}
			msg, _ := json.Marshal(rivertype.AttemptError{At: now, Attempt: row.Attempt,
				Error: "no heartbeat from the attempt since " + j.UpdatedAt.UTC().Format(time.RFC3339) + ": its worker is taken for dead"})
			state, finalized := rivertype.JobStateAvailable, (*time.Time)(nil)
			if row.Attempt >= row.MaxAttempts {
				state, finalized = rivertype.JobStateDiscarded, &now
			}
			params.ID = append(params.ID, row.ID)
			params.Error = append(params.Error, msg)
			params.FinalizedAt = append(params.FinalizedAt, finalized)
			params.ScheduledAt = append(params.ScheduledAt, now)
			params.State = append(params.State, string(state))
		}
		if len(stuck) < 100 {
			break
		}
	}
	if len(params.ID) == 0 {
		return 0, nil
	}
	if _, err := exec.JobRescueMany(ctx, params); err != nil {
		return 0, fmt.Errorf("re-queueing entries of dead attempts: %w", err)
	}
	return len(params.ID), nil
}
