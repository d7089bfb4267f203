package gc_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
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
	"github.com/avatar-api/avatar-api/internal/storage/local"
	"github.com/avatar-api/avatar-api/internal/storage/s3"
	"github.com/avatar-api/avatar-api/internal/store"
	"github.com/avatar-api/avatar-api/internal/store/postgres"
	"github.com/avatar-api/avatar-api/internal/store/postgres/pgtest"
	"github.com/avatar-api/avatar-api/internal/store/sqlite"
	"github.com/avatar-api/avatar-api/internal/store/sqlstore"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

// gw is the versitygw the S3 cases store in, started by TestMain.
var gw *testkit.Gateway

const bucket = "gc-test"

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	g, err := testkit.StartVersitygw()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: start versitygw:", err)
		return 1
	}
	defer g.Stop()
	if err := g.CreateBucket(bucket); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: create test bucket:", err)
		return 1
	}
	gw = g
	return m.Run()
}

// testBundle is a collector over a real database and real storage; root
// is the local disk's directory ("" on S3).
type testBundle struct {
	st    *sqlstore.Store
	files storage.Storage
	root  string
	c     *gc.Collector
	now   time.Time // the collector's clock
}

// each runs test on every pair of database and storage.
func each(t *testing.T, test func(t *testing.T, b *testBundle)) {
	for _, db := range []string{"sqlite", "postgres"} {
		for _, files := range []string{"local", "s3"} {
			t.Run(db+"/"+files, func(t *testing.T) {
				t.Parallel()
				test(t, setup(t, db, files))
			})
		}
	}
}

func setup(t *testing.T, db, files string) *testBundle {
	t.Helper()
	ctx := context.Background()
	b := &testBundle{now: time.Now()}
	var err error
	if db == "sqlite" {
		b.st, err = sqlite.Open(ctx, filepath.Join(t.TempDir(), "avatar.db"), 3)
	} else {
		b.st, err = postgres.Open(ctx, pgtest.NewDatabase(t), 3)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.st.Close() })
	if files == "local" {
		b.root = filepath.Join(t.TempDir(), "objects")
		disk, err := local.New(b.root, "http://127.0.0.1:1", bytes.Repeat([]byte("s"), local.MinSecretLen))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = disk.Close() })
		b.files = disk
	} else {
		b.files, err = s3.New(ctx, s3.Config{Bucket: bucket, Endpoint: gw.Endpoint, AccessKeyID: gw.AccessKey,
			SecretAccessKey: gw.SecretKey, ForcePathStyle: true, Prefix: "t/" + strings.ToLower(rand.Text())})
		if err != nil {
			t.Fatal(err)
		}
	}
	b.c = &gc.Collector{Store: b.st, Storage: b.files, Log: slog.New(slog.DiscardHandler),
		OrphanAge: time.Hour, Retention: 30 * 24 * time.Hour, Now: func() time.Time { return b.now }}
	return b
}

// job creates a job whose inputs are stored, and takes it to end
// (Complete or Fail; "" leaves it queued).
func (b *testBundle) job(t *testing.T, end store.Transition) *store.Job {
	t.Helper()
	ctx := context.Background()
	id := uuid.Must(uuid.NewV7()).String()
	j := &store.Job{ID: id, Owner: "customer:gc", ImageKey: "inputs/" + id + "/image.png", AudioKey: "inputs/" + id + "/audio.wav",
		Width: 512, Height: 512, FPS: 25, Seed: 1, AudioDuration: time.Second}
	b.put(t, j.ImageKey, j.AudioKey)
	if _, err := b.st.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	if end == "" {
		return j
	}
	p := store.ApplyParams{JobID: id, Transition: store.Start, Attempt: 1}
	if _, err := b.st.Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	p.Transition = end
	if end == store.Complete {
		p.Result = store.Result{Key: "results/" + id + "-1.mp4", Bytes: 5, ExpiresAt: time.Now().Add(time.Hour)}
		b.put(t, p.Result.Key)
	} else {
		p.Code, p.Message = "generation_failed", "no"
	}
	a, err := b.st.Apply(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	return a.Job
}

func (b *testBundle) put(t *testing.T, keys ...string) {
	t.Helper()
	for _, key := range keys {
		if err := b.files.Put(context.Background(), key, strings.NewReader("bytes"), 5, ""); err != nil {
			t.Fatal(err)
		}
	}
}

// keys lists what storage holds, sorted.
func (b *testBundle) keys(t *testing.T) []string {
	t.Helper()
	var keys []string
	if err := b.files.List(context.Background(), "", func(o storage.Object) error {
		keys = append(keys, o.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

func wantKeys(t *testing.T, got []string, want ...string) {
	t.Helper()
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("storage holds\n  %q\nwant\n  %q", got, want)
	}
}
