package serverless

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/generator/builtin"
	"github.com/avatar-api/avatar-api/internal/generator/still"
	"github.com/avatar-api/avatar-api/internal/refusal"
	"github.com/avatar-api/avatar-api/internal/runpod"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

func TestMain(m *testing.M) {
	transferBackoff = 10 * time.Millisecond
	os.Exit(m.Run())
}

// secret stands for a signed URL's signature: it must reach no log and
// no error.
const secret = "X-Amz-Signature=s3cr3t"

// storage is a real HTTP server standing for the bucket behind the signed
// URLs: it serves the fixtures under /in/ and takes the video's PUT at
// /out/video.mp4. Statuses queued with fail are answered first, one per
// request to that path.
type storage struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	files   map[string]string // /in/… → fixture path
	fail    map[string][]int  // path → statuses to answer first
	hang    map[string]bool   // path → hold the request until it is cancelled
	video   []byte
	putType string
	putLen  int64
	puts    int
	gets    map[string]int
}

func newStorage(t *testing.T) *storage {
	s := &storage{t: t, files: map[string]string{
		"/in/image.png": testkit.Fixture("chelsea.png"),
		"/in/audio.wav": testkit.Fixture("speech_en_4s.wav"),
	}, fail: map[string][]int{}, hang: map[string]bool{}, gets: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *storage) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("X-Amz-Signature") != "s3cr3t" || r.Header.Get("Authorization") != "" {
		http.Error(w, "not signed as expected", http.StatusForbidden)
		return
	}
	s.mu.Lock()
	if r.Method == http.MethodGet {
		s.gets[r.URL.Path]++
	}
	if st := s.fail[r.URL.Path]; len(st) > 0 {
		s.fail[r.URL.Path] = st[1:]
		s.mu.Unlock()
		w.WriteHeader(st[0])
		return
	}
	hang, file := s.hang[r.URL.Path], s.files[r.URL.Path]
	s.mu.Unlock()
	if hang {
		<-r.Context().Done()
		return
	}
	switch {
	case r.Method == http.MethodGet && file != "":
		http.ServeFile(w, r, file)
	case r.Method == http.MethodPut && r.URL.Path == "/out/video.mp4":
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.video, s.putType, s.putLen = b, r.Header.Get("Content-Type"), r.ContentLength
		s.puts++
		s.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	default:
		http.NotFound(w, r)
	}
}

// count is how many GETs path had, and how many videos were stored.
func (s *storage) count(path string) (gets, puts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets[path], s.puts
}

// input is a job for s's files.
func (s *storage) input() runpod.Input {
	exp := time.Now().Add(time.Hour)
	return runpod.Input{
		Version: runpod.Version, JobID: "job_1", Attempt: 1,
		Image:       runpod.Download{URL: s.srv.URL + "/in/image.png?" + secret, Expires: exp, MaxBytes: 10 << 20},
		Audio:       runpod.Download{URL: s.srv.URL + "/in/audio.wav?" + secret, Expires: exp, MaxBytes: 10 << 20},
		AudioFormat: "wav", AudioDurationMS: 4660,
		Output: runpod.Upload{URL: s.srv.URL + "/out/video.mp4?" + secret, Expires: exp, MaxBytes: 50 << 20},
		Width:  160, Height: 120, FPS: 10, Seed: 7,
	}
}

// uploaded writes the video PUT to a file, for ffprobe.
func (s *storage) uploaded(t *testing.T) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.video == nil {
		t.Fatal("no video was uploaded")
	}
	p := filepath.Join(t.TempDir(), "uploaded.mp4")
	if err := os.WriteFile(p, s.video, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// handler is a Generate with g, its scratch directory and a log the test
// reads.
func handler(t *testing.T, g generator.Generator) (*Generate, *testkit.Buffer) {
	var log testkit.Buffer
	return &Generate{
		Generator: g, Name: "still", PodID: "pod-1", WorkDir: t.TempDir(),
		Log: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}, &log
}

func raw(t *testing.T, in any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkClean fails when the job left anything in its scratch directory,
// or when the log holds a signature.
func checkClean(t *testing.T, h *Generate, log *testkit.Buffer) {
	t.Helper()
	left, err := os.ReadDir(h.WorkDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("the job left %d entries in its work directory", len(left))
	}
	if strings.Contains(log.String(), "s3cr3t") {
		t.Errorf("the log holds a URL's signature:\n%s", log)
	}
}

// TestGenerateMakesAndUploadsTheVideo runs a job end to end on the still
// generator: the inputs are fetched from their signed URLs, the video is
// PUT with its length and type, and the output describes it.
func TestGenerateMakesAndUploadsTheVideo(t *testing.T) {
	t.Parallel()
	s := newStorage(t)
	h, log := handler(t, still.New("", ""))
	var mu sync.Mutex
	var progress []float64
	out, werr := h.Handle(t.Context(), raw(t, s.input()), func(p float64) {
		mu.Lock()
		progress = append(progress, p)
		mu.Unlock()
	})
	if werr != nil {
		t.Fatalf("job failed: %v", werr)
	}
	o := out.(runpod.Output)
	m := testkit.Probe(t, s.uploaded(t))
	if m.VideoCodec != "h264" || m.AudioCodec != "aac" || m.Width != 160 || m.Height != 120 {
		t.Errorf("uploaded video: %+v", m)
	}
	if m.Duration < 4.5 || m.Duration > 4.9 {
		t.Errorf("uploaded video lasts %.2f s; the speech lasts 4.66", m.Duration)
	}
	s.mu.Lock()
	if s.putType != "video/mp4" || s.putLen != int64(len(s.video)) || s.puts != 1 {
		t.Errorf("PUT: Content-Type %q, Content-Length %d of %d bytes, %d PUTs", s.putType, s.putLen, len(s.video), s.puts)
	}
	want := runpod.Video{DurationMS: o.Video.DurationMS, Bytes: int64(len(s.video)), Width: 160, Height: 120, FPS: 10, Frames: o.Video.Frames}
	s.mu.Unlock()
	if o.Version != runpod.Version || o.Video != want || o.Worker != "pod-1" || o.Generator != "still" || o.GPU != nil {
		t.Errorf("output: %+v", o)
	}
	if o.Video.DurationMS < 4500 || o.Video.DurationMS > 4900 || o.Video.Frames < 45 || o.Video.Frames > 49 {
		t.Errorf("output's video: %+v", o.Video)
	}
	if o.Timings.GenerateMS <= 0 {
		t.Errorf("timings: %+v", o.Timings)
	}
	mu.Lock()
	if len(progress) == 0 || progress[len(progress)-1] != 1 {
		t.Errorf("progress reported: %v", progress)
	}
	mu.Unlock()
	checkClean(t, h, log)
}

// TestGenerateWithTheBuiltinAnimator: the real animator behind the same
// handler, with FaceFallback passed through.
func TestGenerateWithTheBuiltinAnimator(t *testing.T) {
	t.Parallel()
	s := newStorage(t)
	h, log := handler(t, builtin.New(""))
	h.Name = "builtin"
	in := s.input()
	in.FaceFallback = true // chelsea is a cat
	out, werr := h.Handle(t.Context(), raw(t, in), func(float64) {})
	if werr != nil {
		t.Fatalf("job failed: %v", werr)
	}
	m := testkit.Probe(t, s.uploaded(t))
	if m.VideoCodec != "h264" || m.AudioCodec != "aac" || m.Duration < 4.5 || m.Duration > 4.9 {
		t.Errorf("uploaded video: %+v", m)
	}
	s.mu.Lock()
	if o := out.(runpod.Output); o.Generator != "builtin" || o.Video.Bytes != int64(len(s.video)) {
		t.Errorf("output: %+v", o)
	}
	s.mu.Unlock()
	checkClean(t, h, log)
}

// TestGenerateRefusesInputItCannotRead: an input of another version, or
// one that is not an input, fails at once, for good.
func TestGenerateRefusesInputItCannotRead(t *testing.T) {
	t.Parallel()
	s := newStorage(t)
	for name, edit := range map[string]func(*runpod.Input){
		"newer version":    func(in *runpod.Input) { in.Version = runpod.Version + 1 },
		"no output limit":  func(in *runpod.Input) { in.Output.MaxBytes = 0 },
		"file URL":         func(in *runpod.Input) { in.Image.URL = "file:///etc/passwd" },
		"unknown demuxer":  func(in *runpod.Input) { in.AudioFormat = "concat" },
		"image as demuxer": func(in *runpod.Input) { in.AudioFormat = "image2" },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h, log := handler(t, still.New("", ""))
			in := s.input()
			edit(&in)
			_, werr := h.Handle(t.Context(), raw(t, in), nil)
			if werr == nil || werr.Code != runpod.CodeBadInput || werr.Retryable {
				t.Fatalf("got %v; want a final %s", werr, runpod.CodeBadInput)
			}
			checkClean(t, h, log)
		})
	}
	t.Run("not JSON of an input", func(t *testing.T) {
		t.Parallel()
		h, _ := handler(t, still.New("", ""))
		_, werr := h.Handle(t.Context(), json.RawMessage(`{"version": "one"}`), nil)
		if werr == nil || werr.Code != runpod.CodeBadInput || werr.Retryable {
			t.Fatalf("got %v; want a final %s", werr, runpod.CodeBadInput)
		}
	})
	t.Run("unknown fields are fine", func(t *testing.T) {
		t.Parallel()
		h, _ := handler(t, still.New("", ""))
		b, _ := json.Marshal(s.input())
		b = append([]byte(`{"added_later": {"x": 1}, `), b[1:]...)
		if _, werr := h.Handle(t.Context(), b, nil); werr != nil {
			t.Fatalf("job failed: %v", werr)
		}
	})
}

// TestGenerateDownloadFailures: a link gone or expired is final; the
// storage failing is retried, and reported retryable when it goes on; an
// input larger than allowed is refused.
func TestGenerateDownloadFailures(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		fail      []int
		maxBytes  int64
		retryable bool
		ok        bool
		gets      int
	}{
		{name: "expired", fail: []int{403}, gets: 1},
		{name: "gone", fail: []int{404}, gets: 1},
		{name: "storage down", fail: []int{503, 503, 503}, retryable: true, gets: 3},
		{name: "storage busy", fail: []int{429, 429, 429}, retryable: true, gets: 3},
		{name: "storage recovers", fail: []int{500, 502}, ok: true, gets: 3},
		{name: "too big", maxBytes: 1000, gets: 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newStorage(t)
			s.fail["/in/audio.wav"] = c.fail
			h, log := handler(t, still.New("", ""))
			in := s.input()
			if c.maxBytes > 0 {
				in.Audio.MaxBytes = c.maxBytes
			}
			_, werr := h.Handle(t.Context(), raw(t, in), nil)
			switch {
			case c.ok && werr != nil:
				t.Fatalf("job failed: %v", werr)
			case !c.ok && (werr == nil || werr.Code != runpod.CodeDownloadFailed || werr.Retryable != c.retryable):
				t.Fatalf("got %v; want %s, retryable %v", werr, runpod.CodeDownloadFailed, c.retryable)
			case !c.ok && (!strings.Contains(werr.Message, "recording") || strings.Contains(werr.Message, "http")):
				t.Errorf("message %q: want the input named, and no URL", werr.Message)
			}
			gets, puts := s.count("/in/audio.wav")
			if gets != c.gets {
				t.Errorf("%d GETs of the audio; want %d", gets, c.gets)
			}
			if !c.ok && puts != 0 {
				t.Error("a video was uploaded")
			}
			checkClean(t, h, log)
		})
	}
}

// TestGenerateUploadFailures: a PUT failing with 5xx is retried; one
// refused is final; a video over the output's limit is not sent.
func TestGenerateUploadFailures(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		fail      []int
		maxBytes  int64
		ok        bool
		retryable bool
		puts      int
	}{
		{name: "storage recovers", fail: []int{503, 500}, ok: true, puts: 1},
		{name: "storage down", fail: []int{503, 503, 503}, retryable: true},
		{name: "expired", fail: []int{403}},
		{name: "too big", maxBytes: 1000},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newStorage(t)
			s.fail["/out/video.mp4"] = c.fail
			h, log := handler(t, still.New("", ""))
			in := s.input()
			if c.maxBytes > 0 {
				in.Output.MaxBytes = c.maxBytes
			}
			_, werr := h.Handle(t.Context(), raw(t, in), nil)
			switch {
			case c.ok && werr != nil:
				t.Fatalf("job failed: %v", werr)
			case !c.ok && (werr == nil || werr.Code != runpod.CodeUploadFailed || werr.Retryable != c.retryable):
				t.Fatalf("got %v; want %s, retryable %v", werr, runpod.CodeUploadFailed, c.retryable)
			}
			if _, puts := s.count(""); puts != c.puts {
				t.Errorf("%d videos stored; want %d", puts, c.puts)
			}
			checkClean(t, h, log)
		})
	}
}

// TestGenerateKeepsTheGeneratorsRefusal: an input the generator refuses
// fails the job with the generator's code and words, for good.
func TestGenerateKeepsTheGeneratorsRefusal(t *testing.T) {
	t.Parallel()
	s := newStorage(t)
	s.files["/in/audio.wav"] = testkit.Fixture("truncated.wav")
	h, log := handler(t, still.New("", ""))
	_, werr := h.Handle(t.Context(), raw(t, s.input()), nil)
	if werr == nil || werr.Code != refusal.CodeInvalidAudio || werr.Retryable {
		t.Fatalf("got %v; want a final %s", werr, refusal.CodeInvalidAudio)
	}
	if strings.Contains(werr.Message, h.WorkDir) || strings.Contains(werr.Message, "/") {
		t.Errorf("message %q names a path", werr.Message)
	}
	checkClean(t, h, log)
}

// TestGenerateStopsAndTimesOut: the worker stopping (ctx) fails the job
// retryable, with CodeStopped; the job's own limit fails it for good.
func TestGenerateStopsAndTimesOut(t *testing.T) {
	t.Parallel()
	t.Run("stopped", func(t *testing.T) {
		t.Parallel()
		s := newStorage(t)
		s.hang["/in/image.png"] = true
		h, log := handler(t, still.New("", ""))
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(200*time.Millisecond, cancel)
		_, werr := h.Handle(ctx, raw(t, s.input()), nil)
		if werr == nil || werr.Code != runpod.CodeStopped || !werr.Retryable {
			t.Fatalf("got %v; want a retryable %s", werr, runpod.CodeStopped)
		}
		checkClean(t, h, log)
	})
	t.Run("timed out", func(t *testing.T) {
		t.Parallel()
		s := newStorage(t)
		s.hang["/in/image.png"] = true
		h, log := handler(t, still.New("", ""))
		h.Timeout = 200 * time.Millisecond
		_, werr := h.Handle(t.Context(), raw(t, s.input()), nil)
		if werr == nil || werr.Code != runpod.CodeGeneration || werr.Retryable {
			t.Fatalf("got %v; want a final %s", werr, runpod.CodeGeneration)
		}
		checkClean(t, h, log)
	})
}

// TestGenerateSamplesTheGPU: with nvidia-smi (here a script printing what
// the real one prints), the output carries its readings; a figure the
// GPU did not give is -1, since JSON has no NaN.
func TestGenerateSamplesTheGPU(t *testing.T) {
	t.Parallel()
	s := newStorage(t)
	smi := filepath.Join(t.TempDir(), "nvidia-smi")
	script := "#!/bin/sh\necho '47, 1934, 24576'\necho '[N/A], 100, 24576'\n"
	if err := os.WriteFile(smi, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	h, log := handler(t, still.New("", ""))
	h.NvidiaSMI, h.SampleEvery = smi, 50*time.Millisecond
	out, werr := h.Handle(t.Context(), raw(t, s.input()), nil)
	if werr != nil {
		t.Fatalf("job failed: %v", werr)
	}
	o := out.(runpod.Output)
	if len(o.GPU) < 2 || len(o.GPU)%2 != 0 {
		t.Fatalf("GPU samples: %+v", o.GPU)
	}
	g0, g1 := o.GPU[0], o.GPU[1]
	if g0.GPU != 0 || g0.Utilization != 0.47 || g0.MemoryUsedBytes != 1934<<20 || g0.MemoryTotalBytes != 24576<<20 || g0.At.IsZero() {
		t.Errorf("first GPU: %+v", g0)
	}
	if g1.GPU != 1 || g1.Utilization != -1 || g1.MemoryUsedBytes != 100<<20 {
		t.Errorf("second GPU: %+v", g1)
	}
	if _, err := json.Marshal(o); err != nil {
		t.Errorf("the output does not encode: %v", err)
	}
	checkClean(t, h, log)
}

// TestGenerateWithoutNvidiaSMI: a missing nvidia-smi costs the readings,
// not the video.
func TestGenerateWithoutNvidiaSMI(t *testing.T) {
	t.Parallel()
	s := newStorage(t)
	h, _ := handler(t, still.New("", ""))
	h.NvidiaSMI = filepath.Join(t.TempDir(), "no-nvidia-smi")
	out, werr := h.Handle(t.Context(), raw(t, s.input()), nil)
	if werr != nil {
		t.Fatalf("job failed: %v", werr)
	}
	if o := out.(runpod.Output); len(o.GPU) != 0 {
		t.Errorf("GPU samples: %+v", o.GPU)
	}
}
