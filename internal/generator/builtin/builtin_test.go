package builtin

import (
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/generator/audio"
	"github.com/avatar-api/avatar-api/internal/generator/face"
	"github.com/avatar-api/avatar-api/internal/refusal"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

func request(t *testing.T, image, sound string) generator.Request {
	t.Helper()
	format := "wav"
	if filepath.Ext(sound) == ".mp3" {
		format = "mp3"
	}
	return generator.Request{
		ImagePath: fixture(image), AudioPath: fixture(sound), AudioFormat: format, Width: 512, Height: 512, FPS: 25, Seed: 7,
		OutputPath: filepath.Join(t.TempDir(), "out.mp4"),
	}
}

// TestVideos: the portrait with each recording gives an H.264 + AAC MP4 of
// the asked size and rate, as long as the decoded audio within one frame.
func TestVideos(t *testing.T) {
	t.Parallel()
	cases := []struct {
		sound         string
		width, height int
		fps           int
	}{
		{"speech_en_4s.wav", 512, 512, 25},
		{"speech_en_12s.wav", 512, 512, 25},
		{"speech_en_12s.mp3", 256, 256, 25},
		{"speech_en_4s_f32.wav", 320, 240, 30},
	}
	for _, c := range cases {
		t.Run(c.sound, func(t *testing.T) {
			t.Parallel()
			req := request(t, "astronaut.png", c.sound)
			req.Width, req.Height, req.FPS = c.width, c.height, c.fps
			var last, total int
			res, err := New("").Generate(context.Background(), req, func(done, n int) { last, total = done, n })
			if err != nil {
				t.Fatal(err)
			}
			if last != total || total != res.Frames {
				t.Errorf("progress ended at %d/%d, %d frames", last, total, res.Frames)
			}
			p := testkit.ProbeFrames(t, req.OutputPath)
			pcm, err := audio.Decode(context.Background(), "", audio.Input{Path: req.AudioPath, Format: req.Demuxer()})
			if err != nil {
				t.Fatal(err)
			}
			want, frame := pcm.Duration().Seconds(), 1/float64(c.fps)
			if p.VideoCodec != "h264" || p.AudioCodec != "aac" || p.Width != c.width || p.Height != c.height ||
				p.FPS != strconv.Itoa(c.fps)+"/1" || p.PixFmt != "yuv420p" || math.Abs(p.Duration-want) > frame {
				t.Fatalf("video %+v; want h264/aac %dx%d %d fps yuv420p, %.3f s ± %.3f", p, c.width, c.height, c.fps, want, frame)
			}
			if p.Frames != res.Frames || res.Frames != int(math.Ceil(want*float64(c.fps)-1e-9)) {
				t.Errorf("%d frames in the file, %d reported, want ceil(%.4f × %d)", p.Frames, res.Frames, want, c.fps)
			}
			t.Logf("%s: %.3f s video for %.3f s audio, %d frames, %d bytes", c.sound, p.Duration, want, p.Frames, res.Size)
		})
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		image, sound, code string
	}{
		{"chelsea.png", "speech_en_4s.wav", face.CodeNoFace},
		{"coffee.png", "speech_en_4s.wav", face.CodeNoFace},
		{"truncated.jpg", "speech_en_4s.wav", refusal.CodeInvalidImage},
		{"astronaut.png", "truncated.wav", refusal.CodeInvalidAudio},
	}
	for _, c := range cases {
		t.Run(c.image+"+"+c.sound, func(t *testing.T) {
			t.Parallel()
			req := request(t, c.image, c.sound)
			_, err := New("").Generate(context.Background(), req, nil)
			var ie *refusal.Error
			if !errors.As(err, &ie) || ie.Code != c.code {
				t.Fatalf("err = %v, want input error %s", err, c.code)
			}
			if ie.Message == "" || containsPath(ie.Message) {
				t.Errorf("message %q", ie.Message)
			}
			// The customer reads plain words; the decoder's own are for the log.
			if plain := map[string]string{refusal.CodeInvalidImage: "the image could not be decoded", refusal.CodeInvalidAudio: "the audio could not be decoded"}[ie.Code]; plain != "" &&
				(ie.Message != plain || ie.Detail == "") {
				t.Errorf("message %q (detail %q), want %q and the decoder's words in the detail", ie.Message, ie.Detail, plain)
			}
			if _, err := os.Stat(req.OutputPath); !os.IsNotExist(err) {
				t.Error("an output file was left")
			}
			if entries, _ := os.ReadDir(filepath.Dir(req.OutputPath)); len(entries) != 0 {
				t.Errorf("files left: %v", entries)
			}
		})
	}
	t.Run("fallback animates the estimated face", func(t *testing.T) {
		t.Parallel()
		req := request(t, "coffee.png", "speech_en_4s.wav")
		req.FaceFallback, req.Width, req.Height = true, 256, 256
		if _, err := New("").Generate(context.Background(), req, nil); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCancel(t *testing.T) {
	t.Parallel()
	req := request(t, "astronaut.png", "speech_en_12s.wav")
	ctx, cancel := context.WithCancel(context.Background())
	start := time.Now()
	_, err := New("").Generate(ctx, req, func(done, _ int) {
		if done == 20 {
			cancel()
		}
	})
	if err == nil {
		t.Fatal("no error after cancel")
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("took %s", took)
	}
	if entries, _ := os.ReadDir(filepath.Dir(req.OutputPath)); len(entries) != 0 {
		t.Errorf("files left after cancel: %v", entries)
	}
}

// TestDeterministic: the same inputs and seed give the same frames.
func TestDeterministic(t *testing.T) {
	t.Parallel()
	var sums [2]string
	for i := range sums {
		req := request(t, "astronaut.png", "speech_en_4s.wav")
		req.Width, req.Height = 256, 256
		if _, err := New("").Generate(context.Background(), req, nil); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("ffmpeg", "-v", "error", "-i", req.OutputPath, "-map", "0:v", "-f", "md5", "-").Output()
		if err != nil {
			t.Fatal(err)
		}
		sums[i] = string(out)
	}
	if sums[0] != sums[1] {
		t.Fatalf("two runs differ: %s vs %s", sums[0], sums[1])
	}
}

// containsPath reports whether s shows a file system path.
func containsPath(s string) bool {
	wd, _ := os.Getwd()
	return strings.Contains(s, wd) || strings.Contains(s, os.TempDir()+"/")
}
