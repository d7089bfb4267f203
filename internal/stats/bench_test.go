package stats_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // "pgx"
	_ "modernc.org/sqlite"             // "sqlite"

	"github.com/avatar-api/avatar-api/internal/stats"
	"github.com/avatar-api/avatar-api/internal/store"
	"github.com/avatar-api/avatar-api/internal/store/postgres"
	"github.com/avatar-api/avatar-api/internal/store/postgres/pgtest"
	"github.com/avatar-api/avatar-api/internal/store/sqlite"
	"github.com/avatar-api/avatar-api/internal/store/sqlstore"
)

// The history a busy deployment keeps: 100 000 jobs over 35 days (about
// two a minute, 50 customers, 4 workers, 5 % failed, 2 % cancelled), a
// charge for each run, request rollups of 2 replicas for every minute,
// worker rollups of 4 workers, and GPU readings of 2 GPU workers every 5 s
// while they are busy, summed per minute.
const (
	benchJobs    = 100_000
	benchDays    = 35
	benchWorkers = 4
)

// BenchmarkDashboard measures one refresh of the dashboard (every query
// and the computation of its figures) against the history above, on SQLite
// and PostgreSQL, for the ranges of an hour (steps of a minute, read as
// they are), a day (the default) and 30 days: "warm" is the steady state
// of a page polling every few seconds (the quarter-hours that are over
// come from the process's cache), "cold" the first refresh of a process,
// which reads them all. The baseline of the same run is the refresh of an
// empty database.
//
//	go test -run '^$' -bench BenchmarkDashboard -benchtime 20x ./internal/stats/
func BenchmarkDashboard(b *testing.B) {
	now := time.Now().UTC()
	for _, db := range []string{"sqlite", "postgres"} {
		empty, _ := benchStore(b, db)
		full, raw := benchStore(b, db)
		fillHistory(b, raw, db, now)
		for _, c := range []struct {
			name string
			h    store.History
		}{{"empty", empty}, {"full", full}} {
			for _, r := range []string{"1h", "24h", "30d"} {
				newService := func() *stats.Service {
					return &stats.Service{History: c.h, Location: time.UTC, Price: 190_000, Now: func() time.Time { return now }}
				}
				b.Run(fmt.Sprintf("%s/%s/%s/warm", db, c.name, r), func(b *testing.B) {
					svc := newService()
					if _, err := svc.Dashboard(context.Background(), r); err != nil { // fills the cache
						b.Fatal(err)
					}
					for b.Loop() {
						if _, err := svc.Dashboard(context.Background(), r); err != nil {
							b.Fatal(err)
						}
					}
				})
				b.Run(fmt.Sprintf("%s/%s/%s/cold", db, c.name, r), func(b *testing.B) {
					for b.Loop() {
						if _, err := newService().Dashboard(context.Background(), r); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// benchStore opens a new store of the dialect, and a second connection to
// its database to fill it with.
func benchStore(b testing.TB, db string) (*sqlstore.Store, *sql.DB) {
	b.Helper()
	ctx := context.Background()
	var s *sqlstore.Store
	var raw *sql.DB
	var err error
	if db == "sqlite" {
		path := filepath.Join(b.TempDir(), "avatar.db")
		if s, err = sqlite.Open(ctx, path, 3); err == nil {
			raw, err = sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_txlock=immediate")
		}
	} else {
		url := pgtest.NewDatabase(b)
		if s, err = postgres.Open(ctx, url, 3); err == nil {
			raw, err = sql.Open("pgx", url)
		}
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { raw.Close(); s.Close() })
	return s, raw
}

// fillHistory writes the history in batches of multi-row INSERTs.
func fillHistory(b testing.TB, db *sql.DB, dialect string, now time.Time) {
	b.Helper()
	r := rand.New(rand.NewPCG(7, 11))
	ts := func(t time.Time) any {
		if dialect == "sqlite" {
			return t.UnixMicro()
		}
		return t
	}
	start := now.Add(-benchDays * 24 * time.Hour)
	span := now.Sub(start)
	codes := []string{"timeout", "generation_failed", "no_face_detected", "worker_lost"}
	jobs := newBatch(db, dialect, "jobs", "id, owner, fingerprint, request_id, state, progress, attempt, prompt, image_key, audio_key, "+
		"width, height, fps, seed, audio_duration_ms, error_code, error_message, created_at, updated_at, started_at, finished_at, "+
		"backend, queue, worker, queue_ms, run_ms, billed_ms, cost_nusd, price_nusd")
	charges := newBatch(db, dialect, "job_charges", "job_id, owner, backend, worker, attempt, started_at, billed_ms, cost_nusd, reported, at")
	for range benchJobs {
		created := start.Add(time.Duration(r.Int64N(int64(span))))
		queue := time.Duration(r.IntN(30_000)) * time.Millisecond
		run := time.Duration(2_000+r.IntN(58_000)) * time.Millisecond
		started, finished := created.Add(queue), created.Add(queue+run)
		if finished.After(now) {
			created, started, finished = created.Add(-time.Hour), started.Add(-time.Hour), finished.Add(-time.Hour)
		}
		state, code := "expired", ""
		switch p := r.IntN(100); {
		case p < 5:
			state, code = "failed", codes[r.IntN(len(codes))]
		case p < 7:
			state = "cancelled"
		case now.Sub(finished) < 6*time.Hour:
			state = "completed"
		}
		id := uuid.Must(uuid.NewV7()).String()
		owner := store.CustomerOwner(fmt.Sprintf("customer-%02d", int(50*r.Float64()*r.Float64())))
		worker := fmt.Sprintf("worker-%d:1", r.IntN(benchWorkers))
		cost := store.NanoUSD(190_000).Of(run)
		jobs.add(id, owner, "fp", "req", state, 1, 1, "p", "i/"+id, "a/"+id, 512, 512, 25, 1, 4000, code, "", ts(created), ts(finished),
			ts(started), ts(finished), "local", "generate", worker, queue.Milliseconds(), run.Milliseconds(), run.Milliseconds(), cost, 190_000)
		charges.add(id, owner, "local", worker, 1, ts(started), run.Milliseconds(), cost, false, ts(finished))
	}
	jobs.flush()
	charges.flush()

	requests := newBatch(db, dialect, "request_rollups", "minute, replica, status_class, requests")
	workers := newBatch(db, dialect, "worker_rollups", "minute, worker, capacity_ms, busy_ms")
	for m := start.Truncate(time.Minute); m.Before(now); m = m.Add(time.Minute) {
		for _, replica := range []string{"api-1:1", "api-2:1"} {
			requests.add(ts(m), replica, "2xx", 20+r.IntN(40))
			requests.add(ts(m), replica, "4xx", r.IntN(4))
			if r.IntN(50) == 0 {
				requests.add(ts(m), replica, "5xx", 1)
			}
		}
		for w := range benchWorkers {
			workers.add(ts(m), fmt.Sprintf("worker-%d:1", w), 60_000, r.IntN(60_001))
		}
	}
	requests.flush()
	workers.flush()

	gpus := newBatch(db, dialect, "gpu_rollups", "minute, worker, gpu, utilization_sum, utilization_count, memory_ratio_sum, memory_ratio_count")
	for m := start.Truncate(time.Minute); m.Before(now); m = m.Add(time.Minute) {
		for w := range 2 {
			if n := r.IntN(13); n > 0 { // readings every 5 s while busy
				gpus.add(ts(m), fmt.Sprintf("gpu-%d:1", w), 0, float64(n)*(0.5+0.5*r.Float64()), n, float64(n)*0.6, n)
			}
		}
	}
	gpus.flush()
	if dialect == "postgres" {
		if _, err := db.Exec("ANALYZE"); err != nil {
			b.Fatal(err)
		}
	}
}

// batch is a multi-row INSERT filled row by row and sent every 500 rows.
type batch struct {
	db      *sql.DB
	dialect string
	head    string
	cols    int
	args    []any
	rows    int
}

func newBatch(db *sql.DB, dialect, table, columns string) *batch {
	return &batch{db: db, dialect: dialect, head: "INSERT INTO " + table + " (" + columns + ") VALUES ", cols: strings.Count(columns, ",") + 1}
}

func (b *batch) add(values ...any) {
	b.args = append(b.args, values...)
	if b.rows++; b.rows == 500 {
		b.flush()
	}
}

func (b *batch) flush() {
	if b.rows == 0 {
		return
	}
	var q strings.Builder
	q.WriteString(b.head)
	n := 0
	for i := range b.rows {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(")
		for c := range b.cols {
			if c > 0 {
				q.WriteString(", ")
			}
			n++
			if b.dialect == "sqlite" {
				q.WriteString("?")
			} else {
				fmt.Fprintf(&q, "$%d", n)
			}
		}
		q.WriteString(")")
	}
	if _, err := b.db.Exec(q.String(), b.args...); err != nil {
		panic(fmt.Sprintf("filling: %v", err))
	}
	b.args, b.rows = b.args[:0], 0
}
