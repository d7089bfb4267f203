package main_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/store/postgres/pgtest"
)

// dispatchJobs are submitted one after another, each once the last has
// completed, so that a worker is always idle when a job arrives.
const dispatchJobs = 20

// benchDispatch: the time from a job's acceptance (created_at, in the
// same transaction as its queue entry) to its start by a worker
// (started_at), both as the service recorded them, with the workers idle,
// on SQLite (`serve`) and on PostgreSQL (`serve` with DATABASE_URL).
func benchDispatch(t *testing.T, r *perfReport) {
	const sec = "dispatch"
	r.printf(t, sec, "%d small jobs (128×128, 1 s) one after another, each submitted 0.3 to 1 s after the last completed (at a different point of the workers' "+
		"500 ms poll each time); `serve` with its embedded workers; the time from `created_at` to `started_at`, as the service recorded them.\n", dispatchJobs)
	r.printf(t, sec, "| database | p50 | p99 (the slowest of %d) | target p50 |", dispatchJobs)
	r.printf(t, sec, "| --- | --- | --- | --- |")
	form, ct := loadForm(t)
	for _, db := range []struct {
		name, target string
		env          func(t *testing.T) []string
	}{
		{"SQLite", "100 ms", func(*testing.T) []string { return nil }},
		{"PostgreSQL", "20 ms", func(t *testing.T) []string {
			return []string{"DATABASE_URL=" + pgtest.NewDatabase(t), "SIGNING_SECRET=bench-signing-secret-0123456789abcdef"}
		}},
	} {
		dir := t.TempDir()
		env := append(slices.Clone(gatewayEnv), db.env(t)...) // the wait polls often
		p := startBench(t, "serve", dir, env...)
		key := strings.TrimSpace(cli(t, append([]string{"DATA_DIR=" + dir}, env...), "keys", "create", "--customer", "bench", "--rate-limit", "100000", "-q"))
		var waits []time.Duration
		for i := range dispatchJobs {
			// Idle workers: past their last fetch's cooldown and at any
			// point of their poll's interval, as a job arrives at random.
			time.Sleep(300*time.Millisecond + time.Duration(i)*37*time.Millisecond)
			_, wait := dispatchOnce(t, p, form, ct, key)
			waits = append(waits, wait)
		}
		r.printf(t, sec, "| %s | **%s** | %s | %s |", db.name, fmtMs(ms(percentile(waits, 50))), fmtMs(ms(percentile(waits, 99))), db.target)
	}
}
