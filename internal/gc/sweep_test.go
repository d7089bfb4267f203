package gc_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/avatar-api/avatar-api/internal/gc"
	"github.com/avatar-api/avatar-api/internal/storage"
	"github.com/avatar-api/avatar-api/internal/store"
)

// TestSweep: an object no job needs is deleted once older than the
// orphan age, and not before; a job not final keeps every object of its
// own; an ended job keeps its video alone; keys of other layouts are never
// touched.
func TestSweep(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, b *testBundle) {
		ctx := context.Background()
		queued := b.job(t, "")
		b.put(t, "staging/"+queued.ID+"-1-abcdefabcdef.mp4", "results/"+queued.ID+"-1.mp4")
		done := b.job(t, store.Complete) // so are its inputs; its video is not
		superseded := "results/" + done.ID + "-2.mp4"
		b.job(t, store.Fail)                      // its inputs, whose deletion failed, are orphans
		never := uuid.Must(uuid.NewV7()).String() // a submission that crashed before creating its job
		b.put(t, superseded, "inputs/"+never+"/image.png", "inputs/"+never+"/audio.wav",
			"backups/db.sql", "inputs/not-a-job/image.png", "results/"+never+".txt")
		all := b.keys(t)

		if swept, err := b.c.Sweep(ctx); err != nil || swept != (gc.Swept{}) {
			t.Fatalf("a sweep of young objects deleted %+v (%v), want none", swept, err)
		}
		wantKeys(t, b.keys(t), all...)

		b.now = b.now.Add(time.Hour + time.Minute)
		swept, err := b.c.Sweep(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if swept != (gc.Swept{Objects: 7, Bytes: 35}) {
			t.Errorf("swept %+v, want 7 objects of 35 bytes", swept)
		}
		wantKeys(t, b.keys(t), queued.ImageKey, queued.AudioKey, "staging/"+queued.ID+"-1-abcdefabcdef.mp4",
			"results/"+queued.ID+"-1.mp4", done.ResultKey,
			"backups/db.sql", "inputs/not-a-job/image.png", "results/"+never+".txt")
	})
}

// TestSweepLimit: a run deletes at most Limit objects; the next run goes
// on.
func TestSweepLimit(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, b *testBundle) {
		for range 5 {
			b.put(t, "inputs/"+uuid.Must(uuid.NewV7()).String()+"/image.png")
		}
		b.c.Limit = 2
		b.now = b.now.Add(2 * time.Hour)
		left := 5
		for run, want := range []int{2, 2, 1, 0} {
			swept, err := b.c.Sweep(context.Background())
			if err != nil || swept.Objects != int64(want) {
				t.Fatalf("run %d deleted %d objects (%v), want %d", run, swept.Objects, err, want)
			}
			if left -= want; len(b.keys(t)) != left {
				t.Fatalf("after run %d storage holds %q, want %d objects", run, b.keys(t), left)
			}
		}
	})
}

// TestSweepPartial: on the local disk, the temporary file of a write that
// never finished is deleted once old, as an orphan is, by its own age: a
// young orphan beside an old one is kept.
func TestSweepPartial(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite", "local")
	id := uuid.Must(uuid.NewV7()).String()
	oldOrphan, youngOrphan := "inputs/"+id+"/image.png", "inputs/"+id+"/audio.wav"
	b.put(t, oldOrphan, youngOrphan)
	partial := filepath.Join(b.root, "results", ".tmp-ABCDEFGH") // as local.Disk.Put names them
	if err := os.Mkdir(filepath.Dir(partial), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(partial, []byte("half a video"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := b.now.Add(-time.Hour - time.Second)
	for _, p := range []string{partial, filepath.Join(b.root, oldOrphan)} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	swept, err := b.c.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if swept != (gc.Swept{Objects: 2, Partial: 1, Bytes: 5 + 12}) {
		t.Errorf("swept %+v, want the partial file and the old orphan", swept)
	}
	wantKeys(t, b.keys(t), youngOrphan)
	if _, err := os.Stat(filepath.Dir(partial)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the partial file's directory is left: %v", err)
	}
}

// TestPrune: Collect prunes the final jobs that ended before the
// retention, and deletes the objects they named, however young; a job
// not final is kept however old, and so is a job that ended since.
func TestPrune(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, b *testBundle) {
		ctx := context.Background()
		b.st.SetClock(func() time.Time { return b.now.Add(-31 * 24 * time.Hour) })
		oldDone, oldFailed, oldQueued := b.job(t, store.Complete), b.job(t, store.Fail), b.job(t, "")
		b.st.SetClock(time.Now)
		recent := b.job(t, store.Complete)

		var told counted
		b.c.Metrics = &told
		if err := b.c.Collect(ctx); err != nil {
			t.Fatal(err)
		}
		if told.jobs != 2 || told.runs != 1 {
			t.Errorf("the metrics were told of %d pruned jobs in %d runs, want 2 in 1", told.jobs, told.runs)
		}
		for _, j := range []*store.Job{oldDone, oldFailed} {
			if _, err := b.st.GetJob(ctx, j.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("job %s ended 31 days ago: %v, want pruned", j.ID, err)
			}
		}
		for _, j := range []*store.Job{oldQueued, recent} {
			if _, err := b.st.GetJob(ctx, j.ID); err != nil {
				t.Errorf("job %s (%s): %v, want kept", j.ID, j.State, err)
			}
		}
		// The recent job's inputs are orphans too young to delete.
		wantKeys(t, b.keys(t), oldQueued.ImageKey, oldQueued.AudioKey, recent.ImageKey, recent.AudioKey, recent.ResultKey)
		if p, err := b.c.Prune(ctx); err != nil || p.Jobs != 0 {
			t.Fatalf("a second run pruned %d jobs (%v), want none", p.Jobs, err)
		}
	})
}

// counted is what Collect told the metrics.
type counted struct{ runs, jobs, objects, bytes int64 }

func (c *counted) Collected(jobs, objects, bytes int64) {
	c.runs++
	c.jobs, c.objects, c.bytes = c.jobs+jobs, c.objects+objects, c.bytes+bytes
}

// TestSweepListFailsPartway: a listing that fails part-way (a directory
// it could not read) still has the orphans it reported deleted, and the
// sweep says what failed.
func TestSweepListFailsPartway(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, b *testBundle) {
		ctx := context.Background()
		never := uuid.Must(uuid.NewV7()).String()
		b.put(t, "inputs/"+never+"/image.png")
		b.now = b.now.Add(time.Hour + time.Minute)
		unreadable := errors.New("a directory could not be read")
		b.c.Storage = failingList{Storage: b.files, err: unreadable}
		swept, err := b.c.Sweep(ctx)
		if !errors.Is(err, unreadable) {
			t.Errorf("the sweep's error is %v, want the listing's", err)
		}
		if swept.Objects != 1 {
			t.Errorf("swept %+v, want the orphan listed before the failure", swept)
		}
		wantKeys(t, b.keys(t))
	})
}

// failingList is a real storage whose listing fails once it has listed
// every object.
type failingList struct {
	storage.Storage
	err error
}

func (f failingList) List(ctx context.Context, prefix string, fn func(storage.Object) error) error {
	if err := f.Storage.List(ctx, prefix, fn); err != nil {
		return err
	}
	return f.err
}
