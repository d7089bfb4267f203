package main_test

// The RunPod backend end to end, with every part but RunPod's cloud real
// and separate: `serve` with BACKEND=runpod → the RunPod double (a test
// double of an outside service: internal/runpod/runpodtest) → this binary
// as a separate process in `worker --runpod` mode taking the job → the
// built-in generator → the video PUT to a real S3 server (versitygw) →
// COMPLETED → our job completed, its video downloadable, its cost
// RunPod's executionTime at the price.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/runpod"
	"github.com/avatar-api/avatar-api/internal/runpod/runpodtest"
	"github.com/avatar-api/avatar-api/internal/store"
	"github.com/avatar-api/avatar-api/internal/store/sqlite"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

// runpodPrice is RUNPOD_PRICE_PER_SECOND in the tests: $0.00019.
const runpodPrice = store.NanoUSD(190_000)

// runpodSetup is a versitygw bucket, a RunPod double and `serve` with
// BACKEND=runpod on both.
type runpodSetup struct {
	double *runpodtest.Server
	api    *proc
	dir    string
	env    []string // serve's
}

func startRunPod(t *testing.T, opts runpodtest.Options) *runpodSetup {
	t.Helper()
	gw, err := testkit.StartVersitygw()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.Stop)
	if err := gw.CreateBucket("videos"); err != nil {
		t.Fatal(err)
	}
	double := runpodtest.New(opts)
	t.Cleanup(double.Close)
	o := double.Options()
	dir := t.TempDir()
	env := []string{"BACKEND=runpod", "RUNPOD_ENDPOINT_ID=" + o.EndpointID, "RUNPOD_API_KEY=" + o.APIKey,
		"RUNPOD_API_URL=" + double.URL(), "RUNPOD_REST_URL=" + double.RESTURL(),
		"RUNPOD_POLL_INTERVAL=500ms", "RUNPOD_HEALTH_INTERVAL=1s", "RUNPOD_PRICE_PER_SECOND=0.00019",
		"STORAGE=s3", "S3_BUCKET=videos", "S3_ENDPOINT=" + gw.Endpoint, "S3_REGION=" + gw.Region,
		"S3_ACCESS_KEY_ID=" + gw.AccessKey, "S3_SECRET_ACCESS_KEY=" + gw.SecretKey, "S3_FORCE_PATH_STYLE=true",
		"SIGNING_SECRET=runpod-process-test-signing-secret-0123", "POLL_RATE_LIMIT=100000", "SHUTDOWN_GRACE=0s"}
	return &runpodSetup{double: double, api: start(t, dir, env...), dir: dir, env: env}
}

// worker is `avatar-api worker --runpod` as RunPod runs it in its
// container: the double's environment, the built-in generator, no
// database and no storage credentials.
type worker struct {
	cmd  *exec.Cmd
	logs *testkit.Buffer
	done chan error
}

func (s *runpodSetup) startWorker(t *testing.T, pod string) *worker {
	t.Helper()
	cmd := exec.Command(binary, "worker", "--runpod")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "DATA_DIR=" + t.TempDir(),
		"GENERATOR=builtin", "LOG_LEVEL=debug", "SHUTDOWN_GRACE=2s", "GOCOVERDIR=" + os.Getenv("GOCOVERDIR")}, s.double.WorkerEnv(pod)...)
	logs := &testkit.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &worker{cmd: cmd, logs: logs, done: make(chan error, 1)}
	go func() { w.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-w.done
		if t.Failed() {
			t.Logf("worker %s log:\n%s", pod, lastLines(logs.String(), 40))
		}
	})
	return w
}

// submit sends a 4 s recording of the astronaut as a small video.
func (p *proc) submit(t *testing.T) string {
	t.Helper()
	form, ct := testkit.Multipart(t,
		testkit.Part{Name: "image", File: testkit.Fixture("astronaut.png")},
		testkit.Part{Name: "audio", File: testkit.Fixture("speech_en_4s.wav")},
		testkit.Part{Name: "width", Value: "256"}, testkit.Part{Name: "height", Value: "256"},
		testkit.Part{Name: "fps", Value: "15"}, testkit.Part{Name: "prompt", Value: "a calm voice"})
	return p.post(t, form, ct)
}

func (p *proc) post(t *testing.T, form []byte, ct string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.url+"/generate", bytes.NewReader(form))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", ct)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var j jobView
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(body, &j) != nil {
		t.Fatalf("POST /generate = %d %s", resp.StatusCode, body)
	}
	return j.ID
}

// job reads the job's row from the service's SQLite file.
func (s *runpodSetup) job(t *testing.T, id string) *store.Job {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(s.dir, "avatar.db"), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	j, err := st.GetJob(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// download fetches the job's video from the URL /result gives and
// probes it.
func (p *proc) download(t *testing.T, id string) testkit.Media {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.url+"/result/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		URL string `json:"url"`
	}
	err = json.NewDecoder(resp.Body).Decode(&res)
	resp.Body.Close()
	if err != nil || res.URL == "" {
		t.Fatalf("GET /result: %d, url %q (%v)", resp.StatusCode, res.URL, err)
	}
	vresp, err := http.Get(res.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer vresp.Body.Close()
	path := filepath.Join(t.TempDir(), "video.mp4")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, vresp.Body); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if vresp.StatusCode != http.StatusOK {
		t.Fatalf("GET the video: %d", vresp.StatusCode)
	}
	return testkit.Probe(t, path)
}

func TestRunPodEndToEnd(t *testing.T) {
	t.Parallel()
	s := startRunPod(t, runpodtest.Options{LongPoll: 500 * time.Millisecond})
	s.startWorker(t, "pod-e2e")
	id := s.api.submit(t)
	s.api.waitFor(t, id, 2*time.Minute, "completed", "failed")
	if j := s.api.status(t, id); j.State != "completed" {
		t.Fatalf("job ended %s (%+v)", j.State, j.Error)
	}
	m := s.api.download(t, id)
	if m.VideoCodec != "h264" || m.AudioCodec != "aac" || m.Duration < 3.5 || m.Duration > 5 {
		t.Fatalf("video: %+v", m)
	}

	jobs := s.double.Jobs()
	if len(jobs) != 1 || jobs[0].Status != runpod.Completed || jobs[0].WorkerID != "pod-e2e" {
		t.Fatalf("RunPod's jobs: %+v", jobs)
	}
	rp := jobs[0]
	j := s.job(t, id)
	exec := rp.ExecutionTime.Truncate(time.Millisecond)
	if j.RemoteID != rp.ID || j.Billed != exec || j.Cost != runpodPrice.Of(exec) || j.Price != runpodPrice {
		t.Fatalf("job row: remote %q billed %s cost %d at %d; RunPod: %s executionTime %s, want cost %d",
			j.RemoteID, j.Billed, j.Cost, j.Price, rp.ID, exec, runpodPrice.Of(exec))
	}
	t.Logf("figures: dispatch latency (accepted → RunPod worker started) %s; RunPod delayTime %s, executionTime %s; "+
		"our job: queue wait until dispatch %s, billed %s, cost $%.6f (at $%.5f/s)",
		rp.Started.Sub(j.CreatedAt).Round(time.Millisecond), rp.DelayTime.Round(time.Millisecond), exec,
		j.StartedAt.Sub(j.CreatedAt).Round(time.Millisecond), j.Billed, j.Cost.USD(), runpodPrice.USD())
}

// TestRunPodWorkerKilledMidJob: the RunPod worker's process is killed
// while it makes the video. RunPod takes the worker for lost and queues
// the job again; another worker takes it; our job completes, once.
//
// The double's clock is moved past WorkerLostAfter once the worker is
// dead, rather than the test running with a short WorkerLostAfter: with
// 3 s, a live worker starved of CPU for 3 s under CI's load was lost too,
// and the job failed with "worker lost".
func TestRunPodWorkerKilledMidJob(t *testing.T) {
	t.Parallel()
	clock := &testkit.Clock{}
	s := startRunPod(t, runpodtest.Options{LongPoll: 500 * time.Millisecond, Now: clock.Now})
	w := s.startWorker(t, "pod-doomed")
	id := s.api.submitSlow(t)
	testkit.WaitFor(t, time.Minute, "the RunPod worker to take the job", func() bool {
		jobs := s.double.Jobs()
		return len(jobs) == 1 && jobs[0].Status == runpod.InProgress && len(jobs[0].Progress) > 0
	})
	if err := w.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-w.done
	w.done <- nil // for the cleanup
	clock.Advance(s.double.Options().WorkerLostAfter + time.Second)
	testkit.WaitFor(t, time.Minute, "RunPod to queue the job again", func() bool {
		jobs := s.double.Jobs()
		return len(jobs) == 1 && jobs[0].Status == runpod.InQueue && jobs[0].Retries == 1
	})
	s.startWorker(t, "pod-spare")
	s.api.waitFor(t, id, 3*time.Minute, "completed", "failed")
	if j := s.api.status(t, id); j.State != "completed" {
		t.Fatalf("job ended %s (%+v)", j.State, j.Error)
	}
	rp := s.double.Jobs()
	if len(rp) != 1 || rp[0].Retries != 1 || rp[0].WorkerID != "pod-spare" {
		t.Fatalf("RunPod's jobs: %+v", rp)
	}
}

// TestRunPodCommands: `avatar-api runpod status` and `scale`, as an
// operator acting on a cost alert runs them.
func TestRunPodCommands(t *testing.T) {
	t.Parallel()
	double := runpodtest.New(runpodtest.Options{})
	t.Cleanup(double.Close)
	o := double.Options()
	env := []string{"DATA_DIR=" + t.TempDir(), "RUNPOD_ENDPOINT_ID=" + o.EndpointID, "RUNPOD_API_KEY=" + o.APIKey,
		"RUNPOD_API_URL=" + double.URL(), "RUNPOD_REST_URL=" + double.RESTURL()}
	out := cli(t, env, "runpod", "scale", "--max-workers", "1")
	if !strings.Contains(out, "max workers 3 → 1") {
		t.Fatalf("scale said %q", out)
	}
	out = cli(t, env, "runpod", "status")
	for _, want := range []string{o.EndpointID, "workers min / max", "0 / 1", "in queue 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, o.APIKey) {
		t.Error("status shows the API key")
	}
}

// TestRunPodTestInput: `worker --runpod --test-input FILE` runs one job
// here, with no RunPod, as RunPod's SDK does with --test_input: the
// inputs fetched from their URLs, the video PUT, the result printed.
func TestRunPodTestInput(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var uploaded []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method + " " + r.URL.Path {
		case "GET /image":
			http.ServeFile(w, r, testkit.Fixture("astronaut.png"))
		case "GET /audio":
			http.ServeFile(w, r, testkit.Fixture("speech_en_4s.wav"))
		case "PUT /video":
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			uploaded = b
			mu.Unlock()
			w.WriteHeader(http.StatusCreated)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	exp := time.Now().Add(time.Hour)
	in := runpod.Input{Version: runpod.Version, JobID: "local-test", Attempt: 1,
		Image:       runpod.Download{URL: srv.URL + "/image", Expires: exp, MaxBytes: 10 << 20},
		Audio:       runpod.Download{URL: srv.URL + "/audio", Expires: exp, MaxBytes: 10 << 20},
		AudioFormat: "wav", AudioDurationMS: 4000,
		Output: runpod.Upload{URL: srv.URL + "/video", Expires: exp, MaxBytes: 50 << 20},
		Prompt: "hello", Width: 128, Height: 128, FPS: 10, Seed: 1}
	b, _ := json.Marshal(map[string]any{"input": in})
	file := filepath.Join(t.TempDir(), "test_input.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out := cli(t, []string{"DATA_DIR=" + t.TempDir(), "GENERATOR=still"}, "worker", "--runpod", "--test-input", file)
	var res struct {
		Output runpod.Output `json:"output"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &res); err != nil || res.Output.Version != runpod.Version || res.Output.Video.Bytes == 0 {
		t.Fatalf("printed %q (%v)", out, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if int64(len(uploaded)) != res.Output.Video.Bytes {
		t.Fatalf("uploaded %d bytes, the output says %d", len(uploaded), res.Output.Video.Bytes)
	}
}

// TestRunPodAPIRestartFollowsTheRun: the API is stopped (SIGTERM, no
// grace) while RunPod runs its job. The job goes back to our queue, but
// its RunPod job runs on; the restarted API follows that same run to its
// end: one RunPod job, billed once, at RunPod's executionTime.
func TestRunPodAPIRestartFollowsTheRun(t *testing.T) {
	t.Parallel()
	s := startRunPod(t, runpodtest.Options{LongPoll: 500 * time.Millisecond})
	s.startWorker(t, "pod-steady")
	id := s.api.submitSlow(t)
	testkit.WaitFor(t, time.Minute, "the RunPod worker to take the job", func() bool {
		jobs := s.double.Jobs()
		return len(jobs) == 1 && jobs[0].Status == runpod.InProgress
	})
	if err := s.api.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := s.api.exit(t, time.Minute); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if j := s.job(t, id); j.State != store.StateQueued || j.RemoteID == "" || j.Billed != 0 {
		t.Fatalf("after the stop: state %s, remote %q, billed %s; want queued, the run recorded, nothing billed", j.State, j.RemoteID, j.Billed)
	}
	api := start(t, s.dir, s.env...)
	api.waitFor(t, id, 3*time.Minute, "completed", "failed")
	if j := api.status(t, id); j.State != "completed" {
		t.Fatalf("job ended %s (%+v)", j.State, j.Error)
	}
	rp := s.double.Jobs()
	if len(rp) != 1 || rp[0].Status != runpod.Completed {
		t.Fatalf("RunPod's jobs: %+v", rp)
	}
	exec := rp[0].ExecutionTime.Truncate(time.Millisecond)
	// (River does not count a run stopped by a shutdown as an attempt:
	// the restarted run is attempt 1 again, fenced by the start.)
	if j := s.job(t, id); j.Billed != exec || j.Cost != runpodPrice.Of(exec) {
		t.Fatalf("billed %s (cost %d); want RunPod's %s once", j.Billed, j.Cost, exec)
	}
}
