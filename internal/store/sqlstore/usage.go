package sqlstore

import (
	"context"
	"database/sql"
	"slices"
	"time"

	"github.com/avatar-api/avatar-api/internal/store"
)

// UsagePer implements store.History: four reads of one owner's rows,
// each of the range of its own time column (jobs by creation, jobs by
// their end, charges by when they were made, requests by their minute),
// merged by bucket. The jobs' reads add the job_rollups of the jobs
// pruned since.
func (s *Store) UsagePer(ctx context.Context, p store.UsageParams) ([]store.UsageBucket, error) {
	buckets := map[int64]*store.UsageBucket{}
	var order []int64
	at := func(start int64) *store.UsageBucket {
		b, ok := buckets[start]
		if !ok {
			b = &store.UsageBucket{Start: time.Unix(start, 0).UTC()}
			buckets[start] = b
			order = append(order, start)
		}
		return b
	}
	args := append([]any{p.Owner}, s.window(p.Window)...)
	err := s.rows(ctx, "counting an owner's jobs", `SELECT `+s.bucket("created_at", p.BucketParams)+`, COUNT(*)
		FROM jobs WHERE owner = ? AND created_at >= ? AND created_at < ? GROUP BY 1
		UNION ALL SELECT `+s.bucket("minute", p.BucketParams)+`, SUM(jobs)
		FROM job_rollups WHERE owner = ? AND minute >= ? AND minute < ? AND measure = 'created' GROUP BY 1`, append(args, args...),
		func(r *sql.Rows) error {
			var start, n int64
			err := r.Scan(&start, &n)
			at(start).Submitted += n
			return err
		})
	if err != nil {
		return nil, err
	}
	err = s.rows(ctx, "counting an owner's outcomes", `SELECT `+s.bucket("finished_at", p.BucketParams)+`,
		CASE WHEN state = 'expired' AND run_ms IS NULL THEN 'lapsed' ELSE state END, COUNT(*),
		COALESCE(SUM(audio_duration_ms), 0)
		FROM jobs WHERE owner = ? AND finished_at >= ? AND finished_at < ? GROUP BY 1, 2
		UNION ALL SELECT `+s.bucket("minute", p.BucketParams)+`, outcome, SUM(jobs), SUM(video_ms)
		FROM job_rollups WHERE owner = ? AND minute >= ? AND minute < ? AND measure = 'finished' GROUP BY 1, 2`, append(args, args...),
		func(r *sql.Rows) error {
			var start, n, ms int64
			var state store.State
			if err := r.Scan(&start, &state, &n, &ms); err != nil {
				return err
			}
			b := at(start)
			switch state {
			case store.StateCompleted:
				b.Completed += n
				b.Video += time.Duration(ms) * time.Millisecond
			case store.StateExpired:
				b.Expired += n
				b.Video += time.Duration(ms) * time.Millisecond
			case "lapsed": // expired in the queue: it never ran
				b.Lapsed += n
			case store.StateFailed:
				b.Failed += n
			case store.StateCancelled:
				b.Cancelled += n
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	err = s.rows(ctx, "summing an owner's charges", `SELECT `+s.bucket("at", p.BucketParams)+`, COUNT(*), SUM(billed_ms), SUM(cost_nusd)
		FROM job_charges WHERE at >= ? AND at < ? AND owner = ? GROUP BY 1`, append(s.window(p.Window), p.Owner),
		func(r *sql.Rows) error {
			var start, n, ms int64
			var cost store.NanoUSD
			err := r.Scan(&start, &n, &ms, &cost)
			b := at(start)
			b.Runs, b.Billed, b.Cost = b.Runs+n, b.Billed+time.Duration(ms)*time.Millisecond, b.Cost+cost
			return err
		})
	if err != nil {
		return nil, err
	}
	err = s.rows(ctx, "summing an owner's requests", `SELECT `+s.bucket("minute", p.BucketParams)+`, SUM(requests)
		FROM owner_request_rollups WHERE owner = ? AND minute >= ? AND minute < ? GROUP BY 1`, args,
		func(r *sql.Rows) error {
			var start, n int64
			err := r.Scan(&start, &n)
			at(start).Requests += n
			return err
		})
	if err != nil {
		return nil, err
	}
	out := make([]store.UsageBucket, 0, len(order))
	slices.Sort(order)
	for _, start := range order {
		out = append(out, *buckets[start])
	}
	return out, nil
}

// RecentRuns implements store.History: the range of jobs_finished_at,
// newest first, stopping at the limit.
func (s *Store) RecentRuns(ctx context.Context, p store.RecentRunsParams) ([]store.RunFigures, error) {
	var out []store.RunFigures
	err := s.rows(ctx, "listing recent runs", `SELECT width, height, fps, audio_duration_ms, billed_ms FROM jobs
		WHERE finished_at >= ? AND `+completed+` AND backend = ? ORDER BY finished_at DESC LIMIT ?`,
		[]any{s.t(p.Since), p.Backend, p.Limit},
		func(r *sql.Rows) error {
			var f store.RunFigures
			var video, billed int64
			err := r.Scan(&f.Width, &f.Height, &f.FPS, &video, &billed)
			f.Video, f.Billed = time.Duration(video)*time.Millisecond, time.Duration(billed)*time.Millisecond
			out = append(out, f)
			return err
		})
	return out, err
}
