package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/avatar-api/avatar-api/internal/queue"
	"github.com/avatar-api/avatar-api/internal/store"
)

// The parts of the store that speak to River's queue, through River's own
// client (never its tables).

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
