package worker_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/avatar-api/avatar-api/internal/generator/still"
	"github.com/avatar-api/avatar-api/internal/job"
	"github.com/avatar-api/avatar-api/internal/media"
	"github.com/avatar-api/avatar-api/internal/queue"
	"github.com/avatar-api/avatar-api/internal/storage"
	"github.com/avatar-api/avatar-api/internal/storage/local"
	"github.com/avatar-api/avatar-api/internal/store"
	"github.com/avatar-api/avatar-api/internal/store/sqlite"
	"github.com/avatar-api/avatar-api/internal/store/sqlstore"
	"github.com/avatar-api/avatar-api/internal/worker"
)

const fixtures = "../../testdata"

// bundle is a worker on real parts: an SQLite file with River's queue,
// local storage, and the still generator running ffmpeg.
type bundle struct {
	st    *sqlstore.Store
	files *local.Disk
	jobs  *job.Lifecycle
	deps  worker.Deps
	opts  worker.Options
	dir   string
}

func setup(t *testing.T) *bundle {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "avatar.db"), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	files, err := local.New(filepath.Join(dir, "objects"), "http://127.0.0.1:1", bytes.Repeat([]byte("s"), 32))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	jobs := job.NewLifecycle(st, files, log, nil)
	work := filepath.Join(dir, "work")
	if err := os.MkdirAll(work, 0o750); err != nil {
		t.Fatal(err)
	}
	return &bundle{st: st, files: files, jobs: jobs, dir: dir,
		deps: worker.Deps{Jobs: jobs, Storage: files, Generator: still.New("", ""), Log: log, WorkDir: work,
			Backend: queue.Local(time.Minute, 0), ResultTTL: time.Hour, Heartbeat: 100 * time.Millisecond,
			Videos: media.Prober{}},
		opts: worker.Options{Concurrency: 1, RescueAfter: 2 * time.Minute, SweepEvery: 100 * time.Millisecond,
			PollInterval: 100 * time.Millisecond, LostAfter: time.Millisecond},
	}
}

func (b *bundle) start(t *testing.T) *worker.Runner {
	t.Helper()
	r, err := worker.Start(context.Background(), b.st.Driver(), b.deps, b.opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop(context.Background(), time.Second) })
	return r
}

// submit stores the inputs and queues a job, as the job service does.
func (b *bundle) submit(t *testing.T) *store.Job {
	t.Helper()
	return b.submitTo(t, queue.Backend{})
}

// submitTo is submit for a job of backend (zero: the local one).
func (b *bundle) submitTo(t *testing.T, backend queue.Backend) *store.Job {
	t.Helper()
	ctx := context.Background()
	id := uuid.Must(uuid.NewV7()).String()
	j := &store.Job{ID: id, Owner: "customer-a", ImageKey: "inputs/" + id + "/image.png", AudioKey: "inputs/" + id + "/audio.wav",
		Width: 128, Height: 128, FPS: 10, Seed: 1, AudioDuration: 4658 * time.Millisecond,
		Backend: backend.Name, Queue: backend.Queue}
	for key, name := range map[string]string{j.ImageKey: "astronaut.png", j.AudioKey: "speech_en_4s.wav"} {
		if err := storage.PutFile(ctx, b.files, key, filepath.Join(fixtures, name), "application/octet-stream"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.st.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	return j
}

// wait polls the job until its state and its queue entry's are the ones wanted.
func (b *bundle) wait(t *testing.T, id string, state store.State, entry ...string) *store.Job {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		j, err := b.st.GetJob(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		qs, _ := b.st.QueueJobState(context.Background(), id)
		if j.State == state && (len(entry) == 0 || contains(entry, qs)) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s is %s, queue entry %s; want %s, %v", id, j.State, qs, state, entry)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// transitions are the job's recorded events, as "transition:from>to".
func (b *bundle) transitions(t *testing.T, id string) string {
	t.Helper()
	evs, err := b.st.Events(context.Background(), store.EventsParams{JobID: id, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, string(e.Transition)+":"+string(e.From)+">"+string(e.To))
	}
	return strings.Join(out, " ")
}

// objects lists the files stored (inputs and results).
// objects lists the stored objects once none is left, or after 10 s: a
// transition commits before the inputs of its job are deleted, so a test
// that saw the state may look a moment too early.
func (b *bundle) objects(t *testing.T) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var out []string
		_ = filepath.WalkDir(filepath.Join(b.dir, "objects"), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !strings.HasPrefix(d.Name(), ".") {
				out = append(out, p)
			}
			return nil
		})
		if len(out) == 0 || time.Now().After(deadline) {
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pause holds each job between its start and its generation until the
// test lets it go (or the attempt's context ends): the window in which a
// cancel or a shutdown used to be lost.
type pause struct {
	started chan string
	release chan struct{}
	once    sync.Once
}

func newPause() *pause { return &pause{started: make(chan string, 4), release: make(chan struct{})} }

func (p *pause) hook(ctx context.Context, id string) {
	p.started <- id
	select {
	case <-p.release:
	case <-ctx.Done():
	}
}

func (p *pause) resume() { p.once.Do(func() { close(p.release) }) }

// TestCancelRightAfterStart: a cancel that lands between a job's start and
// its generation ends the attempt as cancelled — its queue entry
// cancelled, the job's events its start and its cancel, no video, no
// input — instead of an error that skipped the attempt's settling.
func TestCancelRightAfterStart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := newPause()
	b.deps.AfterStart = p.hook
	b.start(t)
	j := b.submit(t)
	<-p.started
	if _, err := b.jobs.Cancel(context.Background(), j.Owner, j.ID); err != nil {
		t.Fatal(err)
	}
	p.resume()
	b.wait(t, j.ID, store.StateCancelled, "cancelled")
	if got, want := b.transitions(t, j.ID), "create:>queued start:queued>processing cancel:processing>cancelled"; got != want {
		t.Fatalf("events %s, want %s", got, want)
	}
	if files := b.objects(t); len(files) != 0 {
		t.Fatalf("left behind: %v", files)
	}
}

// TestShutdownRightAfterStart: a shutdown past its grace that lands between
// a job's start and its generation puts the job back without using up an
// attempt; the next worker completes it.
func TestShutdownRightAfterStart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := newPause()
	b.deps.AfterStart = p.hook
	r, err := worker.Start(context.Background(), b.st.Driver(), b.deps, b.opts)
	if err != nil {
		t.Fatal(err)
	}
	j := b.submit(t)
	<-p.started
	if err := r.Stop(context.Background(), 0); err != nil { // no grace: the attempt is stopped at once
		t.Fatal(err)
	}
	b.wait(t, j.ID, store.StateQueued, "available", "scheduled")
	if got, want := b.transitions(t, j.ID), "create:>queued start:queued>processing requeue:processing>queued"; got != want {
		t.Fatalf("events after the shutdown %s, want %s", got, want)
	}
	b.deps.AfterStart = nil
	b.start(t)
	done := b.wait(t, j.ID, store.StateCompleted)
	if done.Attempt != 1 {
		t.Errorf("completed by attempt %d, want 1: the shutdown used up an attempt", done.Attempt)
	}
	if got, want := b.transitions(t, j.ID), "create:>queued start:queued>processing requeue:processing>queued start:queued>processing complete:processing>completed"; got != want {
		t.Fatalf("events %s, want %s", got, want)
	}
}

// TestEventsOfEveryPath: the paths a job takes through real workers and
// the sweep write exactly their events.
func TestEventsOfEveryPath(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	b.deps.ResultTTL = 500 * time.Millisecond

	// A job whose worker died and whose queue entry River gave up on.
	lost := b.submit(t)
	if _, err := b.jobs.Start(ctx, lost.ID, 1, "test"); err != nil {
		t.Fatal(err)
	}
	gaveUp, err := river.NewClient(b.st.Driver(), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := gaveUp.JobList(ctx, river.NewJobListParams().First(10))
	if err != nil || len(rows.Jobs) != 1 {
		t.Fatalf("queue entries: %v %v", rows, err)
	}
	if _, err := gaveUp.JobCancel(ctx, rows.Jobs[0].ID); err != nil {
		t.Fatal(err)
	}

	// Cancelled before any worker runs, so that none can start it first.
	queuedThenCancelled := b.submit(t)
	if _, err := b.jobs.Cancel(ctx, queuedThenCancelled.Owner, queuedThenCancelled.ID); err != nil {
		t.Fatal(err)
	}
	b.start(t)
	completed := b.submit(t)

	b.wait(t, lost.ID, store.StateFailed)
	b.wait(t, completed.ID, store.StateExpired)
	for id, want := range map[string]string{
		lost.ID:                "create:>queued start:queued>processing fail:processing>failed",
		queuedThenCancelled.ID: "create:>queued cancel:queued>cancelled",
		completed.ID:           "create:>queued start:queued>processing complete:processing>completed expire:completed>expired",
	} {
		if got := b.transitions(t, id); got != want {
			t.Errorf("job %s: events %s, want %s", id, got, want)
		}
	}
	if files := b.objects(t); len(files) != 0 {
		t.Fatalf("left behind: %v", files)
	}
}

// TestSupersededFailKeepsInputs: an attempt taken for dead that wakes and
// fails (its deadline passed), or whose start arrives late, leaves the
// job, and the inputs its successor is using, alone.
func TestSupersededFailKeepsInputs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	j := b.submit(t)
	if _, err := b.jobs.Start(ctx, j.ID, 1, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.jobs.Start(ctx, j.ID, 2, "test"); err != nil { // the rescue's successor
		t.Fatal(err)
	}
	if err := b.jobs.Fail(ctx, j, 1, worker.CodeTimeout, "too slow", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.jobs.Start(ctx, j.ID, 1, "test"); !errors.Is(err, store.ErrConflict) { // a start that arrives late
		t.Fatalf("late start: %v, want ErrConflict", err)
	}
	got, err := b.st.GetJob(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != store.StateProcessing || got.Attempt != 2 {
		t.Fatalf("job %s by attempt %d, want processing by attempt 2", got.State, got.Attempt)
	}
	for _, key := range []string{j.ImageKey, j.AudioKey} {
		if _, err := b.files.Size(ctx, key); err != nil {
			t.Fatalf("input %s of the running attempt: %v", key, err)
		}
	}
}
