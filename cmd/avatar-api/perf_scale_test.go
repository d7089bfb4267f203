package main_test

import (
	"database/sql"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/store/postgres/pgtest"
)

// scaleSizes are the jobs in the database at each step; all are the
// benchmark customer's, so that its list has them all to page through.
var scaleSizes = []int{100, 10_000, 100_000}

// benchScale: submit, status, list and dispatch with 100, 10 000 and
// 100 000 of the customer's jobs in the database, on SQLite and on
// PostgreSQL. The jobs are copies of one completed job, inserted in bulk
// with ids that sort before every real one (as older jobs' do).
func benchScale(t *testing.T, r *perfReport) {
	const sec = "scale"
	r.printf(t, sec, "The customer's jobs in the database, all completed copies of one job (bulk-inserted with older ids); then, on a `serve` with its workers idle: "+
		"10 submissions of the small job one after another, each once the last completed, `GET /status` of one job by wrk (%d connections, 3 s), 20 reads of the first page of `GET /jobs`, "+
		"and those 10 jobs' dispatch (accepted to started). Medians.\n", gatewayConns)
	r.printf(t, sec, "| database | jobs | submit | status requests/s | status p50 | list, first page | dispatch |")
	r.printf(t, sec, "| --- | --- | --- | --- | --- | --- | --- |")
	form, ct := loadForm(t)
	for _, kind := range []string{"SQLite", "PostgreSQL"} {
		dir := t.TempDir()
		env := slices.Clone(gatewayEnv)
		driver, dsn := "sqlite", "file:"+dir+"/avatar.db?_pragma=busy_timeout(10000)"
		if kind == "PostgreSQL" {
			url := pgtest.NewDatabase(t)
			env = append(env, "DATABASE_URL="+url, "SIGNING_SECRET=bench-signing-secret-0123456789abcdef")
			driver, dsn = "pgx", url
		}
		p := startBench(t, "serve", dir, env...)
		key := strings.TrimSpace(cli(t, append([]string{"DATA_DIR=" + dir}, env...), "keys", "create", "--customer", "bench", "--rate-limit", "100000", "-q"))
		template := p.post(t, form, ct, key)
		p.waitState(t, template, key, "completed")
		db, err := sql.Open(driver, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for _, n := range scaleSizes {
			fillJobs(t, db, kind, template, n)
			var submit, list, dispatch []time.Duration
			for range 10 {
				took, wait := dispatchOnce(t, p, form, ct, key) // the workers idle again before the next
				submit, dispatch = append(submit, took), append(dispatch, wait)
			}
			status := runWrk(t, p.url+"/status/"+template, key, gatewayConns, 3*time.Second)
			for range 20 {
				start := time.Now()
				body, _ := get(t, p.url+"/jobs?limit=20", key)
				list = append(list, time.Since(start))
				var page struct {
					Jobs []json.RawMessage `json:"jobs"`
				}
				if err := json.Unmarshal(body, &page); err != nil || len(page.Jobs) != 20 {
					t.Fatalf("GET /jobs: %d jobs (%v)", len(page.Jobs), err)
				}
			}
			r.printf(t, sec, "| %s | %d | %s | %.0f | %s | %s | %s |", kind, countJobs(t, db), fmtMs(ms(percentile(submit, 50))),
				status.rps, fmtMs(ms(status.p50)), fmtMs(ms(percentile(list, 50))), fmtMs(ms(percentile(dispatch, 50))))
		}
	}
}

// dispatchOnce submits the small job, waits for it to complete, and
// returns how long the submission took and how long the job waited for a
// worker, as the service recorded it.
func dispatchOnce(t *testing.T, p benchProc, form []byte, ct, key string) (took, wait time.Duration) {
	t.Helper()
	start := time.Now()
	id := p.post(t, form, ct, key)
	took = time.Since(start)
	p.waitState(t, id, key, "completed")
	body, _ := get(t, p.url+"/status/"+id, key)
	var j struct {
		CreatedAt time.Time  `json:"created_at"`
		StartedAt *time.Time `json:"started_at"`
	}
	if err := json.Unmarshal(body, &j); err != nil || j.StartedAt == nil {
		t.Fatalf("job %s: no started_at: %s", id, body)
	}
	return took, j.StartedAt.Sub(j.CreatedAt)
}

func countJobs(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM jobs`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// fillJobs copies the job template until the table holds about n jobs:
// every column as the template's but the id (a counter in a UUID that
// sorts before every UUIDv7 of today) and the idempotency key (none).
func fillJobs(t *testing.T, db *sql.DB, kind, template string, n int) {
	t.Helper()
	have := countJobs(t, db)
	if have >= n {
		return
	}
	cols := jobColumnNames(t, db, kind)
	var sel []string
	for _, c := range cols {
		switch c {
		case "id":
			if kind == "SQLite" {
				sel = append(sel, "printf('00000000-0000-7000-8000-%012d', c.n + ?)")
			} else {
				sel = append(sel, "('00000000-0000-7000-8000-' || lpad((c.n + $2)::text, 12, '0'))::uuid")
			}
		case "idempotency_key":
			sel = append(sel, "NULL")
		default:
			sel = append(sel, "t."+c)
		}
	}
	counter := "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < ?) "
	from := " FROM jobs t, c WHERE t.id = ?"
	args := []any{n - have, have, template}
	if kind == "PostgreSQL" {
		counter, from = "", " FROM jobs t, generate_series(1, $1) AS c(n) WHERE t.id = $3"
	}
	start := time.Now()
	// The placeholders, in order: how many, the first counter, the template.
	q := counter + "INSERT INTO jobs (" + strings.Join(cols, ", ") + ") SELECT " + strings.Join(sel, ", ") + from
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("filling jobs to %d: %v\n%s", n, err, q)
	}
	t.Logf("%s: %d jobs inserted in %s", kind, n-have, time.Since(start).Round(time.Millisecond))
}

func jobColumnNames(t *testing.T, db *sql.DB, kind string) []string {
	t.Helper()
	q := `SELECT name FROM pragma_table_info('jobs')`
	if kind == "PostgreSQL" {
		q = `SELECT column_name FROM information_schema.columns WHERE table_name = 'jobs' AND table_schema = current_schema() ORDER BY ordinal_position`
	}
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	if len(cols) == 0 {
		t.Fatal("no columns in jobs")
	}
	return cols
}
