package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/avatar-api/avatar-api/internal/store"
)

// inChunk is how many ids one `IN (…)` list holds: well under SQLite's
// limit of bound parameters.
const inChunk = 500

// JobRefs implements store.Retention.
func (s *Store) JobRefs(ctx context.Context, ids []string) (map[string]store.JobRef, error) {
	out := make(map[string]store.JobRef, len(ids))
	for chunk := range slices.Chunk(ids, inChunk) {
		err := s.rows(ctx, "reading jobs' objects", `SELECT id, state, result_key FROM jobs WHERE id IN (`+marks(len(chunk))+`)`,
			anys(chunk), func(r *sql.Rows) error {
				var id string
				var ref store.JobRef
				err := r.Scan(&id, &ref.State, &ref.ResultKey)
				out[id] = ref
				return err
			})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// PruneJobs implements store.Retention.
func (s *Store) PruneJobs(ctx context.Context, p store.PruneJobsParams) (store.Pruned, error) {
	var out store.Pruned
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		out = store.Pruned{}
		jobs, err := s.prunable(ctx, tx, p)
		if err != nil || len(jobs) == 0 {
			return err
		}
		if err := s.fold(ctx, tx, jobs); err != nil {
			return err
		}
		ids := make([]string, len(jobs))
		for i, j := range jobs {
			ids[i] = j.ID
			out.Keys = append(out.Keys, j.keys()...)
			if err := s.deleteEntry(ctx, tx, j.entry); err != nil {
				return err
			}
		}
		for chunk := range slices.Chunk(ids, inChunk) {
			in := `IN (` + marks(len(chunk)) + `)`
			for _, d := range []struct {
				query string
				n     *int64
			}{
				{`DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE job_id ` + in + `)`, nil},
				{`DELETE FROM webhook_deliveries WHERE job_id ` + in, &out.Deliveries},
				{`DELETE FROM job_events WHERE job_id ` + in, &out.Events},
				{`DELETE FROM jobs WHERE id ` + in, &out.Jobs},
			} {
				res, err := tx.ExecContext(ctx, s.q(d.query), anys(chunk)...)
				if err != nil {
					return s.interpret(err, "pruning jobs")
				}
				if d.n != nil {
					n, _ := res.RowsAffected()
					*d.n += n
				}
			}
		}
		return nil
	})
	if err != nil {
		return store.Pruned{}, err
	}
	return out, nil
}

// prunedJob is a job PruneJobs deletes: its row, whether it ever ran
// (a run time recorded: an expired job that never ran lapsed in the
// queue) and its queue entry.
type prunedJob struct {
	*store.Job
	ran   bool
	entry sql.NullInt64
}

// keys are the storage keys the job names.
func (j prunedJob) keys() []string {
	var keys []string
	for _, k := range []string{j.ImageKey, j.AudioKey, j.ResultKey, j.RemoteOutput} {
		if k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// outcome is how the usage figures class the job: completed; expired (it
// made a video, since deleted); lapsed (expired in the queue); failed;
// cancelled.
func (j prunedJob) outcome() string {
	if j.State == store.StateExpired && !j.ran {
		return "lapsed"
	}
	return string(j.State)
}

// prunable reads, and locks, the jobs PruneJobs deletes.
func (s *Store) prunable(ctx context.Context, tx *sql.Tx, p store.PruneJobsParams) ([]prunedJob, error) {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT `+jobColumns+`, CASE WHEN run_ms IS NULL THEN 0 ELSE 1 END, river_job_id
		FROM jobs WHERE finished_at < ? AND state IN (?, ?, ?, ?) ORDER BY finished_at, id LIMIT ?`+s.dialect.ForUpdate),
		s.t(p.Before), store.StateCompleted, store.StateFailed, store.StateCancelled, store.StateExpired, p.Limit)
	if err != nil {
		return nil, s.interpret(err, "listing jobs to prune")
	}
	defer rows.Close()
	var jobs []prunedJob
	for rows.Next() {
		var j prunedJob
		var ran int
		if j.Job, err = scanJob(withMore{rows, []any{&ran, &j.entry}}); err != nil {
			return nil, s.interpret(err, "reading a job to prune")
		}
		j.ran = ran == 1
		jobs = append(jobs, j)
	}
	return jobs, s.interpret(rows.Err(), "listing jobs to prune")
}

// rollupKey is one row of job_rollups.
type rollupKey struct {
	minute                        time.Time
	owner, measure, outcome, code string
}

// fold adds jobs to job_rollups: each once at the minute of its creation
// and once at that of its end.
func (s *Store) fold(ctx context.Context, tx *sql.Tx, jobs []prunedJob) error {
	type sums struct{ jobs, videoMS int64 }
	rollups := map[rollupKey]*sums{}
	var order []rollupKey
	for _, j := range jobs {
		code := ""
		if j.State == store.StateFailed {
			code = j.ErrorCode // what ErrorCodes counts
		}
		for _, m := range [...]struct {
			measure string
			at      time.Time
		}{{"created", j.CreatedAt}, {"finished", *j.FinishedAt}} {
			k := rollupKey{m.at.UTC().Truncate(time.Minute), j.Owner, m.measure, j.outcome(), code}
			if rollups[k] == nil {
				rollups[k] = &sums{}
				order = append(order, k)
			}
			rollups[k].jobs++
			rollups[k].videoMS += j.AudioDuration.Milliseconds()
		}
	}
	for _, k := range order {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO job_rollups (minute, owner, measure, outcome, code, jobs, video_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (owner, minute, measure, outcome, code)
			DO UPDATE SET jobs = job_rollups.jobs + excluded.jobs, video_ms = job_rollups.video_ms + excluded.video_ms`),
			s.t(k.minute), k.owner, k.measure, k.outcome, k.code, rollups[k].jobs, rollups[k].videoMS)
		if err != nil {
			return s.interpret(err, "folding jobs into rollups")
		}
	}
	return nil
}

// deleteEntry deletes a pruned job's queue entry, if River still has it
// (it deletes ended entries itself after a day). One still running (the
// worker of a cancelled job not yet stopped) is left to River.
func (s *Store) deleteEntry(ctx context.Context, tx *sql.Tx, entry sql.NullInt64) error {
	if !entry.Valid {
		return nil
	}
	_, err := s.river.JobDeleteTx(ctx, tx, entry.Int64)
	if err != nil && !errors.Is(err, river.ErrNotFound) && !errors.Is(err, rivertype.ErrJobRunning) {
		return s.interpret(err, "deleting a pruned job's queue entry")
	}
	return nil
}

// withMore scans a row's leading columns into a scanner's destinations,
// and the rest into more.
type withMore struct {
	row  scanner
	more []any
}

func (w withMore) Scan(dest ...any) error { return w.row.Scan(append(dest, w.more...)...) }

// marks is n comma-separated placeholders.
func marks(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// anys is ids as query arguments.
func anys(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}
