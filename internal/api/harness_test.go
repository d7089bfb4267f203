package api_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/api"
	"github.com/avatar-api/avatar-api/internal/apikey"
	"github.com/avatar-api/avatar-api/internal/app"
	"github.com/avatar-api/avatar-api/internal/config"
	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/logging"
	"github.com/avatar-api/avatar-api/internal/media"
	"github.com/avatar-api/avatar-api/internal/metric"
	"github.com/avatar-api/avatar-api/internal/queue"
	"github.com/avatar-api/avatar-api/internal/ratelimit"
	"github.com/avatar-api/avatar-api/internal/runpod/runpodtest"
	"github.com/avatar-api/avatar-api/internal/scratch"
	"github.com/avatar-api/avatar-api/internal/server"
	"github.com/avatar-api/avatar-api/internal/store"
	"github.com/avatar-api/avatar-api/internal/store/postgres/pgtest"
	"github.com/avatar-api/avatar-api/internal/store/sqlstore"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

const (
	keyA = "test-key-of-customer-a-0123456789"
	keyB = "test-key-of-customer-b-0123456789"
)

type testBundle struct {
	url     string
	dataDir string
	runs    string // every ffmpeg and ffprobe run, a line each
	// stop closes the server, once every request in flight has ended.
	stop  func()
	logs  *testkit.Buffer
	keys  *apikey.Service
	db    string // the SQLite file
	store *sqlstore.Store
	log   *slog.Logger // the service's, writing to logs
	// ffmpeg and ffprobe are the guarded tools the service runs.
	ffmpeg, ffprobe string
	runpod          *runpodtest.Server // options.runpod
	app             *app.App
	// cfg and overrides built app: a test that restarts the service
	// builds another app with them.
	cfg       *config.Config
	overrides app.Overrides
}

type options struct {
	imageBytes, audioBytes int64
	resultTTL              time.Duration
	noWorkers              bool          // jobs stay queued
	concurrency            int           // generation jobs at once (default 1)
	maxUploads             int           // uploads checked at once (default 16)
	uploadsPerCustomer     int           // of which one customer's (default a quarter)
	uploadGrace            time.Duration // before the minimum rate (32 KiB/s) applies; default 1 min
	checker                generator.Checker
	postgres               bool // PostgreSQL instead of SQLite
	noKeyCache             bool // every request looks its key up
	limiter                ratelimit.Limiter
	limiterClock           func() time.Time // the limiter's
	// clock is the key cache's, the failed-auth throttle's and the
	// upload-slot wait's; nil: the real one.
	clock   *testkit.Clock
	metrics *metric.Metrics
	images  *media.ImageDecoder // default: 384 MiB, 128 MiB an image
	// metricsToken is METRICS_TOKEN (default none).
	metricsToken string
	// gpu puts an NVIDIA GPU on the workers' machine: nvidia-smi is a
	// script that prints the documented output of one GPU at 87 %.
	gpu bool
	// maxAttempts is JOB_MAX_ATTEMPTS (default 3).
	maxAttempts int
	// runpod, when set, makes the videos at this RunPod double
	// (BACKEND=runpod): the test made it, so the test holds its clock and
	// its faults. A worker takes its jobs only once the test starts one
	// (runpodWorker, runpodHandler).
	runpod *runpodtest.Server
	// runpodWebhook is RUNPOD_WEBHOOK: the double calls PUBLIC_URL back
	// when a job ends. runpodPoll is RUNPOD_POLL_INTERVAL (default 50 ms).
	runpodWebhook bool
	runpodPoll    time.Duration
	// configure, if set, changes the configuration last.
	configure func(cfg *config.Config)
	// shift, if set, moves the store's, the alerts' and the job service's
	// clocks: now is the real time plus its nanoseconds (the test moves
	// days with it).
	shift *atomic.Int64
	// alertEvery replaces ALERT_EVAL_INTERVAL (default: none, so that
	// only the test's own evaluations run); alertBackoff the wait before
	// a notification's retry (default 50 ms).
	alertEvery   time.Duration
	alertBackoff func(n int) time.Duration
	// webhookBackoff is the wait before a webhook's retry (default 50 ms).
	webhookBackoff func(n int) time.Duration
}

// setup runs the whole service in-process on real parts, built by
// app.New as `serve` builds it: an SQLite file (or PostgreSQL), local
// storage, River workers and the ffmpeg generator.
func setup(t testing.TB, opts options) *testBundle {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	dir := t.TempDir()
	logs := &testkit.Buffer{}
	log := logging.New(logs, slog.LevelDebug)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, dir, "http://"+ln.Addr().String(), opts)
	st, err := app.OpenStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Two customers, each with a key of the old format (imported, with
	// every scope), so that tests can name them as constants; imported
	// before the service starts, which then looks such keys up.
	keys := apikey.NewService(st, nil)
	for key, customer := range map[string]string{keyA: "customer-a", keyB: "customer-b"} {
		if _, err := keys.Import(ctx, key, customer, "test"); err != nil {
			t.Fatal(err)
		}
	}
	o := app.Overrides{
		Store: st, Checker: opts.checker, Limiter: opts.limiter, LimiterNow: opts.limiterClock,
		Metrics: opts.metrics, Images: opts.images,
		Heartbeat: 100 * time.Millisecond, PollInterval: 100 * time.Millisecond, SweepEvery: 200 * time.Millisecond,
		RollupEvery:  100 * time.Millisecond,
		AlertEvery:   cmp.Or(opts.alertEvery, -1),
		AlertBackoff: opts.alertBackoff,
	}
	if o.AlertBackoff == nil {
		o.AlertBackoff = func(int) time.Duration { return 50 * time.Millisecond }
	}
	o.WebhookBackoff = opts.webhookBackoff
	if o.WebhookBackoff == nil {
		o.WebhookBackoff = func(int) time.Duration { return 50 * time.Millisecond }
	}
	if opts.shift != nil {
		now := func() time.Time { return time.Now().Add(time.Duration(opts.shift.Load())) }
		st.SetClock(now)
		o.AlertClock = now
	}
	if opts.clock != nil {
		o.Clock = opts.clock
	}
	if opts.noKeyCache {
		o.KeyCacheTTL = -1
	}
	a, err := app.New(ctx, cfg, log, o)
	if err != nil {
		t.Fatal(err)
	}
	undocumented := &undocumentedProblems{}
	t.Cleanup(func() { undocumented.report(t) }) // last: once the server is closed
	srv := httptest.NewUnstartedServer(checkProblems(t, server.Wrap(a.Handler, log, a.ServerOptions()), undocumented))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(func() {
		if t.Failed() { // what the service said, to tell why
			t.Logf("service log (last lines):\n%s", lastLogLines(logs.String(), 40))
		}
		srv.Close()
		_ = a.StopWorkers(5 * time.Second)
		a.Close()
		st.Close()
	})
	return &testBundle{url: cfg.PublicURL, stop: srv.Close, dataDir: dir, runs: filepath.Join(dir, "ffmpeg-runs"), logs: logs, keys: keys,
		db: cfg.SQLitePath(), store: st, log: log, ffmpeg: cfg.FFmpeg, ffprobe: cfg.FFprobe, runpod: opts.runpod, app: a,
		cfg: cfg, overrides: o}
}

// testConfig is the configuration of a test's service: the defaults, on
// dir, with small outputs, the still generator behind guarded ffmpeg and
// ffprobe, and what opts ask.
func testConfig(t testing.TB, dir, publicURL string, opts options) *config.Config {
	t.Helper()
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir, cfg.PublicURL = dir, publicURL
	cfg.SigningSecret = strings.Repeat("s", 32)
	cfg.Generator = "still"
	cfg.FaceCheck = false // the tests of the face check give a checker
	cfg.FFmpeg, cfg.FFprobe = guardedTools(t, dir)
	cfg.MaxImageBytes, cfg.MaxAudioBytes = cmp.Or(opts.imageBytes, 20<<20), cmp.Or(opts.audioBytes, 50<<20)
	cfg.MaxAudioDuration = 5 * time.Minute
	cfg.MaxPromptChars = 200
	cfg.DefaultWidth, cfg.DefaultHeight, cfg.DefaultFPS = 256, 256, 25
	cfg.ResultTTL, cfg.DownloadURLTTL = cmp.Or(opts.resultTTL, time.Hour), time.Hour
	cfg.EmbeddedWorkers, cfg.Workers = !opts.noWorkers, max(opts.concurrency, 1)
	cfg.JobTimeout, cfg.JobRescueAfter = time.Minute, 2*time.Minute
	cfg.MaxUploads = cmp.Or(opts.maxUploads, 16)
	cfg.MaxUploadsPerCust = cmp.Or(opts.uploadsPerCustomer, api.DefaultSlotsPerCustomer(cfg.MaxUploads))
	cfg.UploadMinRate, cfg.UploadRateGrace = 32<<10, cmp.Or(opts.uploadGrace, time.Minute)
	cfg.RateLimitPerHour, cfg.PollRateLimit, cfg.PollRateWindow = 10, 600, time.Minute
	if opts.limiter == nil { // limits are the subject of the tests that give a limiter
		cfg.RateLimitPerHour, cfg.PollRateLimit = 100_000, 100_000
	}
	if opts.postgres {
		cfg.DatabaseURL = pgtest.NewDatabase(t)
	}
	cfg.MetricsToken = opts.metricsToken
	cfg.WebhookAllowPrivate = true                      // the tests' receivers listen on 127.0.0.1
	cfg.NvidiaSMI = filepath.Join(dir, "no-nvidia-smi") // none, unless asked
	if opts.gpu {
		cfg.NvidiaSMI, cfg.GPUSampleInterval = fakeNvidiaSMI(t, dir), 50*time.Millisecond
	}
	cfg.JobMaxAttempts = cmp.Or(opts.maxAttempts, cfg.JobMaxAttempts)
	if opts.shift != nil {
		// The heartbeat rescue reads a running job's last heartbeat with
		// the store's clock, which these tests move by hours: a jump
		// between two heartbeats would make a live attempt look silent.
		// River picks candidates by real time, so an hour keeps every
		// attempt of these tests out of its reach.
		cfg.JobHeartbeatTimeout = time.Hour
	}
	if opts.runpod != nil {
		runpodConfig(cfg, opts)
	}
	if opts.configure != nil {
		opts.configure(cfg)
	}
	return cfg
}

// runpodPrice is RUNPOD_PRICE_PER_SECOND in the tests: $0.00019, the
// 24 GB tier's.
const runpodPrice store.NanoUSD = 190_000

// runpodConfig sets BACKEND=runpod against the double of opts: its
// endpoint and key, both its APIs, quick polls of jobs and health. The
// inputs' signed URLs and the video's upload URL are local storage's, at
// PUBLIC_URL: the double's workers reach them over real HTTP.
func runpodConfig(cfg *config.Config, opts options) {
	d := opts.runpod
	cfg.Backend = queue.RunPodBackend
	cfg.RunPodEndpointID, cfg.RunPodAPIKey = d.Options().EndpointID, d.Options().APIKey
	cfg.RunPodAPIURL, cfg.RunPodRESTURL = d.URL(), d.URL()
	cfg.RunPodPollInterval = cmp.Or(opts.runpodPoll, 50*time.Millisecond)
	cfg.RunPodHealthInterval = 100 * time.Millisecond
	cfg.RunPodExecutionTimeout, cfg.RunPodTTL = 30*time.Second, 2*time.Minute
	cfg.RunPodWebhook = opts.runpodWebhook
	cfg.RunPodPrice = runpodPrice
	cfg.RunPodConcurrency = max(opts.concurrency, 1)
	cfg.JobRescueAfter = cfg.AttemptTimeout() + time.Minute
}

// guardedTools writes wrappers of ffmpeg and ffprobe that run the real
// programs only when every input of the command line names its format and
// its protocol; any other run is refused and written down, and the test
// fails. So every test through the API also checks, at run time, that no
// ffmpeg run anywhere on the path of a job guesses a format.
func guardedTools(t testing.TB, dir string) (ffmpegBin, ffprobeBin string) {
	t.Helper()
	violations, runs := filepath.Join(dir, "unguarded-ffmpeg-runs"), filepath.Join(dir, "ffmpeg-runs")
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		real, err := exec.LookPath(tool)
		if err != nil {
			t.Fatalf("%s not installed", tool)
		}
		script := `#!/bin/bash
f=0; w=0; prev=
for a in "$@"; do
  case "$prev" in
    -f) case "$a" in wav|mp3|ogg|flac|matroska|mov|aac|image2|rawvideo) f=1 ;; esac ;;
    -protocol_whitelist) case "$a" in file|pipe) w=1 ;; esac ;;
  esac
  if [ "$a" = "-i" ]; then
    if [ $f = 0 ] || [ $w = 0 ]; then printf '%s\n' "$*" >> '` + violations + `'; exit 97; fi
    f=0; w=0
  fi
  prev=$a
done
printf '%s\n' "$*" >> '` + runs + `'
exec '` + real + `' "$@"
`
		path := filepath.Join(dir, "guarded-"+tool)
		if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
			t.Fatal(err)
		}
		if tool == "ffmpeg" {
			ffmpegBin = path
		} else {
			ffprobeBin = path
		}
	}
	t.Cleanup(func() {
		if b, err := os.ReadFile(violations); err == nil {
			t.Errorf("ffmpeg or ffprobe ran with an input of no forced format or protocol:\n%s", b)
		}
	})
	return ffmpegBin, ffprobeBin
}

// fakeNvidiaSMI writes a stand-in of nvidia-smi, from its documented
// output for --query-gpu=utilization.gpu,memory.used,memory.total
// --format=csv,noheader,nounits: a line per GPU, "87, 6144, 24576" (%,
// MiB, MiB). It refuses any other arguments.
func fakeNvidiaSMI(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "nvidia-smi")
	script := `#!/bin/sh
[ "$*" = "--query-gpu=utilization.gpu,memory.used,memory.total --format=csv,noheader,nounits" ] || exit 2
echo "87, 6144, 24576"
`
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

// ffmpegRuns is how many times ffmpeg or ffprobe has run so far.
func (tb *testBundle) ffmpegRuns(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(tb.runs)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}

// waitQueue polls the state of a job's queue entry until it is want.
func (tb *testBundle) waitQueue(t *testing.T, id, want string) {
	t.Helper()
	var st string
	var err error
	testkit.WaitFor(t, 30*time.Second, "queue entry of "+id+" to be "+want, func() bool {
		st, err = tb.store.QueueJobState(context.Background(), id)
		return err == nil && st == want
	})
}

// transitions are the transitions recorded for a job, in order.
func (tb *testBundle) transitions(t *testing.T, id string) []string {
	t.Helper()
	evs, err := tb.store.Events(context.Background(), store.EventsParams{JobID: id, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, string(e.Transition))
	}
	return out
}

// part is one part of a POST /generate body.
type part = testkit.Part

func fixture(name string) string { return testkit.Fixture(name) }

// multipartBody builds a POST /generate body.
func multipartBody(t *testing.T, parts ...part) (io.Reader, string) {
	t.Helper()
	b, ct := testkit.Multipart(t, parts...)
	return bytes.NewReader(b), ct
}

// call sends a request with key (if any) and decodes a JSON body into out.
func (tb *testBundle) call(t *testing.T, method, path, key string, body io.Reader, contentType string, out any, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, tb.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decoding %q: %v", method, path, data, err)
		}
	}
	return resp
}

// answer is the outcome of a request sent in the background.
type answer struct {
	status  int
	header  http.Header
	problem problemBody
	err     error
}

// submitAsync posts a job in the background (one that will wait, say);
// its answer arrives on the channel.
func (tb *testBundle) submitAsync(key string, parts ...part) <-chan answer {
	body, ct, err := testkit.EncodeMultipart(parts...)
	done := make(chan answer, 1)
	if err != nil {
		done <- answer{err: err}
		return done
	}
	go func() {
		req, _ := http.NewRequest(http.MethodPost, tb.url+"/generate", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", ct)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		a := answer{status: resp.StatusCode, header: resp.Header}
		a.err = json.NewDecoder(resp.Body).Decode(&a.problem)
		done <- a
	}()
	return done
}

// submit posts a job and returns the decoded response.
func (tb *testBundle) submit(t *testing.T, key string, parts ...part) (api.Job, *http.Response) {
	t.Helper()
	body, ct := multipartBody(t, parts...)
	var j api.Job
	resp := tb.call(t, http.MethodPost, "/generate", key, body, ct, &j)
	return j, resp
}

// waitFor polls the job until it is in one of states.
func (tb *testBundle) waitFor(t *testing.T, key, id string, states ...string) api.Job {
	t.Helper()
	var j api.Job
	waited := false
	defer func() { // a wait that failed says where the job was
		if !waited {
			ctx := context.Background()
			queued, qerr := tb.store.QueueJobState(ctx, id)
			evs, _ := tb.store.Events(ctx, store.EventsParams{JobID: id, Limit: 100})
			var path []string
			for _, e := range evs {
				path = append(path, fmt.Sprintf("%s@%s", e.Transition, e.At.Format("15:04:05.000")))
			}
			t.Logf("job %s at the end of the wait: %s, attempt %d; its queue entry %q (%v); its transitions %v", id, j.State, j.Attempt, queued, qerr, path)
		}
	}()
	testkit.WaitFor(t, 90*time.Second, fmt.Sprintf("job %s to be one of %v", id, states), func() bool {
		j = api.Job{}
		if resp := tb.call(t, http.MethodGet, "/status/"+id, key, nil, "", &j); resp.StatusCode != http.StatusOK {
			t.Fatalf("status: %d", resp.StatusCode)
		}
		return slices.Contains(states, j.State)
	})
	waited = true
	return j
}

type problemBody struct {
	Status    int    `json:"status"`
	Code      string `json:"code"`
	Detail    string `json:"detail"`
	RequestID string `json:"request_id"`
}

// filesUnder lists regular files below dir (uploads and stored objects),
// but for the lock files of live scratch directories.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() != scratch.LockFile {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// waitUploads waits until n uploads are being received: each holds an
// upload slot.
func (tb *testBundle) waitUploads(t *testing.T, n int) {
	t.Helper()
	testkit.WaitFor(t, 10*time.Second, fmt.Sprintf("%d uploads in progress", n), func() bool {
		dirs, _ := filepath.Glob(filepath.Join(tb.dataDir, "uploads", "*", "upload-*"))
		return len(dirs) >= n
	})
}

// lastLogLines is the last n lines of a log.
func lastLogLines(log string, n int) string {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
