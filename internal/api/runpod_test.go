package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/api"
	"github.com/avatar-api/avatar-api/internal/generator/face"
	"github.com/avatar-api/avatar-api/internal/generator/still"
	"github.com/avatar-api/avatar-api/internal/media"
	"github.com/avatar-api/avatar-api/internal/runpod"
	"github.com/avatar-api/avatar-api/internal/runpod/runpodtest"
	"github.com/avatar-api/avatar-api/internal/runpod/serverless"
	"github.com/avatar-api/avatar-api/internal/store"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

// The tests of BACKEND=runpod run the whole service against the RunPod
// double (internal/runpod/runpodtest), RunPod's cloud being the one part
// that cannot run here. Its worker is in-process, but speaks RunPod's
// worker protocol over HTTP and, unless a test needs a worker that
// misbehaves, runs our real job handler (serverless.Generate): it GETs
// the inputs from local storage's signed URLs and PUTs the video to its
// upload URL, at PUBLIC_URL.

// small is a job quick to make: the 4 s speech at 128×128, 10 fps.
var small = []part{portrait, speech,
	{Name: "width", Value: "128"}, {Name: "height", Value: "128"}, {Name: "fps", Value: "10"}}

// withPrompt is small with a prompt.
func withPrompt(p string) []part {
	return append(slices.Clone(small), part{Name: "prompt", Value: p})
}

// newDouble starts a RunPod double, closed when the test ends.
func newDouble(t *testing.T, opts runpodtest.Options) *runpodtest.Server {
	t.Helper()
	d := runpodtest.New(opts)
	t.Cleanup(d.Close)
	return d
}

// runpodWorker starts a worker on the bundle's RunPod double that runs
// our real job handler: serverless.Generate on the still generator,
// behind the service's guarded ffmpeg, in a scratch directory of its own.
func (tb *testBundle) runpodWorker(t *testing.T) {
	t.Helper()
	h := &serverless.Generate{
		Generator: still.New(tb.ffmpeg, tb.ffprobe), Name: "still", PodID: "inproc",
		WorkDir: t.TempDir(), Log: tb.log.With("component", "runpod-worker"),
	}
	tb.runpodHandler(t, handle(h))
}

// runpodHandler starts a worker on the bundle's RunPod double that runs
// h; it stops when the test ends.
func (tb *testBundle) runpodHandler(t *testing.T, h runpodtest.Handler) {
	t.Helper()
	if tb.runpod == nil {
		t.Fatal("a RunPod worker, but the service has no RunPod backend")
	}
	t.Cleanup(tb.runpod.Run(h))
}

// handle adapts our worker's handler to the double's worker: progress
// goes as {"progress": p}, the output as its JSON, a failure as the
// WorkError's text, as serverless.Worker posts them.
func handle(h serverless.Handler) runpodtest.Handler {
	return func(ctx context.Context, input json.RawMessage, progress func(json.RawMessage)) (json.RawMessage, string) {
		out, werr := h.Handle(ctx, input, func(p float64) {
			b, _ := json.Marshal(runpod.Progress{Progress: p})
			progress(b)
		})
		if werr != nil {
			return nil, werr.String()
		}
		b, err := json.Marshal(out)
		if err != nil {
			return nil, (&runpod.WorkError{Code: runpod.CodeWorkerError, Message: "the GPU worker failed", Retryable: true}).String()
		}
		return b, ""
	}
}

// remoteJobs are the double's records of our job id, in submission order.
func remoteJobs(t *testing.T, d *runpodtest.Server, jobID string) []runpodtest.Record {
	t.Helper()
	var out []runpodtest.Record
	for _, r := range d.Jobs() {
		var in runpod.Input
		if err := json.Unmarshal(r.Input, &in); err != nil {
			t.Fatalf("RunPod job %s has an input we did not send: %s", r.ID, r.Input)
		}
		if in.JobID == jobID {
			out = append(out, r)
		}
	}
	return out
}

// waitRemote waits until our job has a RunPod job in status, and
// returns its record.
func waitRemote(t *testing.T, d *runpodtest.Server, jobID, status string) runpodtest.Record {
	t.Helper()
	var rec runpodtest.Record
	testkit.WaitFor(t, 30*time.Second, "the RunPod job of "+jobID+" to be "+status, func() bool {
		recs := remoteJobs(t, d, jobID)
		if len(recs) == 0 {
			return false
		}
		rec = recs[len(recs)-1]
		return rec.Status == status
	})
	return rec
}

// job is our job's row.
func (tb *testBundle) job(t *testing.T, id string) *store.Job {
	t.Helper()
	j, err := tb.store.GetJob(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// charges are the job's lines in the cost ledger.
func (tb *testBundle) charges(t *testing.T, id string) []store.Charge {
	t.Helper()
	cs, err := tb.store.Charges(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// waitObjects waits until the stored objects (inputs/, staging/,
// results/) are one under each prefix given, none when none is: the
// inputs of a job go just after its end is recorded.
func (tb *testBundle) waitObjects(t *testing.T, prefixes ...string) {
	t.Helper()
	root := filepath.Join(tb.dataDir, "objects")
	var keys []string
	match := func() bool {
		keys = nil
		for _, f := range filesUnder(t, root) {
			rel, _ := filepath.Rel(root, f)
			keys = append(keys, filepath.ToSlash(rel))
		}
		if len(keys) != len(prefixes) {
			return false
		}
		slices.Sort(keys)
		for i, p := range slices.Sorted(slices.Values(prefixes)) {
			if !strings.HasPrefix(keys[i], p) {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(10 * time.Second); !match(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("stored objects %v; want one under each of %v", keys, prefixes)
		}
	}
}

// submitSmall submits a small job and checks it was accepted.
func (tb *testBundle) submitSmall(t *testing.T, parts ...part) api.Job {
	t.Helper()
	if len(parts) == 0 {
		parts = small
	}
	j, resp := tb.submit(t, keyA, parts...)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /generate = %d", resp.StatusCode)
	}
	return j
}

// wantFailed checks a job ended failed with code, after attempts.
func (tb *testBundle) wantFailed(t *testing.T, id, code string, attempts int) api.Job {
	t.Helper()
	j := tb.waitFor(t, keyA, id, "completed", "failed", "cancelled")
	if j.State != "failed" || j.Error == nil || j.Error.Code != code || j.Attempt != attempts {
		t.Fatalf("job %s: %s after %d attempts, error %s; want failed with %s after %d attempts",
			id, j.State, j.Attempt, jobError(j), code, attempts)
	}
	return j
}

// jobError is a job's error, for a failure's message.
func jobError(j api.Job) string {
	if j.Error == nil {
		return "none"
	}
	return fmt.Sprintf("%s (%q)", j.Error.Code, j.Error.Message)
}

// TestRunPodCompletes: a job made at RunPod by our worker completes; its
// video, uploaded by the worker and checked by the API, is what /result
// serves; the job row records RunPod's job, its queue wait, and the
// executionTime RunPod reports as billed, at RUNPOD_PRICE_PER_SECOND, in
// a ledger line marked reported; the metrics show the endpoint's health.
func TestRunPodCompletes(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) { t.Parallel(); runpodCompletes(t, false) })
	t.Run("postgres", func(t *testing.T) { t.Parallel(); runpodCompletes(t, true) })
}

func runpodCompletes(t *testing.T, postgres bool) {
	d := newDouble(t, runpodtest.Options{})
	tb := setup(t, options{runpod: d, metricsToken: metricsToken, postgres: postgres})
	tb.runpodWorker(t)
	j := tb.submitSmall(t)
	done := tb.waitFor(t, keyA, j.ID, "completed", "failed", "cancelled")
	if done.State != "completed" || done.Progress != 1 || done.Attempt != 1 {
		t.Fatalf("job %s after %d attempts, error %s", done.State, done.Attempt, jobError(done))
	}

	// The video: H.264 and AAC, as long as the speech.
	var res api.Result
	if resp := tb.call(t, http.MethodGet, "/result/"+j.ID, keyA, nil, "", &res); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /result = %d", resp.StatusCode)
	}
	dl, err := http.Get(res.URL)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(dl.Body)
	dl.Body.Close()
	if err != nil || dl.StatusCode != http.StatusOK {
		t.Fatalf("download: %d %v", dl.StatusCode, err)
	}
	path := filepath.Join(t.TempDir(), "video.mp4")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	m := testkit.Probe(t, path)
	audio := testkit.Probe(t, speech.File).Duration
	if m.VideoCodec != "h264" || m.AudioCodec != "aac" || m.Width != 128 || m.Height != 128 || m.FPS != "10/1" ||
		math.Abs(m.Duration-audio) > 0.15 || int64(len(data)) != res.SizeBytes {
		t.Fatalf("video %+v, %d bytes (result says %d); want h264 aac 128x128 10/1 %.3fs", m, len(data), res.SizeBytes, audio)
	}

	// One RunPod job, ours, completed; what the job row records of it.
	recs := d.Jobs()
	if len(recs) != 1 || recs[0].Status != runpod.Completed {
		t.Fatalf("RunPod jobs: %+v", recs)
	}
	rec := recs[0]
	var in runpod.Input
	if err := json.Unmarshal(rec.Input, &in); err != nil || in.JobID != j.ID || in.Version != runpod.Version ||
		in.Width != 128 || in.Height != 128 || in.FPS != 10 || rec.Webhook != "" {
		t.Fatalf("RunPod job's input %s (webhook %q)", rec.Input, rec.Webhook)
	}
	if len(rec.Progress) == 0 {
		t.Error("the worker posted no progress")
	}
	row := tb.job(t, j.ID)
	billed := rec.ExecutionTime.Truncate(time.Millisecond)
	cost := runpodPrice.Of(billed)
	if row.Backend != "runpod" || row.RemoteID != rec.ID || row.RemoteDelay != rec.DelayTime.Truncate(time.Millisecond) ||
		row.Billed != billed || row.Price != runpodPrice || row.Cost != cost || billed <= 0 {
		t.Fatalf("job row: backend %s, remote %s delay %s, billed %s, price %d, cost %d; want remote %s delay %s, billed %s, cost %d",
			row.Backend, row.RemoteID, row.RemoteDelay, row.Billed, row.Price, row.Cost, rec.ID, rec.DelayTime, billed, cost)
	}
	charges := tb.charges(t, j.ID)
	if len(charges) != 1 || !charges[0].Reported || charges[0].Billed != billed || charges[0].Cost != cost ||
		charges[0].Backend != "runpod" || charges[0].Attempt != 1 {
		t.Fatalf("ledger: %+v; want one reported charge of %s, %d nUSD", charges, billed, cost)
	}
	if got := strings.Join(tb.transitions(t, j.ID), " "); got != "create start complete" {
		t.Fatalf("events: %s", got)
	}
	tb.waitObjects(t, "results/") // the video alone: inputs and staging deleted

	// The metrics: the endpoint's health, once read after the job, and
	// the cost.
	var exposition string
	testkit.WaitFor(t, 30*time.Second, "RunPod's health in the metrics", func() bool {
		exposition = scrape(t, tb.url+"/metrics", metricsToken)
		return value(exposition, `avatar_runpod_jobs{state="completed"}`) == 1
	})
	testkit.Promtool(t, []byte(exposition))
	for series, want := range map[string]float64{
		`avatar_runpod_workers{state="idle"}`:                                          1,
		`avatar_runpod_workers{state="running"}`:                                       0,
		`avatar_runpod_jobs{state="in_queue"}`:                                         0,
		`avatar_runpod_jobs{state="failed"}`:                                           0,
		`avatar_billed_seconds_total{backend="runpod"}`:                                billed.Seconds(),
		`avatar_cost_usd_total{backend="runpod"}`:                                      cost.USD(),
		`avatar_jobs_finished_total{backend="runpod",code="none",outcome="completed"}`: 1,
	} {
		if got := value(exposition, series); math.Abs(got-want) > 1e-9 || !strings.Contains(exposition, series+" ") {
			t.Errorf("%s = %g, want %g", series, got, want)
		}
	}
	if value(exposition, "avatar_runpod_health_errors_total") != 0 {
		t.Errorf("health reads failed: %s", grepLines(exposition, "avatar_runpod_"))
	}

	created := tb.job(t, j.ID).CreatedAt
	t.Logf("%s: dispatch latency (job created → RunPod worker started): %s; RunPod delayTime %s; executionTime %s; billed %s at $%.5f/s = $%.9f",
		map[bool]string{false: "sqlite", true: "postgres"}[postgres], rec.Started.Sub(created).Round(time.Millisecond), rec.DelayTime, rec.ExecutionTime, billed, runpodPrice.USD(), cost.USD())
}

// TestRunPodQueueWait: a job that waits in RunPod's queue for a worker
// (here 90 s on the double's clock) records the wait RunPod reports
// (delayTime) on the job, and is billed its executionTime alone.
func TestRunPodQueueWait(t *testing.T) {
	t.Parallel()
	clock := &testkit.Clock{}
	d := newDouble(t, runpodtest.Options{Now: clock.Now})
	tb := setup(t, options{runpod: d})
	j := tb.submitSmall(t)
	waitRemote(t, d, j.ID, runpod.InQueue)
	clock.Advance(90 * time.Second)
	tb.runpodWorker(t)
	if done := tb.waitFor(t, keyA, j.ID, "completed", "failed", "cancelled"); done.State != "completed" {
		t.Fatalf("job %s after %d attempts, error %s", done.State, done.Attempt, jobError(done))
	}
	rec := remoteJobs(t, d, j.ID)[0]
	row := tb.job(t, j.ID)
	if rec.DelayTime < 90*time.Second || row.RemoteDelay != rec.DelayTime.Truncate(time.Millisecond) {
		t.Fatalf("RunPod's delayTime %s, the job's remote delay %s", rec.DelayTime, row.RemoteDelay)
	}
	if billed := rec.ExecutionTime.Truncate(time.Millisecond); row.Billed != billed || billed >= rec.DelayTime {
		t.Fatalf("billed %s; RunPod's executionTime %s, delayTime %s", row.Billed, rec.ExecutionTime, rec.DelayTime)
	}
	wantReportedCharges(t, tb, j.ID, []runpodtest.Record{rec})
}

// blocker is a RunPod worker's handler that holds its job until the job
// is stopped (its ctx ends), and tells when it has the job and when it
// was stopped.
type blocker struct {
	started, stopped chan struct{} // closed when the handler has the job, and when it was stopped
	start, stop      sync.Once
}

func newBlocker() *blocker {
	return &blocker{started: make(chan struct{}), stopped: make(chan struct{})}
}

func (b *blocker) handle(ctx context.Context, _ json.RawMessage, _ func(json.RawMessage)) (json.RawMessage, string) {
	b.start.Do(func() { close(b.started) })
	<-ctx.Done() // the job stopped, or the worker (at the test's end)
	b.stop.Do(func() { close(b.stopped) })
	return nil, ""
}

// holding waits until the worker runs the job: RunPod shows a job
// IN_PROGRESS as soon as a worker's take is answered, and a stop the
// double's worker hears before its handler has the job is dropped
// (runpodtest/inproc.go: pollStops stops only the job do has recorded).
func (b *blocker) holding(t *testing.T) {
	t.Helper()
	select {
	case <-b.started:
	case <-time.After(30 * time.Second):
		t.Fatal("the RunPod worker's handler never got the job")
	}
}

// wasStopped fails the test unless the worker's job was stopped.
func (b *blocker) wasStopped(t *testing.T) {
	t.Helper()
	select {
	case <-b.stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("the RunPod worker's job was not stopped")
	}
}

// TestRunPodCancel: a customer's cancel cancels the RunPod job too,
// whether it waits in RunPod's queue or runs on a worker, which is told
// to stop; the job ends cancelled, its inputs deleted.
func TestRunPodCancel(t *testing.T) {
	t.Parallel()
	for _, running := range []bool{false, true} {
		name := map[bool]string{false: "queued", true: "running"}[running]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := newDouble(t, runpodtest.Options{})
			tb := setup(t, options{runpod: d})
			var b *blocker
			if running {
				b = newBlocker()
				tb.runpodHandler(t, b.handle)
			}
			j := tb.submitSmall(t)
			want := runpod.InQueue
			if running {
				want = runpod.InProgress
			}
			rec := waitRemote(t, d, j.ID, want)
			if running {
				b.holding(t)
			}
			testkit.WaitFor(t, 30*time.Second, "the RunPod job recorded on the job", func() bool {
				return tb.job(t, j.ID).RemoteID == rec.ID
			})

			var cancelled api.Job
			if r := tb.call(t, http.MethodPost, "/cancel/"+j.ID, keyA, nil, "", &cancelled); r.StatusCode != 200 || cancelled.State != "cancelled" {
				t.Fatalf("cancel: %d %s", r.StatusCode, cancelled.State)
			}
			waitRemote(t, d, j.ID, runpod.Cancelled)
			if running {
				b.wasStopped(t)
			}
			tb.waitQueue(t, j.ID, "cancelled")
			if j := tb.waitFor(t, keyA, j.ID, "cancelled", "completed", "failed"); j.State != "cancelled" {
				t.Fatalf("after cancel the job is %s", j.State)
			}
			if got := strings.Join(tb.transitions(t, j.ID), " "); got != "create start cancel" {
				t.Fatalf("events: %s", got)
			}
			if recs := remoteJobs(t, d, j.ID); len(recs) != 1 {
				t.Fatalf("RunPod jobs: %+v", recs)
			}
			tb.waitObjects(t)
			// A run we stopped before RunPod reported a figure is billed
			// nothing here, not our wall time (RunPod's queue included).
			if cs := tb.charges(t, j.ID); len(cs) != 1 || cs[0].Reported || cs[0].Billed != 0 {
				t.Fatalf("ledger: %+v", cs)
			}
		})
	}
}

// uploader is a RunPod worker's handler that PUTs file, which is not an
// MP4, to the output's URL and reports a video made, in a well-formed
// output; it records each PUT's status.
type uploader struct {
	file string
	mu   sync.Mutex
	puts []int
}

func (u *uploader) handle(ctx context.Context, raw json.RawMessage, _ func(json.RawMessage)) (json.RawMessage, string) {
	fail := func(err error) (json.RawMessage, string) {
		return nil, (&runpod.WorkError{Code: runpod.CodeUploadFailed, Message: err.Error()}).String()
	}
	var in runpod.Input
	if err := json.Unmarshal(raw, &in); err != nil {
		return fail(err)
	}
	body, err := os.ReadFile(u.file)
	if err != nil {
		return fail(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, in.Output.URL, bytes.NewReader(body))
	if err != nil {
		return fail(err)
	}
	req.Header.Set("Content-Type", "video/mp4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fail(err)
	}
	resp.Body.Close()
	u.mu.Lock()
	u.puts = append(u.puts, resp.StatusCode)
	u.mu.Unlock()
	out, _ := json.Marshal(runpod.Output{Version: runpod.Version, Worker: "inproc", Generator: "still",
		Video: runpod.Video{DurationMS: in.AudioDurationMS, Bytes: int64(len(body)), Width: in.Width, Height: in.Height,
			FPS: in.FPS, Frames: int(in.AudioDurationMS) * in.FPS / 1000}})
	return out, ""
}

// TestRunPodUploadNotMP4: a worker that uploads something else than an
// MP4 and reports success does not complete the job: the upload is
// checked, the attempt retried, and once the attempts are used the job
// fails with invalid_video; no video is kept, the staging objects are
// deleted, and each run is billed as RunPod reported it.
func TestRunPodUploadNotMP4(t *testing.T) {
	t.Parallel()
	d := newDouble(t, runpodtest.Options{})
	tb := setup(t, options{runpod: d, maxAttempts: 2})
	u := &uploader{file: speech.File} // a WAV
	tb.runpodHandler(t, u.handle)
	j := tb.submitSmall(t)
	tb.wantFailed(t, j.ID, media.CodeInvalidVideo, 2)

	recs := remoteJobs(t, d, j.ID)
	if len(recs) != 2 || recs[0].Status != runpod.Completed || recs[1].Status != runpod.Completed {
		t.Fatalf("RunPod jobs: %+v; want two, completed", recs)
	}
	u.mu.Lock()
	puts := slices.Clone(u.puts)
	u.mu.Unlock()
	if len(puts) != 2 || puts[0]/100 != 2 || puts[1]/100 != 2 {
		t.Fatalf("the uploads were answered %v; want two accepted", puts)
	}
	tb.waitObjects(t) // no video, no staging object, no input
	if got := strings.Join(tb.transitions(t, j.ID), " "); got != "create start requeue start fail" {
		t.Fatalf("events: %s", got)
	}
	var pb problemBody
	if r := tb.call(t, http.MethodGet, "/result/"+j.ID, keyA, nil, "", &pb); r.StatusCode != 409 || pb.Code != "job_has_no_result" {
		t.Fatalf("result of the failed job: %d %s", r.StatusCode, pb.Code)
	}
	wantReportedCharges(t, tb, j.ID, recs)
}

// wantReportedCharges checks that each RunPod run of the job is a ledger
// line billed its executionTime, and the job row their sum.
func wantReportedCharges(t *testing.T, tb *testBundle, jobID string, recs []runpodtest.Record) {
	t.Helper()
	cs := tb.charges(t, jobID)
	if len(cs) != len(recs) {
		t.Fatalf("ledger: %+v; want a line for each of %d runs", cs, len(recs))
	}
	var sum time.Duration
	for i, c := range cs {
		want := recs[i].ExecutionTime.Truncate(time.Millisecond)
		if !c.Reported || c.Billed != want || c.Cost != runpodPrice.Of(want) || c.Attempt != i+1 {
			t.Errorf("charge %d: %+v; want attempt %d billed %s, reported", i, c, i+1, want)
		}
		sum += want
	}
	if row := tb.job(t, jobID); row.Billed != sum {
		t.Errorf("the job was billed %s; its runs, %s", row.Billed, sum)
	}
}

// TestRunPodTimedOut: RunPod times a job out when its run passes the
// execution timeout (here the double's clock is moved past it while a
// worker holds the job): the worker is told to stop, and the job fails
// with timeout, billed the executionTime RunPod reports.
func TestRunPodTimedOut(t *testing.T) {
	t.Parallel()
	clock := &testkit.Clock{}
	d := newDouble(t, runpodtest.Options{Now: clock.Now, WorkerLostAfter: 24 * time.Hour})
	tb := setup(t, options{runpod: d})
	b := newBlocker()
	tb.runpodHandler(t, b.handle)
	j := tb.submitSmall(t)
	rec := waitRemote(t, d, j.ID, runpod.InProgress)
	b.holding(t)
	if rec.ExecutionTimeout != 30*time.Second {
		t.Fatalf("the RunPod job's execution timeout is %s, want RUNPOD_EXECUTION_TIMEOUT", rec.ExecutionTimeout)
	}
	clock.Advance(rec.ExecutionTimeout + time.Second)
	tb.wantFailed(t, j.ID, "timeout", 1)
	b.wasStopped(t)

	rec, _ = d.Job(rec.ID)
	if rec.Status != runpod.TimedOut || rec.ExecutionTime != rec.ExecutionTimeout {
		t.Fatalf("RunPod job: %s after %s", rec.Status, rec.ExecutionTime)
	}
	if recs := remoteJobs(t, d, j.ID); len(recs) != 1 {
		t.Fatalf("RunPod jobs: %+v", recs)
	}
	wantReportedCharges(t, tb, j.ID, []runpodtest.Record{rec})
	if got := strings.Join(tb.transitions(t, j.ID), " "); got != "create start fail" {
		t.Fatalf("events: %s", got)
	}
	tb.waitObjects(t)
}

// TestRunPodFlaky: while RunPod answers 429 and 500, the job stays ours
// and completes: 429 on /run is retried; a 500, which may hide a job
// RunPod took, is not repeated blindly, the attempt is; failed status
// reads are asked again. RunPod ran one job.
func TestRunPodFlaky(t *testing.T) {
	t.Parallel()
	d := newDouble(t, runpodtest.Options{})
	d.Fail("run", http.StatusTooManyRequests, 2)
	d.Fail("run", http.StatusInternalServerError, 1)
	d.Fail("status", http.StatusInternalServerError, 3)
	d.Fail("status", http.StatusTooManyRequests, 3)
	tb := setup(t, options{runpod: d})
	tb.runpodWorker(t)
	j := tb.submitSmall(t)
	done := tb.waitFor(t, keyA, j.ID, "completed", "failed", "cancelled")
	if done.State != "completed" || done.Attempt != 2 {
		t.Fatalf("job %s after %d attempts, error %s; want completed at the second attempt", done.State, done.Attempt, jobError(done))
	}
	recs := d.Jobs()
	if len(recs) != 1 || recs[0].Status != runpod.Completed || tb.job(t, j.ID).RemoteID != recs[0].ID {
		t.Fatalf("RunPod jobs: %+v", recs)
	}
	if got := strings.Join(tb.transitions(t, j.ID), " "); got != "create start requeue start complete" {
		t.Fatalf("events: %s", got)
	}
}

// TestRunPodWebhook: RunPod's webhook, at PUBLIC_URL, wakes the job's
// follower, so a job completes without waiting for the next poll; the
// webhook's token is checked; a lost webhook is made up for by polling.
func TestRunPodWebhook(t *testing.T) {
	t.Parallel()
	t.Run("wakes", func(t *testing.T) {
		t.Parallel()
		d := newDouble(t, runpodtest.Options{})
		tb := setup(t, options{runpod: d, runpodWebhook: true, runpodPoll: time.Hour})
		tb.runpodWorker(t)
		j := tb.submitSmall(t)
		done := tb.waitFor(t, keyA, j.ID, "completed", "failed", "cancelled")
		if done.State != "completed" {
			t.Fatalf("job %s after %d attempts, error %s", done.State, done.Attempt, jobError(done))
		}
		rec := remoteJobs(t, d, j.ID)[0]
		if late := done.FinishedAt.Sub(rec.Ended); late > 30*time.Second {
			t.Fatalf("the job completed %s after RunPod's, with a poll an hour", late)
		}
		prefix := tb.url + "/runpod/webhook/" + j.ID + "/"
		var hooks []runpodtest.Delivery
		testkit.WaitFor(t, 30*time.Second, "the webhook's delivery to be recorded", func() bool {
			hooks = d.Webhooks()
			return len(hooks) > 0
		})
		if len(hooks) != 1 || hooks[0].JobID != rec.ID || hooks[0].Status != http.StatusOK || !strings.HasPrefix(hooks[0].URL, prefix) ||
			len(hooks[0].URL) == len(prefix) || rec.Webhook != hooks[0].URL {
			t.Fatalf("webhooks: %+v; want one to %s… answered 200", hooks, prefix)
		}

		// The token is the credential: a wrong one is a 404, as for a
		// path that does not exist; the right one is taken (its job no
		// longer followed here), its body never read as the status.
		var pb problemBody
		r := tb.call(t, http.MethodPost, "/runpod/webhook/"+j.ID+"/not-the-token", "", strings.NewReader(`{"status":"FAILED"}`), "application/json", &pb)
		if r.StatusCode != http.StatusNotFound || pb.Code != "not_found" || r.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("a wrong token: %d %s %q", r.StatusCode, pb.Code, r.Header.Get("Content-Type"))
		}
		r = tb.call(t, http.MethodPost, strings.TrimPrefix(hooks[0].URL, tb.url), "", strings.NewReader(`{"status":"FAILED"}`), "application/json", nil)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("the webhook again: %d", r.StatusCode)
		}
		if j := tb.waitFor(t, keyA, j.ID, "completed"); j.Error != nil {
			t.Fatalf("the job after a forged body: %+v", j)
		}
	})
	t.Run("lost", func(t *testing.T) {
		t.Parallel()
		d := newDouble(t, runpodtest.Options{})
		d.DropWebhooks(1)
		tb := setup(t, options{runpod: d, runpodWebhook: true})
		tb.runpodWorker(t)
		j := tb.submitSmall(t)
		if done := tb.waitFor(t, keyA, j.ID, "completed", "failed", "cancelled"); done.State != "completed" {
			t.Fatalf("job %s after %d attempts, error %s", done.State, done.Attempt, jobError(done))
		}
		if recs := remoteJobs(t, d, j.ID); len(recs) != 1 || recs[0].Webhook == "" {
			t.Fatalf("RunPod jobs: %+v; want one, with a webhook", recs)
		}
		if hooks := d.Webhooks(); len(hooks) != 0 {
			t.Fatalf("webhooks delivered: %+v; want the one lost", hooks)
		}
	})
}

// Prompts that make failing reports the worker of TestRunPodWorkerFailures
// sends.
const (
	promptRefuse    = "refuse: no face"
	promptVersion   = "an input of another release"
	promptTraceback = "crash with a traceback"
)

// traceback is what a worker that is not ours (RunPod's Python SDK, say)
// reports as a failed job's error.
const traceback = `Traceback (most recent call last):
  File "/app/handler.py", line 42, in handler
    frames = model.infer(image, audio)
RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 23.65 GiB total capacity)`

// failing is a RunPod worker's handler that, by the job's prompt, refuses
// the input as our worker does (a WorkError with a refusal's code), runs
// our real handler on the input with another version (which it refuses),
// or fails with a foreign traceback.
func failing(real serverless.Handler) runpodtest.Handler {
	return func(ctx context.Context, raw json.RawMessage, progress func(json.RawMessage)) (json.RawMessage, string) {
		var in map[string]any
		if err := json.Unmarshal(raw, &in); err != nil {
			return nil, err.Error()
		}
		switch in["prompt"] {
		case promptRefuse:
			return nil, (&runpod.WorkError{Code: face.CodeNoFace, Message: "no face was found in the image"}).String()
		case promptVersion:
			in["version"] = runpod.Version + 1
			raw, _ = json.Marshal(in)
			return handle(real)(ctx, raw, progress)
		case promptTraceback:
			return nil, traceback
		}
		return nil, fmt.Sprintf("unexpected prompt %q", in["prompt"])
	}
}

// TestRunPodWorkerFailures: a failure our worker reports keeps its code
// and is final when the worker says so (an input refused); a failure in
// words that are not ours (a traceback) is retried, then fails with
// worker_error, and the customer reads none of its text.
func TestRunPodWorkerFailures(t *testing.T) {
	t.Parallel()
	d := newDouble(t, runpodtest.Options{})
	tb := setup(t, options{runpod: d, maxAttempts: 2})
	real := &serverless.Generate{Generator: still.New(tb.ffmpeg, tb.ffprobe), Name: "still", WorkDir: t.TempDir(), Log: tb.log}
	tb.runpodHandler(t, failing(real))

	refused := tb.submitSmall(t, withPrompt(promptRefuse)...)
	version := tb.submitSmall(t, withPrompt(promptVersion)...)
	crash := tb.submitSmall(t, withPrompt(promptTraceback)...)

	if j := tb.wantFailed(t, refused.ID, face.CodeNoFace, 1); j.Error.Message != "no face was found in the image" {
		t.Errorf("the refusal's message: %q", j.Error.Message)
	}
	if j := tb.wantFailed(t, version.ID, runpod.CodeBadInput, 1); !strings.Contains(j.Error.Message, "another release") {
		t.Errorf("the refusal's message: %q", j.Error.Message)
	}
	for _, id := range []string{refused.ID, version.ID} {
		recs := remoteJobs(t, d, id)
		if len(recs) != 1 || recs[0].Status != runpod.Failed {
			t.Fatalf("RunPod jobs of %s: %+v; want one, failed", id, recs)
		}
		if got := strings.Join(tb.transitions(t, id), " "); got != "create start fail" {
			t.Errorf("events of %s: %s", id, got)
		}
		wantReportedCharges(t, tb, id, recs)
	}

	j := tb.wantFailed(t, crash.ID, runpod.CodeWorkerError, 2)
	for _, word := range []string{"Traceback", "handler.py", "RuntimeError", "CUDA", "GiB", "line 42"} {
		if strings.Contains(j.Error.Message, word) {
			t.Errorf("the customer reads %q in %q", word, j.Error.Message)
		}
	}
	recs := remoteJobs(t, d, crash.ID)
	if len(recs) != 2 || recs[0].Status != runpod.Failed || recs[1].Status != runpod.Failed {
		t.Fatalf("RunPod jobs of the crash: %+v; want two, failed", recs)
	}
	if got := strings.Join(tb.transitions(t, crash.ID), " "); got != "create start requeue start fail" {
		t.Errorf("events of the crash: %s", got)
	}
	wantReportedCharges(t, tb, crash.ID, recs)
	tb.waitObjects(t)
}
