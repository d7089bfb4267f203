package api_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/api"
	"github.com/avatar-api/avatar-api/internal/apikey"
	"github.com/avatar-api/avatar-api/internal/auth"
	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/generator/still"
	"github.com/avatar-api/avatar-api/internal/job"
	"github.com/avatar-api/avatar-api/internal/logging"
	"github.com/avatar-api/avatar-api/internal/media"
	"github.com/avatar-api/avatar-api/internal/metric"
	"github.com/avatar-api/avatar-api/internal/queue"
	"github.com/avatar-api/avatar-api/internal/ratelimit"
	"github.com/avatar-api/avatar-api/internal/server"
	"github.com/avatar-api/avatar-api/internal/storage/local"
	"github.com/avatar-api/avatar-api/internal/store"
	"github.com/avatar-api/avatar-api/internal/store/postgres"
	"github.com/avatar-api/avatar-api/internal/store/postgres/pgtest"
	"github.com/avatar-api/avatar-api/internal/store/sqlite"
	"github.com/avatar-api/avatar-api/internal/store/sqlstore"
	"github.com/avatar-api/avatar-api/internal/worker"
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
	logs  *syncBuffer
	keys  *apikey.Service
	db    string // the SQLite file
	store *sqlstore.Store
}

type options struct {
	imageBytes, audioBytes int64
	resultTTL              time.Duration
	noWorkers              bool          // jobs stay queued
	concurrency            int           // generation jobs at once (default 1)
	maxUploads             int           // uploads checked at once (default 16)
	uploadsPerCustomer     int           // of which one customer's (default half)
	uploadGrace            time.Duration // before the minimum rate (32 KiB/s) applies; default 1 min
	slotWait               time.Duration // for an upload slot (default 10 s)
	checker                generator.Checker
	postgres               bool // PostgreSQL instead of SQLite
	noKeyCache             bool // every request looks its key up
	limiter                ratelimit.Limiter
	clock                  func() time.Time // the limiter's
	metrics                *metric.Metrics
	images                 *media.ImageDecoder // default: 384 MiB, 128 MiB an image
}

// setup runs the whole service in-process on real parts: an SQLite file,
// local storage, River workers and the ffmpeg generator.
func setup(t testing.TB, opts options) *testBundle {
	t.Helper()
	if opts.imageBytes == 0 {
		opts.imageBytes, opts.audioBytes = 20<<20, 50<<20
	}
	if opts.resultTTL == 0 {
		opts.resultTTL = time.Hour
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	dir := t.TempDir()
	logs := &syncBuffer{}
	log := logging.New(logs, slog.LevelDebug)
	var st *sqlstore.Store
	var err error
	if opts.postgres {
		st, err = postgres.Open(ctx, pgtest.NewDatabase(t), 3)
	} else {
		st, err = sqlite.Open(ctx, filepath.Join(dir, "avatar.db"), 3)
	}
	if err != nil {
		t.Fatal(err)
	}
	// Two customers, each with a key of the old format (imported, with
	// every scope), so that tests can name them as constants.
	keys := apikey.NewService(st, nil)
	for key, customer := range map[string]string{keyA: "customer-a", keyB: "customer-b"} {
		if _, err := keys.Import(ctx, key, customer, "test"); err != nil {
			t.Fatal(err)
		}
	}
	authn := auth.NewKeys(st, nil, true, log)
	if opts.noKeyCache {
		authn.TTL = 0
	}
	srv := httptest.NewUnstartedServer(nil)
	publicURL := "http://" + srv.Listener.Addr().String()
	files, err := local.New(filepath.Join(dir, "objects"), publicURL, bytes.Repeat([]byte("s"), 32))
	if err != nil {
		t.Fatal(err)
	}
	ffmpegBin, ffprobeBin := guardedTools(t, dir)
	if opts.images == nil {
		opts.images = media.NewImageDecoder(384<<20, 128<<20)
	}
	jobs := job.NewService(job.Deps{
		Store: st, Storage: files, Checker: opts.checker, Log: log,
		Audio:  media.Prober{FFmpeg: ffmpegBin, FFprobe: ffprobeBin},
		Images: opts.images,
	}, job.Settings{
		MaxPromptChars: 200, Width: 256, Height: 256, FPS: 25,
		ResultTTL: opts.resultTTL, DownloadURLTTL: time.Hour,
	})
	var runner *worker.Runner
	if !opts.noWorkers {
		runner, err = worker.Start(ctx, st.Driver(), worker.Deps{
			Jobs: job.NewLifecycle(st, files, log), Storage: files, Generator: still.New(ffmpegBin, ffprobeBin), Log: log, WorkDir: dir,
			Backend: queue.Local(time.Minute), ResultTTL: opts.resultTTL, Heartbeat: 100 * time.Millisecond,
		}, worker.Options{Concurrency: max(opts.concurrency, 1), RescueAfter: 2 * time.Minute, SweepEvery: 200 * time.Millisecond, PollInterval: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
	}
	srv.Config.Handler = server.Wrap(api.New(api.Deps{
		Jobs: jobs, Keys: keys, Auth: authn, Throttle: auth.NewThrottle(10, 6*time.Second),
		Limiter: opts.limiter, Now: opts.clock, Metrics: opts.metrics,
		RateLimits: api.RateLimits{PerHour: 10, PollLimit: 600, PollWindow: time.Minute},
		Ready:      func(*http.Request) map[string]string { return map[string]string{"database": "ok"} },
		Files:      files.Handler(log), UploadDir: filepath.Join(dir, "uploads"),
		Uploads: api.UploadPolicy{
			ImageBytes: opts.imageBytes, AudioBytes: opts.audioBytes,
			Slots: cmp.Or(opts.maxUploads, 16), SlotsPerCustomer: opts.uploadsPerCustomer, SlotWait: opts.slotWait,
			MinRate: 32 << 10, Grace: cmp.Or(opts.uploadGrace, time.Minute),
		},
		PublicURL: publicURL, Log: log,
	}), log)
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		if runner != nil {
			_ = runner.Stop(context.Background(), 5*time.Second)
		}
		st.Close()
	})
	return &testBundle{url: publicURL, stop: srv.Close, dataDir: dir, runs: filepath.Join(dir, "ffmpeg-runs"), logs: logs, keys: keys, db: filepath.Join(dir, "avatar.db"), store: st}
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
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := tb.store.QueueJobState(context.Background(), id)
		if err == nil && st == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue entry of %s is %q (%v), want %q", id, st, err, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
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

type part struct {
	name, file string // file: a path under testdata, or "" for a text field
	value      string
}

func fixture(name string) string { return filepath.Join("..", "..", "testdata", name) }

// multipartBody builds a POST /generate body.
func multipartBody(t *testing.T, parts ...part) (io.Reader, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, p := range parts {
		if p.file == "" {
			_ = w.WriteField(p.name, p.value)
			continue
		}
		data, err := os.ReadFile(p.file)
		if err != nil {
			t.Fatal(err)
		}
		fw, _ := w.CreateFormFile(p.name, filepath.Base(p.file))
		_, _ = fw.Write(data)
	}
	_ = w.Close()
	return &b, w.FormDataContentType()
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
	deadline := time.Now().Add(90 * time.Second)
	for {
		var j api.Job
		resp := tb.call(t, http.MethodGet, "/status/"+id, key, nil, "", &j)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status: %d", resp.StatusCode)
		}
		for _, s := range states {
			if j.State == s {
				return j
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s, want %v", id, j.State, states)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type problemBody struct {
	Status    int    `json:"status"`
	Code      string `json:"code"`
	Detail    string `json:"detail"`
	RequestID string `json:"request_id"`
}

// filesUnder lists regular files below dir (uploads and stored objects).
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// probe returns ffprobe's view of a video: codecs, size, fps, duration.
func probe(t *testing.T, path string) (vcodec, acodec string, w, h int, fps string, dur float64) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-of", "json", "-show_streams", "-show_format", path).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	var p struct {
		Streams []struct {
			CodecType  string `json:"codec_type"`
			CodecName  string `json:"codec_name"`
			Width      int    `json:"width"`
			Height     int    `json:"height"`
			RFrameRate string `json:"r_frame_rate"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Streams {
		switch s.CodecType {
		case "video":
			vcodec, w, h, fps = s.CodecName, s.Width, s.Height, s.RFrameRate
		case "audio":
			acodec = s.CodecName
		}
	}
	dur, _ = strconv.ParseFloat(p.Format.Duration, 64)
	return
}

func audioSeconds(t *testing.T, path string) float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	d, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
