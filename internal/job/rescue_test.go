package job_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river/riverdriver"

	"github.com/avatar-api/avatar-api/internal/job"
	"github.com/avatar-api/avatar-api/internal/logging"
	"github.com/avatar-api/avatar-api/internal/metric"
	"github.com/avatar-api/avatar-api/internal/storage/local"
	"github.com/avatar-api/avatar-api/internal/store"
	"github.com/avatar-api/avatar-api/internal/store/sqlite"
	"github.com/avatar-api/avatar-api/internal/store/sqlstore"
)

// rescueCounter is an observer that also counts rescues, as the
// service's does, into real collectors.
type rescueCounter struct {
	recorder
	m *metric.Metrics
}

func (r *rescueCounter) Rescued(_ context.Context, n int) { r.m.JobsRescued(n) }

// TestRescueIsCounted: a job whose attempt stopped heartbeating is put
// back on the queue by RescueStale, and its observer counts it
// (avatar_jobs_rescued_total); a rescue that finds nothing counts
// nothing.
func TestRescueIsCounted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, files := openStores(t)
	now := time.Now()
	st.SetClock(func() time.Time { return now })
	m := metric.New(nil)
	l := job.NewLifecycle(st, files, logging.New(&bytes.Buffer{}, slog.LevelInfo), &rescueCounter{m: m})

	id := uuid.Must(uuid.NewV7()).String()
	j := &store.Job{ID: id, Owner: store.CustomerOwner("Acme Corp"), Queue: "rescue-" + id[:8], ImageKey: "inputs/" + id + "/i.png",
		AudioKey: "inputs/" + id + "/a.wav", Width: 512, Height: 512, FPS: 25, Seed: 1}
	if _, err := st.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	// A worker takes the entry and starts the job, two hours ago.
	exec := st.Driver().GetExecutor()
	res, err := exec.JobGetAvailable(ctx, &riverdriver.JobGetAvailableParams{ClientID: "test", MaxAttemptedBy: 100, MaxToLock: 1, Queue: j.Queue})
	if err != nil || len(res.Jobs) != 1 {
		t.Fatalf("taking the entry: %v, %d entries", err, len(res.Jobs))
	}
	began := time.Now().Add(-2 * time.Hour)
	row, err := exec.JobUpdateFull(ctx, &riverdriver.JobUpdateFullParams{ID: res.Jobs[0].ID, AttemptedAtDoUpdate: true, AttemptedAt: &began})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Start(ctx, id, row.Attempt, "dead-host:1"); err != nil {
		t.Fatal(err)
	}
	if n, err := l.RescueStale(ctx, 30*time.Minute, 100); err != nil || n != 0 {
		t.Fatalf("a job heard from just now: rescued %d, %v", n, err)
	}
	if got := rescuedTotal(t, m); got != 0 {
		t.Fatalf("nothing rescued, yet avatar_jobs_rescued_total = %g", got)
	}
	now = now.Add(time.Hour) // its worker has been silent for an hour
	if n, err := l.RescueStale(ctx, 30*time.Minute, 100); err != nil || n != 1 {
		t.Fatalf("rescued %d, %v; want 1", n, err)
	}
	if got := rescuedTotal(t, m); got != 1 {
		t.Fatalf("avatar_jobs_rescued_total = %g, want 1", got)
	}
}

// rescuedTotal is avatar_jobs_rescued_total as a scrape reads it.
func rescuedTotal(t *testing.T, m *metric.Metrics) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "avatar_jobs_rescued_total" {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("no avatar_jobs_rescued_total in the scrape")
	return 0
}

// openStores opens an SQLite store and local storage in a directory of
// the test's, closed when it ends.
func openStores(t *testing.T) (*sqlstore.Store, *local.Disk) {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "a.db"), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	files, err := local.New(filepath.Join(dir, "objects"), "http://localhost", bytes.Repeat([]byte("k"), 32))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { files.Close() })
	return st, files
}
