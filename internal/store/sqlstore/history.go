package sqlstore

import (
	"context"
	"database/sql"
	"math"
	"time"

	"github.com/avatar-api/avatar-api/internal/store"
)

// The writes of monitoring's history (store.History): rollups added to by
// every process, GPU readings, pruning and dashboard sessions. The reads
// are in stats.go.

// AddRequests implements store.History: each count is added to its
// minute's row of its replica and class, in one transaction.
func (s *Store) AddRequests(ctx context.Context, counts []store.RequestCount) error {
	return addCounts(ctx, s, "adding request counts", `INSERT INTO request_rollups (minute, replica, status_class, requests) VALUES (?, ?, ?, ?)
		ON CONFLICT (minute, replica, status_class) DO UPDATE SET requests = request_rollups.requests + excluded.requests`,
		counts, func(c store.RequestCount) []any {
			return []any{s.t(c.Minute.Truncate(time.Minute)), c.Replica, c.Class, c.Requests}
		})
}

// AddRefusals implements store.History: each count is added to its
// minute's row of its replica and owner, in one transaction.
func (s *Store) AddRefusals(ctx context.Context, counts []store.RefusalCount) error {
	return addCounts(ctx, s, "adding refusal counts", `INSERT INTO refusal_rollups (minute, replica, owner, refusals) VALUES (?, ?, ?, ?)
		ON CONFLICT (minute, replica, owner) DO UPDATE SET refusals = refusal_rollups.refusals + excluded.refusals`,
		counts, func(c store.RefusalCount) []any {
			return []any{s.t(c.Minute.Truncate(time.Minute)), c.Replica, c.Owner, c.Refusals}
		})
}

// AddOwnerRequests implements store.History: each count is added to its
// minute's row of its owner and replica, in one transaction.
func (s *Store) AddOwnerRequests(ctx context.Context, counts []store.OwnerRequestCount) error {
	return addCounts(ctx, s, "adding owners' request counts", `INSERT INTO owner_request_rollups (minute, replica, owner, requests) VALUES (?, ?, ?, ?)
		ON CONFLICT (owner, minute, replica) DO UPDATE SET requests = owner_request_rollups.requests + excluded.requests`,
		counts, func(c store.OwnerRequestCount) []any {
			return []any{s.t(c.Minute.Truncate(time.Minute)), c.Replica, c.Owner, c.Requests}
		})
}

// addCounts runs upsert, which adds to a rollup's row, for each count, in
// one transaction.
func addCounts[C any](ctx context.Context, s *Store, what, upsert string, counts []C, args func(C) []any) error {
	if len(counts) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, c := range counts {
			if _, err := tx.ExecContext(ctx, s.q(upsert), args(c)...); err != nil {
				return s.interpret(err, what)
			}
		}
		return nil
	})
}

// AddWorkerTime implements store.History.
func (s *Store) AddWorkerTime(ctx context.Context, use []store.WorkerTime) error {
	return addCounts(ctx, s, "adding worker time", `INSERT INTO worker_rollups (minute, worker, capacity_ms, busy_ms) VALUES (?, ?, ?, ?)
		ON CONFLICT (minute, worker) DO UPDATE SET capacity_ms = worker_rollups.capacity_ms + excluded.capacity_ms,
		busy_ms = worker_rollups.busy_ms + excluded.busy_ms`,
		use, func(u store.WorkerTime) []any {
			return []any{s.t(u.Minute.Truncate(time.Minute)), u.Worker, u.Capacity.Milliseconds(), u.Busy.Milliseconds()}
		})
}

// AddGPUSamples implements store.History: each reading is added to its
// minute's sums of its worker's GPU; a figure the GPU did not give is left
// out of its mean.
func (s *Store) AddGPUSamples(ctx context.Context, samples []store.GPUSample) error {
	if len(samples) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, g := range samples {
			var util, utilN, mem, memN float64
			if !math.IsNaN(g.Utilization) {
				util, utilN = g.Utilization, 1
			}
			if g.MemoryUsed >= 0 && g.MemoryTotal > 0 {
				mem, memN = float64(g.MemoryUsed)/float64(g.MemoryTotal), 1
			}
			_, err := tx.ExecContext(ctx, s.q(`INSERT INTO gpu_rollups (minute, worker, gpu, utilization_sum, utilization_count,
				memory_ratio_sum, memory_ratio_count) VALUES (?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (minute, worker, gpu) DO UPDATE SET
				utilization_sum = gpu_rollups.utilization_sum + excluded.utilization_sum,
				utilization_count = gpu_rollups.utilization_count + excluded.utilization_count,
				memory_ratio_sum = gpu_rollups.memory_ratio_sum + excluded.memory_ratio_sum,
				memory_ratio_count = gpu_rollups.memory_ratio_count + excluded.memory_ratio_count`),
				s.t(g.At.Truncate(time.Minute)), g.Worker, g.GPU, util, int64(utilN), mem, int64(memN))
			if err != nil {
				return s.interpret(err, "storing GPU readings")
			}
		}
		return nil
	})
}

// Prune implements store.History.
func (s *Store) Prune(ctx context.Context, p store.PruneParams) (int64, error) {
	var n int64
	for _, stmt := range []struct {
		query string
		at    time.Time
	}{
		{`DELETE FROM request_rollups WHERE minute < ?`, p.Before},
		{`DELETE FROM worker_rollups WHERE minute < ?`, p.Before},
		{`DELETE FROM gpu_rollups WHERE minute < ?`, p.Before},
		{`DELETE FROM refusal_rollups WHERE minute < ?`, p.Before},
		{`DELETE FROM owner_request_rollups WHERE minute < ?`, p.Before},
		{`DELETE FROM dashboard_sessions WHERE expires_at <= ?`, p.Now},
	} {
		res, err := s.db.ExecContext(ctx, s.q(stmt.query), s.t(stmt.at))
		if err != nil {
			return n, s.interpret(err, "pruning history")
		}
		k, _ := res.RowsAffected()
		n += k
	}
	return n, nil
}

// CreateSession implements store.History.
func (s *Store) CreateSession(ctx context.Context, se store.Session) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO dashboard_sessions (hash, key_id, created_at, expires_at) VALUES (?, ?, ?, ?)`),
		se.Hash, se.KeyID, s.t(se.CreatedAt), s.t(se.ExpiresAt))
	return s.interpret(err, "creating session")
}

// SessionByHash implements store.History.
func (s *Store) SessionByHash(ctx context.Context, hash string) (store.Session, error) {
	var se store.Session
	var created, expires timeValue
	err := s.db.QueryRowContext(ctx, s.q(`SELECT hash, key_id, created_at, expires_at FROM dashboard_sessions WHERE hash = ?`), hash).
		Scan(&se.Hash, &se.KeyID, &created, &expires)
	se.CreatedAt, se.ExpiresAt = created.t, expires.t
	return se, s.interpret(err, "reading session")
}

// DeleteSession implements store.History.
func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM dashboard_sessions WHERE hash = ?`), hash)
	return s.interpret(err, "deleting session")
}
