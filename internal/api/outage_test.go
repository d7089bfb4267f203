package api_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/config"
	"github.com/avatar-api/avatar-api/internal/store"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

// TestFaultStorageUnwritableMidJob: the storage directory (a tmpfs of its
// own) turns read-only while a job is being generated, and stays so while
// the job is put off three times, more than it has attempts. Storing the
// video fails, but that is the storage's fault, not the job's: the job
// goes back to the queue without using up an attempt, unbilled, and
// waits — later starts check storage first and put the job off again
// without running it (avatar_jobs_deferred_total counts each) — while
// /ready and avatar_ready_check_ok{check="storage"} show the fault. Once
// the directory is writable again the job completes by itself, on its
// first attempt, billed for that run alone.
func TestFaultStorageUnwritableMidJob(t *testing.T) {
	t.Parallel()
	mounted := false
	var release, runs string
	tb := setup(t, options{metricsToken: metricsToken, maxAttempts: 2, configure: func(cfg *config.Config) {
		mounted = testkit.Tmpfs(t, filepath.Join(cfg.DataDir, "objects"), 64<<20)
		// The generator's runs (those writing an MP4) wait for release,
		// so that the fault comes while the job is processing, and are
		// counted.
		release, runs = filepath.Join(cfg.DataDir, "release"), filepath.Join(cfg.DataDir, "generator-runs")
		wrapper := filepath.Join(cfg.DataDir, "held-ffmpeg")
		script := `#!/bin/bash
case "$*" in
  *.mp4*) echo run >> '` + runs + `'
    for _ in $(seq 600); do [ -e '` + release + `' ] && break; sleep 0.1; done ;;
esac
exec '` + cfg.FFmpeg + `' "$@"
`
		if err := os.WriteFile(wrapper, []byte(script), 0o700); err != nil {
			t.Fatal(err)
		}
		cfg.FFmpeg = wrapper
	}})
	if !mounted {
		t.Skip("mounting a tmpfs is not permitted here: see TestStorageOutage for a storage that is gone")
	}
	objects := filepath.Join(tb.dataDir, "objects")
	j, resp := tb.submit(t, keyA, portrait, speech)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("submit: %d", resp.StatusCode)
	}
	tb.waitFor(t, keyA, j.ID, "processing")
	testkit.WaitFor(t, 30*time.Second, "the generator's first run", func() bool { return countLines(t, runs) >= 1 })

	testkit.Remount(t, objects, true)
	if err := os.WriteFile(release, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// Put off three times: one more than the job's attempts. (The waits
	// are 5 s, then 10 s.)
	testkit.WaitFor(t, 60*time.Second, "the job put off three times", func() bool {
		return value(scrape(t, tb.url+"/metrics", metricsToken), "avatar_jobs_deferred_total") >= 3
	})
	tb.waitReady(t, "storage", false)
	if got := tb.job(t, j.ID); got.State != store.StateQueued && got.State != store.StateProcessing {
		t.Fatalf("while storage is read-only the job is %s (attempt %d, %s %s)", got.State, got.Attempt, got.ErrorCode, got.ErrorMessage)
	}
	if n := countLines(t, runs); n != 1 {
		t.Errorf("the generator ran %d times during the outage, want once: a start waits for storage to pass its check", n)
	}

	testkit.Remount(t, objects, false)
	tb.waitReady(t, "storage", true)
	done := tb.waitFor(t, keyA, j.ID, "completed", "failed")
	if done.State != "completed" || done.Attempt != 1 {
		t.Fatalf("after the fault the job is %s on attempt %d (%+v)", done.State, done.Attempt, done.Error)
	}
	charges, err := tb.store.Charges(context.Background(), j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(charges) != 2 || charges[0].Billed != 0 || charges[1].Billed <= 0 {
		t.Errorf("charges %+v: want the run the outage stopped unbilled, then the completed run", charges)
	}
}

// countLines is the number of lines in the file at path (0 if none).
func countLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}
