package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/avatar-api/avatar-api/internal/store"
)

// The reads of monitoring's history (store.History): sums in buckets for
// the dashboard's charts, and the lists of the dashboard and the report.
// Every query reads a range of an indexed time column.

// bucket is the SQL of the start of column's bucket of p.Step, in Unix
// seconds. The step is a whole number of our own, not a value from a
// request, so it is written into the query.
func (s *Store) bucket(column string, p store.BucketParams) string {
	step := int64(p.Step / time.Second)
	if step < 1 {
		step = 1
	}
	return fmt.Sprintf("(%s / %d) * %d", s.dialect.Epoch(column), step, step)
}

// rows runs a query and calls scan for each row.
func (s *Store) rows(ctx context.Context, what, query string, args []any, scan func(*sql.Rows) error) error {
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return s.interpret(err, what)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return s.interpret(err, what)
		}
	}
	return s.interpret(rows.Err(), what)
}

func (s *Store) window(w store.Window) []any { return []any{s.t(w.From), s.t(w.To)} }

// windowTwice is window's arguments for a query that reads the jobs' rows
// and then job_rollups, which keeps what is counted of the jobs pruned
// (store.Retention): the same figures, a minute at a time.
func (s *Store) windowTwice(w store.Window) []any { return append(s.window(w), s.window(w)...) }

// completed is the condition of a job that completed: its video may have
// expired since, but a job that lapsed in the queue (also expired) never
// ran. run_ms tells them apart and is in the index of finished jobs (a
// job that expired before runs were timed counts as lapsed: no figures).
const completed = `(state = 'completed' OR (state = 'expired' AND run_ms IS NOT NULL))`

// Requests implements store.History.
func (s *Store) Requests(ctx context.Context, p store.BucketParams) ([]store.RequestBucket, error) {
	var out []store.RequestBucket
	err := s.rows(ctx, "summing requests", `SELECT `+s.bucket("minute", p)+`, status_class, SUM(requests)
		FROM request_rollups WHERE minute >= ? AND minute < ? GROUP BY 1, 2 ORDER BY 1, 2`, s.window(p.Window),
		func(r *sql.Rows) error {
			var b store.RequestBucket
			var start int64
			err := r.Scan(&start, &b.Class, &b.Requests)
			b.Start = time.Unix(start, 0).UTC()
			out = append(out, b)
			return err
		})
	return out, err
}

// Outcomes implements store.History.
func (s *Store) Outcomes(ctx context.Context, p store.BucketParams) ([]store.OutcomeBucket, error) {
	var out []store.OutcomeBucket
	err := s.rows(ctx, "counting outcomes", `SELECT b, st, SUM(n) FROM (
		SELECT `+s.bucket("finished_at", p)+` AS b, CASE WHEN `+completed+` THEN 'completed' ELSE state END AS st, COUNT(*) AS n
		FROM jobs WHERE finished_at >= ? AND finished_at < ? GROUP BY 1, 2
		UNION ALL SELECT `+s.bucket("minute", p)+`, CASE outcome WHEN 'expired' THEN 'completed' WHEN 'lapsed' THEN 'expired' ELSE outcome END, SUM(jobs)
		FROM job_rollups WHERE minute >= ? AND minute < ? AND measure = 'finished' GROUP BY 1, 2
		) u GROUP BY b, st ORDER BY b, st`, s.windowTwice(p.Window),
		func(r *sql.Rows) error {
			var b store.OutcomeBucket
			var start int64
			err := r.Scan(&start, &b.State, &b.Jobs)
			b.Start = time.Unix(start, 0).UTC()
			out = append(out, b)
			return err
		})
	return out, err
}

// ChargedIn implements store.History.
func (s *Store) ChargedIn(ctx context.Context, w store.Window) (time.Duration, store.NanoUSD, error) {
	var billed int64
	var cost store.NanoUSD
	err := s.db.QueryRowContext(ctx, s.q(`SELECT COALESCE(SUM(billed_ms), 0), COALESCE(SUM(cost_nusd), 0)
		FROM job_charges WHERE at >= ? AND at < ?`), s.window(w)...).Scan(&billed, &cost)
	return time.Duration(billed) * time.Millisecond, cost, s.interpret(err, "summing charges")
}

// GPU implements store.History.
func (s *Store) GPU(ctx context.Context, p store.BucketParams) ([]store.GPUBucket, error) {
	var out []store.GPUBucket
	err := s.rows(ctx, "summing GPU readings", `SELECT `+s.bucket("minute", p)+`, worker, gpu,
		SUM(utilization_sum), SUM(utilization_count), SUM(memory_ratio_sum), SUM(memory_ratio_count)
		FROM gpu_rollups WHERE minute >= ? AND minute < ? GROUP BY 1, 2, 3 ORDER BY 2, 3, 1`, s.window(p.Window),
		func(r *sql.Rows) error {
			var b store.GPUBucket
			var start int64
			err := r.Scan(&start, &b.Worker, &b.GPU, &b.UtilizationSum, &b.UtilizationCount, &b.MemoryRatioSum, &b.MemoryRatioCount)
			b.Start = time.Unix(start, 0).UTC()
			out = append(out, b)
			return err
		})
	return out, err
}

// SubmittedPer implements store.History.
func (s *Store) SubmittedPer(ctx context.Context, p store.BucketParams) ([]store.CountBucket, error) {
	var out []store.CountBucket
	err := s.rows(ctx, "counting jobs", `SELECT b, SUM(n) FROM (
		SELECT `+s.bucket("created_at", p)+` AS b, COUNT(*) AS n FROM jobs WHERE created_at >= ? AND created_at < ? GROUP BY 1
		UNION ALL SELECT `+s.bucket("minute", p)+`, SUM(jobs) FROM job_rollups WHERE minute >= ? AND minute < ? AND measure = 'created' GROUP BY 1
		) u GROUP BY b ORDER BY b`, s.windowTwice(p.Window),
		func(r *sql.Rows) error {
			var b store.CountBucket
			var start int64
			err := r.Scan(&start, &b.Count)
			b.Start = time.Unix(start, 0).UTC()
			out = append(out, b)
			return err
		})
	return out, err
}

// ChargedPerOwner implements store.History.
func (s *Store) ChargedPerOwner(ctx context.Context, p store.BucketParams) ([]store.OwnerBucket, error) {
	var out []store.OwnerBucket
	err := s.rows(ctx, "summing charges per owner", `SELECT `+s.bucket("at", p)+`, owner, COUNT(*), SUM(billed_ms), SUM(cost_nusd)
		FROM job_charges WHERE at >= ? AND at < ? GROUP BY 1, 2 ORDER BY 1, 2`, s.window(p.Window),
		func(r *sql.Rows) error {
			var b store.OwnerBucket
			var start, billed int64
			err := r.Scan(&start, &b.Owner, &b.Runs, &billed, &b.Cost)
			b.Start, b.Billed = time.Unix(start, 0).UTC(), time.Duration(billed)*time.Millisecond
			out = append(out, b)
			return err
		})
	return out, err
}

// WorkersPer implements store.History.
func (s *Store) WorkersPer(ctx context.Context, p store.BucketParams) ([]store.WorkerBucket, error) {
	var out []store.WorkerBucket
	err := s.rows(ctx, "summing worker time", `SELECT `+s.bucket("minute", p)+`, worker, SUM(capacity_ms), SUM(busy_ms), MAX(minute)
		FROM worker_rollups WHERE minute >= ? AND minute < ? GROUP BY 1, 2 ORDER BY 1, 2`, s.window(p.Window),
		func(r *sql.Rows) error {
			var b store.WorkerBucket
			var start, capacity, busy int64
			var last timeValue
			err := r.Scan(&start, &b.Worker, &capacity, &busy, &last)
			b.Start, b.LastMinute = time.Unix(start, 0).UTC(), last.t
			b.Capacity, b.Busy = time.Duration(capacity)*time.Millisecond, time.Duration(busy)*time.Millisecond
			out = append(out, b)
			return err
		})
	return out, err
}

// RunTimes implements store.History.
func (s *Store) RunTimes(ctx context.Context, w store.Window) ([]store.RunTime, error) {
	var out []store.RunTime
	// Every job with a finished_at has ended (completed, failed or
	// cancelled, or expired since): the range of the covering index is all
	// the query reads, the completed ones are picked as they come.
	err := s.rows(ctx, "listing run times", `SELECT finished_at, state, run_ms FROM jobs
		WHERE finished_at >= ? AND finished_at < ? ORDER BY finished_at`, s.window(w),
		func(r *sql.Rows) error {
			var at timeValue
			var state store.State
			var ms sql.NullInt64
			if err := r.Scan(&at, &state, &ms); err != nil {
				return err
			}
			if (state == store.StateCompleted || state == store.StateExpired) && ms.Valid {
				out = append(out, store.RunTime{FinishedAt: at.t, Run: time.Duration(ms.Int64) * time.Millisecond})
			}
			return nil
		})
	return out, err
}

// Submitted implements store.History.
func (s *Store) Submitted(ctx context.Context, w store.Window) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT (SELECT COUNT(*) FROM jobs WHERE created_at >= ? AND created_at < ?)
		+ (SELECT COALESCE(SUM(jobs), 0) FROM job_rollups WHERE minute >= ? AND minute < ? AND measure = 'created')`), s.windowTwice(w)...).Scan(&n)
	return n, s.interpret(err, "counting jobs")
}

// CostByOwner implements store.History.
func (s *Store) CostByOwner(ctx context.Context, w store.Window, limit int) ([]store.OwnerCost, error) {
	var out []store.OwnerCost
	err := s.rows(ctx, "summing charges per owner", `SELECT owner, COUNT(DISTINCT job_id), SUM(billed_ms), SUM(cost_nusd)
		FROM job_charges WHERE at >= ? AND at < ? GROUP BY owner ORDER BY SUM(cost_nusd) DESC, SUM(billed_ms) DESC, owner LIMIT ?`,
		append(s.window(w), limit),
		func(r *sql.Rows) error {
			var c store.OwnerCost
			var billed int64
			err := r.Scan(&c.Owner, &c.Jobs, &billed, &c.Cost)
			c.Billed = time.Duration(billed) * time.Millisecond
			out = append(out, c)
			return err
		})
	return out, err
}

// UsageByOwner implements store.History.
func (s *Store) UsageByOwner(ctx context.Context, w store.Window, limit int) ([]store.OwnerUsage, error) {
	var out []store.OwnerUsage
	err := s.rows(ctx, "counting jobs per owner", `SELECT owner, SUM(n), SUM(c), SUM(f), SUM(x) FROM (
		SELECT owner, COUNT(*) AS n,
			SUM(CASE WHEN `+completed+` THEN 1 ELSE 0 END) AS c,
			SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END) AS f,
			SUM(CASE WHEN state = 'cancelled' THEN 1 ELSE 0 END) AS x
		FROM jobs WHERE created_at >= ? AND created_at < ? GROUP BY owner
		UNION ALL SELECT owner, SUM(jobs),
			SUM(CASE WHEN outcome IN ('completed', 'expired') THEN jobs ELSE 0 END),
			SUM(CASE WHEN outcome = 'failed' THEN jobs ELSE 0 END),
			SUM(CASE WHEN outcome = 'cancelled' THEN jobs ELSE 0 END)
		FROM job_rollups WHERE minute >= ? AND minute < ? AND measure = 'created' GROUP BY owner
		) u GROUP BY owner ORDER BY SUM(n) DESC, owner LIMIT ?`,
		append(s.windowTwice(w), limit),
		func(r *sql.Rows) error {
			var u store.OwnerUsage
			err := r.Scan(&u.Owner, &u.Submitted, &u.Completed, &u.Failed, &u.Cancelled)
			out = append(out, u)
			return err
		})
	return out, err
}

// Failures implements store.History.
func (s *Store) Failures(ctx context.Context, w store.Window, limit int) ([]*store.Job, error) {
	return s.many(ctx, "state = ? AND finished_at >= ? AND finished_at < ? ORDER BY finished_at DESC LIMIT ?",
		append(append([]any{store.StateFailed}, s.window(w)...), limit)...)
}

// ErrorCodes implements store.History.
func (s *Store) ErrorCodes(ctx context.Context, w store.Window, limit int) ([]store.CodeCount, error) {
	var out []store.CodeCount
	err := s.rows(ctx, "counting error codes", `SELECT code, SUM(n) FROM (
		SELECT error_code AS code, COUNT(*) AS n FROM jobs
		WHERE state = 'failed' AND finished_at >= ? AND finished_at < ? GROUP BY error_code
		UNION ALL SELECT code, SUM(jobs) FROM job_rollups
		WHERE minute >= ? AND minute < ? AND measure = 'finished' AND outcome = 'failed' GROUP BY code
		) u GROUP BY code ORDER BY SUM(n) DESC, code LIMIT ?`,
		append(s.windowTwice(w), limit),
		func(r *sql.Rows) error {
			var c store.CodeCount
			err := r.Scan(&c.Code, &c.Count)
			out = append(out, c)
			return err
		})
	return out, err
}

// Slowest implements store.History.
func (s *Store) Slowest(ctx context.Context, w store.Window, limit int) ([]*store.Job, error) {
	return s.many(ctx, "finished_at >= ? AND finished_at < ? AND "+completed+` AND run_ms IS NOT NULL
		ORDER BY run_ms DESC, id LIMIT ?`, append(s.window(w), limit)...)
}

// QueueDepths implements store.History.
func (s *Store) QueueDepths(ctx context.Context) ([]store.QueueDepth, error) {
	var out []store.QueueDepth
	err := s.rows(ctx, "counting queued jobs", `SELECT backend,
		SUM(CASE WHEN state = ? THEN 1 ELSE 0 END), SUM(CASE WHEN state = ? THEN 1 ELSE 0 END)
		FROM jobs WHERE state IN (?, ?) GROUP BY backend ORDER BY backend`,
		[]any{store.StateQueued, store.StateProcessing, store.StateQueued, store.StateProcessing},
		func(r *sql.Rows) error {
			var d store.QueueDepth
			err := r.Scan(&d.Backend, &d.Queued, &d.Running)
			out = append(out, d)
			return err
		})
	return out, err
}

// RefusalsByOwner implements store.History.
func (s *Store) RefusalsByOwner(ctx context.Context, w store.Window, limit int) ([]store.OwnerRefusals, error) {
	var out []store.OwnerRefusals
	err := s.rows(ctx, "summing refusals per owner", `SELECT owner, SUM(refusals) FROM refusal_rollups
		WHERE minute >= ? AND minute < ? GROUP BY owner ORDER BY SUM(refusals) DESC, owner LIMIT ?`,
		append(s.window(w), limit),
		func(r *sql.Rows) error {
			var o store.OwnerRefusals
			err := r.Scan(&o.Owner, &o.Refusals)
			out = append(out, o)
			return err
		})
	return out, err
}

// OldestQueued implements store.History: a queued job's updated_at is
// when it became queued (created, or given back), since nothing but a
// transition changes it while it waits; jobs_state_updated_at answers
// with one index probe.
func (s *Store) OldestQueued(ctx context.Context) (*time.Time, error) {
	var oldest timeValue
	err := s.db.QueryRowContext(ctx, s.q(`SELECT MIN(updated_at) FROM jobs WHERE state = ?`), store.StateQueued).Scan(&oldest)
	if err != nil {
		return nil, s.interpret(err, "reading the oldest queued job")
	}
	return oldest.ptr(), nil
}

// Charges implements store.History.
func (s *Store) Charges(ctx context.Context, jobID string) ([]store.Charge, error) {
	var out []store.Charge
	err := s.rows(ctx, "listing charges", `SELECT id, job_id, owner, backend, worker, attempt, started_at, billed_ms, cost_nusd, reported, at
		FROM job_charges WHERE job_id = ? ORDER BY id`, []any{jobID},
		func(r *sql.Rows) error {
			var c store.Charge
			var started, at timeValue
			var billed int64
			err := r.Scan(&c.ID, &c.JobID, &c.Owner, &c.Backend, &c.Worker, &c.Attempt, &started, &billed, &c.Cost, &c.Reported, &at)
			c.Started, c.At, c.Billed = started.t, at.t, time.Duration(billed)*time.Millisecond
			out = append(out, c)
			return err
		})
	return out, err
}

var _ store.History = (*Store)(nil)
