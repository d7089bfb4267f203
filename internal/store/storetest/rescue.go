package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/avatar-api/avatar-api/internal/store"
)

// rescueStale: a running queue entry whose attempt still writes to its job
// is left alone; one whose attempt went silent is made available again at
// once, for the next attempt to take the job over (and fence the silent
// one); once its attempts are used up it is discarded, and the job is
// Orphaned's. The entry is taken as a worker would, through River's
// driver, on a queue of the test's own; the store's clock is the test's,
// and each attempt is dated two hours back in River's table.
func rescueStale(t *testing.T, s Clocked) {
	ctx := context.Background()
	exec := s.Driver().GetExecutor()
	clock := time.Now()
	s.SetClock(func() time.Time { return clock })
	const silent = 30 * time.Minute
	j := newJob(newOwner())
	j.Queue = "rescue-" + uuid.NewString()[:8]
	_, err := s.CreateJob(ctx, j)
	must(t, err)
	// take is a worker fetching the entry, and starting the job.
	take := func() *rivertype.JobRow {
		t.Helper()
		res, err := exec.JobGetAvailable(ctx, &riverdriver.JobGetAvailableParams{
			ClientID: "storetest", MaxAttemptedBy: 100, MaxToLock: 1, Queue: j.Queue})
		must(t, err)
		if len(res.Jobs) != 1 {
			t.Fatalf("fetched %d entries, want 1", len(res.Jobs))
		}
		began := time.Now().Add(-2 * time.Hour)
		row, err := exec.JobUpdateFull(ctx, &riverdriver.JobUpdateFullParams{ID: res.Jobs[0].ID, AttemptedAtDoUpdate: true, AttemptedAt: &began})
		must(t, err)
		_, err = start(ctx, s, j.ID, row.Attempt)
		must(t, err)
		return row
	}
	queueState := func() string {
		t.Helper()
		st, err := s.QueueJobState(ctx, j.ID)
		must(t, err)
		return st
	}
	entry := take()

	// Running for two hours, but heard from just now: alive.
	n, err := s.RescueStale(ctx, silent, 100)
	must(t, err)
	if n != 0 || queueState() != string(rivertype.JobStateRunning) {
		t.Fatalf("a job heard from just now: %d re-queued, its entry %s; want 0, running", n, queueState())
	}
	// Silent for longer than the timeout: dead.
	clock = clock.Add(time.Hour)
	n, err = s.RescueStale(ctx, silent, 100)
	must(t, err)
	if n != 1 || queueState() != string(rivertype.JobStateAvailable) {
		t.Fatalf("a silent job: %d re-queued, its entry %s; want 1, available", n, queueState())
	}
	next := take()
	if next.Attempt != entry.Attempt+1 {
		t.Fatalf("the next attempt is %d, want %d", next.Attempt, entry.Attempt+1)
	}
	if _, err := s.SetProgress(ctx, store.ProgressParams{JobID: j.ID, Attempt: entry.Attempt, Progress: 0.5}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("the silent attempt writing after its successor started: %v, want ErrConflict", err)
	}

	// Until the attempts are used up: then discarded, and the job orphaned.
	for entry = next; entry.Attempt < entry.MaxAttempts; {
		clock = clock.Add(time.Hour)
		n, err = s.RescueStale(ctx, silent, 100)
		must(t, err)
		if n != 1 {
			t.Fatalf("attempt %d silent: %d re-queued, want 1", entry.Attempt, n)
		}
		entry = take()
	}
	clock = clock.Add(time.Hour)
	n, err = s.RescueStale(ctx, silent, 100)
	must(t, err)
	if n != 1 || queueState() != string(rivertype.JobStateDiscarded) {
		t.Fatalf("the last attempt silent: %d rescued, its entry %s; want 1, discarded", n, queueState())
	}
	orphans, err := s.Orphaned(ctx, clock, 100000)
	must(t, err)
	if !containsJob(orphans, j.ID) {
		t.Fatal("a job whose last attempt died is not orphaned")
	}
	// Nothing left running: nothing to re-queue.
	if n, err = s.RescueStale(ctx, silent, 100); err != nil || n != 0 {
		t.Fatalf("nothing running: %d re-queued, %v", n, err)
	}
}
