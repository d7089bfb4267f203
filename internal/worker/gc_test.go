package worker_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/avatar-api/avatar-api/internal/gc"
	"github.com/avatar-api/avatar-api/internal/storage"
)

// collected runs a collector and hands each run's error to the test.
type collected struct {
	gc   *gc.Collector
	runs chan error
}

func (c collected) Collect(ctx context.Context) error {
	err := c.gc.Collect(ctx)
	c.runs <- err
	return err
}

// TestCollectOnStart: the workers run the garbage collection, a periodic
// job of the queue, as soon as they start: an old orphan goes. (What it
// deletes and keeps is gc's tests'.)
func TestCollectOnStart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := collected{runs: make(chan error, 4), gc: &gc.Collector{Store: b.st, Storage: b.files, Log: slog.New(slog.DiscardHandler),
		OrphanAge: time.Hour, Retention: 30 * 24 * time.Hour}}
	b.opts.Collector = c
	orphan := "inputs/" + uuid.Must(uuid.NewV7()).String() + "/image.png"
	if err := b.files.Put(context.Background(), orphan, strings.NewReader("png"), 3, ""); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(filepath.Join(b.dir, "objects", orphan), old, old); err != nil {
		t.Fatal(err)
	}
	b.start(t)
	select {
	case err := <-c.runs:
		if err != nil {
			t.Fatalf("the collection failed: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the workers did not run the garbage collection on start")
	}
	var keys []string
	if err := b.files.List(context.Background(), "", func(o storage.Object) error { keys = append(keys, o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(keys, orphan) {
		t.Fatalf("the old orphan %s is still stored: %q", orphan, keys)
	}
}
