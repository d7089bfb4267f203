package still

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/refusal"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

const fixtures = "../../../testdata"

func TestGenerate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, image, audio string
		width, height, fps int
	}{
		{"portrait with wav", "astronaut.png", "speech_en_4s.wav", 512, 512, 25},
		{"landscape cropped, mp3", "chelsea.png", "speech_en_12s.mp3", 320, 240, 10},
		{"float wav, odd fps", "coffee.png", "speech_en_4s_f32.wav", 256, 144, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			dir := t.TempDir()
			audio := filepath.Join(fixtures, tt.audio)
			req := generator.Request{
				ImagePath: filepath.Join(fixtures, tt.image), AudioPath: audio, AudioFormat: strings.TrimPrefix(filepath.Ext(audio), "."),
				Width: tt.width, Height: tt.height, FPS: tt.fps,
				OutputPath: filepath.Join(dir, "out.mp4"),
			}
			var rec progressRecorder
			res, err := New("", "").Generate(ctx, req, rec.record)
			if err != nil {
				t.Fatal(err)
			}

			audioDur := secs(testkit.Probe(t, audio).Duration)
			frameDur := time.Second / time.Duration(tt.fps)
			out := testkit.Probe(t, req.OutputPath)
			if out.VideoCodec != "h264" || out.AudioCodec != "aac" {
				t.Errorf("codecs %q + %q, want h264 + aac", out.VideoCodec, out.AudioCodec)
			}
			if out.Width != tt.width || out.Height != tt.height || out.FPS != strconv.Itoa(tt.fps)+"/1" {
				t.Errorf("video %dx%d at %s, want %dx%d at %d/1", out.Width, out.Height, out.FPS, tt.width, tt.height, tt.fps)
			}
			if diff := (secs(out.Duration) - audioDur).Abs(); diff > frameDur {
				t.Errorf("video lasts %v, audio %v: more than one frame apart", secs(out.Duration), audioDur)
			}
			if diff := (secs(out.AudioDuration) - audioDur).Abs(); diff > frameDur {
				t.Errorf("audio track lasts %.3f s, input audio %v", out.AudioDuration, audioDur)
			}

			wantFrames := frameCount(audioDur, tt.fps)
			info, _ := os.Stat(req.OutputPath)
			want := generator.Result{Duration: secs(out.Duration), Width: tt.width, Height: tt.height, FPS: tt.fps, Frames: wantFrames, Size: info.Size()}
			if !reflect.DeepEqual(res, want) {
				t.Errorf("result %+v, want %+v", res, want)
			}
			if out.Frames != wantFrames {
				t.Errorf("video has %d frames, want %d", out.Frames, wantFrames)
			}
			rec.check(t, wantFrames)
			assertOnly(t, dir, "out.mp4")
		})
	}
}

func TestGenerateCancel(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	req := generator.Request{
		ImagePath: filepath.Join(fixtures, "astronaut.png"), AudioPath: filepath.Join(fixtures, "speech_en_12s.wav"),
		Width: 1920, Height: 1080, FPS: 60, OutputPath: filepath.Join(dir, "out.mp4"),
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cancelled time.Time
	var once sync.Once
	_, err := New("", "").Generate(ctx, req, func(done, total int) {
		once.Do(func() { // ffmpeg is mid-encode: it has reported frames but not all
			if done >= total {
				t.Errorf("first progress report %d/%d is already the end; make the video longer", done, total)
			}
			cancelled = time.Now()
			cancel()
		})
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if cancelled.IsZero() {
		t.Fatal("progress was never reported, so the cancel did not happen mid-run")
	}
	if took := time.Since(cancelled); took > 2*time.Second {
		t.Errorf("Generate returned %v after cancel", took)
	}
	assertOnly(t, dir)
}

func TestGenerateFailures(t *testing.T) {
	t.Parallel()
	good := generator.Request{
		ImagePath: filepath.Join(fixtures, "astronaut.png"), AudioPath: filepath.Join(fixtures, "speech_en_4s.wav"),
		Width: 128, Height: 128, FPS: 10,
	}
	tests := []struct {
		name      string
		gen       *Generator
		edit      func(r *generator.Request)
		wantInput string // refusal code, or "" for an ordinary error
	}{
		{name: "missing output directory", edit: func(r *generator.Request) { r.OutputPath = filepath.Join(r.OutputPath, "no", "such", "dir", "out.mp4") }},
		{name: "odd width", edit: func(r *generator.Request) { r.Width = 127 }},
		{name: "zero fps", edit: func(r *generator.Request) { r.FPS = 0 }},
		{name: "no ffmpeg", gen: New("/nonexistent/ffmpeg", "")},
		{name: "no ffprobe", gen: New("", "/nonexistent/ffprobe")},
		{name: "truncated image", edit: func(r *generator.Request) { r.ImagePath = filepath.Join(fixtures, "truncated.jpg") }, wantInput: refusal.CodeInvalidImage},
		{name: "audio as image", edit: func(r *generator.Request) { r.ImagePath = filepath.Join(fixtures, "speech_en_4s.wav") }, wantInput: refusal.CodeInvalidImage},
		{name: "truncated audio", edit: func(r *generator.Request) { r.AudioPath = filepath.Join(fixtures, "truncated.wav") }, wantInput: refusal.CodeInvalidAudio},
		{name: "image as audio", edit: func(r *generator.Request) { r.AudioPath = filepath.Join(fixtures, "coffee.png") }, wantInput: refusal.CodeInvalidAudio},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			dir := t.TempDir()
			req := good
			req.OutputPath = filepath.Join(dir, "out.mp4")
			if tt.edit != nil {
				tt.edit(&req)
			}
			gen := tt.gen
			if gen == nil {
				gen = New("", "")
			}
			_, err := gen.Generate(ctx, req, nil)
			if err == nil {
				t.Fatal("Generate succeeded")
			}
			t.Logf("error: %v", err)
			var ie *refusal.Error
			isInput := errors.As(err, &ie)
			switch {
			case tt.wantInput == "" && isInput:
				t.Errorf("got a refusal %v, want an ordinary error", ie)
			case tt.wantInput != "" && (!isInput || ie.Code != tt.wantInput):
				t.Errorf("got %v, want the refusal %s", err, tt.wantInput)
			}
			if isInput && (strings.Contains(ie.Message, dir) || strings.Contains(ie.Message, "testdata")) {
				t.Errorf("customer message %q reveals a path", ie.Message)
			}
			// The customer reads plain words; ffmpeg's own are for the log.
			plain := map[string]bool{"the image could not be decoded": true, "the audio could not be decoded": true, "the audio could not be read": true}
			if isInput && (!plain[ie.Message] || ie.Detail == "") {
				t.Errorf("message %q (detail %q), want plain words and the tool's in the detail", ie.Message, ie.Detail)
			}
			assertOnly(t, dir)
		})
	}
}

// progressRecorder keeps every progress report.
type progressRecorder struct {
	mu      sync.Mutex
	reports [][2]int
}

func (r *progressRecorder) record(done, total int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, [2]int{done, total})
}

// check asserts the reports rise steadily to total.
func (r *progressRecorder) check(t *testing.T, total int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reports) == 0 {
		t.Fatal("progress was never reported")
	}
	prev := 0
	for _, rep := range r.reports {
		if rep[1] != total || rep[0] <= prev || rep[0] > total {
			t.Fatalf("reports %v: want rising counts out of %d", r.reports, total)
		}
		prev = rep[0]
	}
	if prev != total {
		t.Errorf("last report %d/%d, want %d/%d", prev, total, total, total)
	}
}

// assertOnly fails unless dir holds exactly the named files: no partial
// output, no temporary file.
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("directory holds %v, want %v", got, names)
	}
}

// secs is a duration of ffprobe's, in seconds, as a time.Duration.
func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
