package main_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/gc"
	"github.com/avatar-api/avatar-api/internal/storage/local"
	"github.com/avatar-api/avatar-api/internal/store/postgres"
	"github.com/avatar-api/avatar-api/internal/store/sqlite"
	"github.com/avatar-api/avatar-api/internal/store/sqlstore"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

// checked is what the checks after a run counted.
type checked struct {
	runs     int         // generation runs recorded (job_charges rows)
	attempts map[int]int // completed jobs by the attempt that completed them
	results  int         // videos in storage
	probed   int         // of them checked with ffprobe
	unclosed int         // queue entries of a completed job not yet closed
}

// loadJob is a job's row, as the checks read it.
type loadJob struct {
	id, state, resultKey string
	attempt              int
}

// verify checks the state a run left, from the database, the API and the
// disk: every accepted job, and no other, exists and is completed; each
// was completed once (one complete event, one River entry, completed),
// its video is the one file in storage for it and a valid MP4; no input,
// temporary or stray file is left in storage, nor any file in the
// processes' scratch directories.
func verify(t *testing.T, top *topology, sub *submitter) checked {
	t.Helper()
	ctx := context.Background()
	ids := sub.ids()
	c := checked{attempts: map[int]int{}}

	jobs := readJobs(t, top.db)
	byID := map[string]loadJob{}
	for _, j := range jobs {
		byID[j.id] = j
		if _, ok := sub.jobs[j.id]; !ok {
			t.Errorf("job %s (%s) exists but no client was answered with it: created twice?", j.id, j.state)
		}
	}
	for _, id := range ids {
		j, ok := byID[id]
		switch {
		case !ok:
			t.Errorf("accepted job %s has no row: lost", id)
		case j.state != "completed":
			t.Errorf("job %s ended %s on attempt %d:\n%s", id, j.state, j.attempt, jobEvents(t, top.db, id))
		case j.resultKey != fmt.Sprintf("results/%s-%d.mp4", id, j.attempt):
			t.Errorf("job %s completed on attempt %d records video %q", id, j.attempt, j.resultKey)
		default:
			c.attempts[j.attempt]++
		}
	}

	// Each job was created once and completed once, by the transitions'
	// own record.
	transitions := countBy(t, top.db, `SELECT job_id, transition, count(*) FROM job_events GROUP BY job_id, transition`)
	for _, id := range ids {
		if n := transitions[id+" create"]; n != 1 {
			t.Errorf("job %s was created %d times", id, n)
		}
		if n := transitions[id+" complete"]; n != 1 {
			t.Errorf("job %s was completed %d times:\n%s", id, n, jobEvents(t, top.db, id))
		}
	}
	// One queue entry per job, completed; or not yet closed when its
	// process was killed after the job's completion was committed but
	// before River recorded the entry's: the heartbeat rescue leaves the
	// entry of an ended job alone (running), River's own rescuer makes it
	// available again after JOB_RESCUE_AFTER, and the worker that takes it
	// then finds the job ended and closes it without generating anything.
	var entries int
	for key, n := range countBy(t, top.db, `SELECT river_job.state, jobs.state, count(*) FROM river_job
		LEFT JOIN jobs ON jobs.river_job_id = river_job.id WHERE kind = 'generate_video' GROUP BY river_job.state, jobs.state`) {
		entries += n
		switch key {
		case "completed completed":
		case "running completed", "available completed", "retryable completed":
			c.unclosed += n
		default:
			t.Errorf("%d queue entries and their jobs are %s, want completed", n, key)
		}
	}
	if entries != len(ids) {
		t.Errorf("%d queue entries for %d jobs", entries, len(ids))
	}
	if err := top.db.QueryRowContext(ctx, `SELECT count(*) FROM job_charges`).Scan(&c.runs); err != nil {
		t.Fatal(err)
	}

	checkStatuses(t, top.apis[0].url(), sub.key, ids)
	collectOrphans(t, top)
	c.results, c.probed = checkStorage(t, top.dataDir, byID)
	checkScratch(t, top.dataDir)
	return c
}

func readJobs(t *testing.T, db *sql.DB) []loadJob {
	t.Helper()
	rows, err := db.Query(`SELECT id, state, attempt, result_key FROM jobs`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var jobs []loadJob
	for rows.Next() {
		var j loadJob
		if err := rows.Scan(&j.id, &j.state, &j.attempt, &j.resultKey); err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return jobs
}

// countBy runs a query whose last column is a count and returns the
// counts by the other columns, joined by spaces.
func countBy(t *testing.T, db *sql.DB, query string) map[string]int {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	counts := map[string]int{}
	for rows.Next() {
		keys := make([]string, len(cols)-1)
		dest := make([]any, len(cols))
		for i := range keys {
			dest[i] = &keys[i]
		}
		var n int
		dest[len(keys)] = &n
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		counts[strings.Join(keys, " ")] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return counts
}

// jobEvents is a job's transitions, one a line, for a failure's message.
func jobEvents(t *testing.T, db *sql.DB, id string) string {
	t.Helper()
	rows, err := db.Query(`SELECT transition, from_state, to_state, attempt, code FROM job_events WHERE job_id = '` + id + `' ORDER BY id`)
	if err != nil {
		return err.Error()
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var tr, from, to, code string
		var attempt int
		if err := rows.Scan(&tr, &from, &to, &attempt, &code); err != nil {
			return err.Error()
		}
		fmt.Fprintf(&b, "  %s %s → %s attempt %d %s\n", tr, from, to, attempt, code)
	}
	return b.String()
}

// checkStatuses asks the API for every job's state, as its customer
// would.
func checkStatuses(t *testing.T, url, key string, ids []string) {
	t.Helper()
	work := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var wrong []string
	for range loadClients {
		wg.Go(func() {
			for id := range work {
				req, _ := http.NewRequest(http.MethodGet, url+"/status/"+id, nil)
				req.Header.Set("Authorization", "Bearer "+key)
				state := statusOf(req)
				if state != "completed" {
					mu.Lock()
					wrong = append(wrong, id+": "+state)
					mu.Unlock()
				}
			}
		})
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	if len(wrong) > 0 {
		t.Errorf("GET /status answers other than completed for %d jobs: %v", len(wrong), wrong[:min(len(wrong), 10)])
	}
}

func statusOf(req *http.Request) string {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var j jobView
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&j) != nil {
		return resp.Status
	}
	return j.State
}

// collectOrphans runs the service's garbage collection (gc.Collector's
// sweep, as its periodic job does) over the topology's storage, with no
// minimum age: the inputs a submission cut short by a kill had stored
// before its job existed are the orphans it is there for, and they are
// collected here instead of STORAGE_ORPHAN_AGE (1 h) later. Whatever a
// job needs is kept, as checkStorage then checks.
func collectOrphans(t *testing.T, top *topology) {
	t.Helper()
	ctx := context.Background()
	var st *sqlstore.Store
	var err error
	if url := envOf(top.cliEnv, "DATABASE_URL"); url != "" {
		st, err = postgres.Open(ctx, url, 3)
	} else {
		st, err = sqlite.Open(ctx, filepath.Join(top.dataDir, "avatar.db"), 3)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	disk, err := local.New(filepath.Join(top.dataDir, "objects"), "http://127.0.0.1", []byte("load-test-signing-secret-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	c := &gc.Collector{Store: st, Storage: disk, Log: slog.New(slog.DiscardHandler)}
	swept, err := c.Sweep(ctx)
	if err != nil {
		t.Fatalf("garbage collection: %v", err)
	}
	t.Logf("the garbage collection deleted %d orphaned objects (%d of them partial writes)", swept.Objects, swept.Partial)
}

// envOf is the value of name in env (NAME=value entries), or "".
func envOf(env []string, name string) string {
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, name+"="); ok {
			return v
		}
	}
	return ""
}

// checkStorage compares the files under DATA_DIR/objects with the jobs'
// videos: exactly one file per job, its recorded video; no inputs (a job
// that ended has none), no temporary files, no other attempt's video.
// It probes a sample of the videos (every one made on a later attempt,
// and 20 others) and returns how many files and probes there were.
func checkStorage(t *testing.T, dataDir string, jobs map[string]loadJob) (files, probed int) {
	t.Helper()
	root := filepath.Join(dataDir, "objects")
	want := map[string]loadJob{}
	for _, j := range jobs {
		if j.resultKey != "" {
			want[j.resultKey] = j
		}
	}
	var extra []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		key, _ := filepath.Rel(root, path)
		key = filepath.ToSlash(key)
		files++
		if _, ok := want[key]; ok {
			delete(want, key)
			return nil
		}
		extra = append(extra, key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(extra)
	for _, key := range extra {
		t.Errorf("left in storage: %s (%s)", key, leftover(key, jobs))
	}
	for key := range want {
		t.Errorf("job's video missing from storage: %s", key)
	}

	var sample []loadJob
	var all []loadJob
	for _, j := range jobs {
		if j.resultKey == "" {
			continue
		}
		all = append(all, j)
		if j.attempt > 1 {
			sample = append(sample, j)
		}
	}
	slices.SortFunc(all, func(a, b loadJob) int { return strings.Compare(a.id, b.id) })
	for i := 0; i < len(all); i += max(1, len(all)/20) {
		sample = append(sample, all[i])
	}
	for _, j := range sample {
		m := testkit.Probe(t, filepath.Join(root, filepath.FromSlash(j.resultKey)))
		if m.VideoCodec != "h264" || m.AudioCodec != "aac" || m.Width != 128 || m.Height != 128 || math.Abs(m.Duration-1) > 0.5 {
			t.Errorf("job %s's video is %+v, want H.264 and AAC, 128x128, about 1 s", j.id, m)
		}
	}
	return files, len(sample)
}

// leftover says what a stray file in storage is.
func leftover(key string, jobs map[string]loadJob) string {
	base := filepath.Base(key)
	switch {
	case strings.HasPrefix(base, ".tmp-"):
		return "a temporary file of a write cut short"
	case strings.HasPrefix(key, "inputs/"):
		id := strings.Split(key, "/")[1]
		if j, ok := jobs[id]; ok {
			return fmt.Sprintf("an input of job %s, %s on attempt %d", id, j.state, j.attempt)
		}
		return "an input of no job: its submission was cut short before the job was created"
	case strings.HasPrefix(key, "results/"):
		for id, j := range jobs {
			if strings.HasPrefix(base, id+"-") {
				return fmt.Sprintf("another attempt's video of job %s, completed on attempt %d", id, j.attempt)
			}
		}
		return "the video of no job"
	}
	return "unexpected"
}

// checkScratch waits a little for the processes' scratch directories to
// be empty but for their lock files: an attempt removes its work
// directory a moment after its job is completed.
func checkScratch(t *testing.T, dataDir string) {
	t.Helper()
	var left []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		left = append(scratchFiles(t, filepath.Join(dataDir, "work")), scratchFiles(t, filepath.Join(dataDir, "uploads"))...)
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Errorf("left in scratch directories: %v", left)
	}
}
