package job_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/avatar-api/avatar-api/internal/job"
	"github.com/avatar-api/avatar-api/internal/storage/local"
	"github.com/avatar-api/avatar-api/internal/store"
	"github.com/avatar-api/avatar-api/internal/store/sqlite"
)

// TestWatchRevisions: a watched job's revision grows with every change of
// state or progress, also across a requeue that River's snooze follows
// with a start of the same attempt; progress that goes back without a
// transition sends nothing; a second watcher (another replica) numbers the
// same row alike.
func TestWatchRevisions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "a.db"), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	files, err := local.New(filepath.Join(dir, "objects"), "http://localhost", bytes.Repeat([]byte("k"), 32))
	if err != nil {
		t.Fatal(err)
	}
	defer files.Close()
	log := slog.New(slog.DiscardHandler)
	s := job.NewService(job.Deps{Store: st, Storage: files, Log: log}, job.Settings{})
	l := job.NewLifecycle(st, files, log, nil)
	owner := store.CustomerOwner("acme")
	id := uuid.Must(uuid.NewV7()).String()
	j := &store.Job{ID: id, Owner: owner, ImageKey: "inputs/" + id + "/i.png", AudioKey: "inputs/" + id + "/a.wav",
		Width: 512, Height: 512, FPS: 25, Seed: 1}
	if _, err := st.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	for _, who := range []struct{ owner, id string }{{store.CustomerOwner("other"), id}, {owner, "nope"}} {
		if _, err := s.Watch(ctx, who.owner, who.id); !errors.Is(err, job.ErrNotFound) {
			t.Fatalf("Watch(%q, %q): %v, want ErrNotFound", who.owner, who.id, err)
		}
	}
	w, err := s.Watch(ctx, owner, id)
	if err != nil {
		t.Fatal(err)
	}
	seen, ended := int64(-1), false
	// step makes a change (or none) and reads: want is the state a new
	// revision shows, or "" when nothing is new.
	step := func(what, want string, change func() error) {
		t.Helper()
		if err := change(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		r, err := w.Read(ctx, seen)
		if err != nil {
			t.Fatalf("%s: read: %v", what, err)
		}
		switch {
		case want == "" && r.Job != nil:
			t.Fatalf("%s: revision %d after %d, with nothing new", what, r.Revision, seen)
		case want != "" && (r.Job == nil || r.Job.State != want || r.Revision <= seen):
			t.Fatalf("%s: revision %d after %d, job %+v; want a new revision, %s", what, r.Revision, seen, r.Job, want)
		case want != "":
			seen = r.Revision
		}
		ended = ended || want == "cancelled"
		if r.Final != ended {
			t.Fatalf("%s: final %v", what, r.Final)
		}
	}
	none := func() error { return nil }
	progress := func(p float64) func() error {
		return func() error {
			_, err := st.SetProgress(ctx, store.ProgressParams{JobID: id, Attempt: 1, Progress: p})
			return err
		}
	}
	step("created", "queued", none)
	step("unchanged", "", none)
	step("started", "processing", func() error { _, err := l.Start(ctx, id, 1, "w"); return err })
	step("progress", "processing", progress(0.5))
	step("progress gone back", "", progress(0.4))
	step("progress again", "processing", progress(0.6))
	step("requeued", "queued", func() error { _, err := l.Requeue(ctx, j, 1, nil); return err })
	step("started by the same attempt", "processing", func() error { _, err := l.Start(ctx, id, 1, "w"); return err })
	step("cancelled", "cancelled", func() error { _, err := l.Cancel(ctx, owner, id); return err })
	step("after the end", "", none)

	other, err := s.Watch(ctx, owner, id)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := other.Read(ctx, -1); err != nil || r.Revision != seen || r.Job == nil || !r.Final {
		t.Fatalf("another watcher: %+v, %v; want revision %d", r, err, seen)
	}
}
