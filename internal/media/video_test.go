package media

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/refusal"
)

// speech4s is the length of speech_en_4s.wav.
const speech4s = 4658594 * time.Microsecond

// videoOf makes a 128x128 video of chelsea.png at 5 fps over
// speech_en_4s.wav with ffmpeg: args choose the codecs, the container and
// the length.
func videoOf(args ...string) func(*testing.T) string {
	return func(t *testing.T) string {
		in := []string{"-loop", "1", "-framerate", "5", "-i", filepath.Join(fixtures, "chelsea.png"),
			"-i", filepath.Join(fixtures, "speech_en_4s.wav"), "-vf", "scale=128:128,format=yuv420p"}
		return ffmpegMake(t, append(in, args...)...)
	}
}

// h264 is the video the service promises: H.264 and AAC in MP4, as long
// as the speech, its index first (so that a cut leaves the index whole).
var h264 = []string{"-t", "4.66", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-movflags", "+faststart", "-f", "mp4"}

func TestCheckVideo(t *testing.T) {
	t.Parallel()
	want := VideoWant{Audio: speech4s, Width: 128, Height: 128}
	tests := []struct {
		name      string
		path      func(t *testing.T) string
		want      VideoWant
		wantInMsg string // "" for a video that passes
	}{
		{name: "h264 and aac", path: videoOf(h264...), want: want},
		{name: "nothing wanted", path: videoOf(h264...)},
		{name: "index last", path: videoOf("-t", "4.66", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-f", "mp4"), want: want},
		{name: "within the tolerance", path: videoOf(h264...), want: VideoWant{Audio: speech4s + 400*time.Millisecond}},

		{name: "mpeg-4 part 2", path: videoOf("-t", "4.66", "-c:v", "mpeg4", "-c:a", "aac", "-f", "mp4"), want: want,
			wantInMsg: "picture is not H.264"},
		{name: "mp3 sound", path: videoOf("-t", "4.66", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "libmp3lame", "-f", "mp4"),
			want: want, wantInMsg: "sound is not AAC"},
		{name: "no audio", path: videoOf("-t", "4.66", "-an", "-c:v", "libx264", "-preset", "ultrafast", "-f", "mp4"), want: want,
			wantInMsg: "0 audio streams"},
		{name: "no video", path: func(t *testing.T) string {
			return ffmpegMake(t, "-i", filepath.Join(fixtures, "speech_en_4s.wav"), "-c:a", "aac", "-f", "mp4")
		}, want: want, wantInMsg: "0 video streams"},
		{name: "quicktime", path: videoOf(append(h264[:len(h264)-1:len(h264)-1], "mov")...), want: want,
			wantInMsg: "looks like a QuickTime video"},
		{name: "wav named .mp4", path: func(t *testing.T) string {
			b, err := os.ReadFile(filepath.Join(fixtures, "speech_en_4s.wav"))
			if err != nil {
				t.Fatal(err)
			}
			return writeFile(t, "video.mp4", b)
		}, want: want, wantInMsg: "not an MP4 file: it looks like a WAV audio file"},
		{name: "random bytes", path: func(t *testing.T) string {
			b := make([]byte, 64<<10)
			r := rand.NewChaCha8([32]byte{7})
			_, _ = r.Read(b)
			return writeFile(t, "video.mp4", b)
		}, want: want, wantInMsg: "not an MP4 file"},
		{name: "empty", path: func(t *testing.T) string { return writeFile(t, "video.mp4", nil) }, want: want, wantInMsg: "empty"},
		{name: "cut short, index first", path: func(t *testing.T) string { return cut(t, videoOf(h264...)(t)) }, want: want,
			wantInMsg: "truncated"},
		{name: "cut short, index last", path: func(t *testing.T) string {
			return cut(t, videoOf("-t", "4.66", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-f", "mp4")(t))
		}, want: want, wantInMsg: "could not be read"},
		{name: "too short", path: videoOf("-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-f", "mp4"), want: want,
			wantInMsg: "the generated video lasts 2 seconds, but the audio lasts 4.66 seconds"},
		{name: "too long", path: videoOf(h264...), want: VideoWant{Audio: 3 * time.Second},
			wantInMsg: "lasts 4.66 seconds, but the audio lasts 3 seconds"},
		{name: "picture stops early", path: func(t *testing.T) string {
			return ffmpegMake(t, "-loop", "1", "-framerate", "5", "-t", "1", "-i", filepath.Join(fixtures, "chelsea.png"),
				"-i", filepath.Join(fixtures, "speech_en_4s.wav"), "-vf", "scale=128:128,format=yuv420p",
				"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-f", "mp4")
		}, want: want, wantInMsg: "picture lasts 1 seconds"},
		{name: "wrong size", path: videoOf(h264...), want: VideoWant{Audio: speech4s, Width: 256, Height: 128},
			wantInMsg: "is 128x128 pixels, not the 256x128 asked for"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := tt.path(t)
			got, err := Prober{}.CheckVideo(context.Background(), path, tt.want)
			if tt.wantInMsg != "" {
				if codeOf(err) != CodeInvalidVideo {
					t.Fatalf("err = %v, want %s", err, CodeInvalidVideo)
				}
				msg := err.(*refusal.Error).Message
				t.Logf("refused: %s", err)
				if !strings.Contains(msg, tt.wantInMsg) {
					t.Errorf("message %q does not say %q", msg, tt.wantInMsg)
				}
				if strings.Contains(msg, filepath.Base(path)) || strings.Contains(msg, filepath.Dir(path)) {
					t.Errorf("message %q names the file", msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got.Width != 128 || got.Height != 128 || got.VideoCodec != "h264" || got.AudioCodec != "aac" ||
				got.FPS != 5 || got.Bytes != info.Size() {
				t.Errorf("facts %+v", got)
			}
			// 4.66 s at 5 fps: 24 frames (the last one shown 0.14 s).
			if got.Frames < 23 || got.Frames > 24 || (got.Duration-speech4s).Abs() > 200*time.Millisecond {
				t.Errorf("%d frames over %s, want 23 or 24 over about %s", got.Frames, got.Duration, speech4s)
			}
		})
	}
}

// cut writes the first half of the file at path to a new file.
func cut(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "cut.mp4", b[:len(b)/2])
}

func TestCheckVideoFailuresAreNotRefusals(t *testing.T) {
	t.Parallel()
	video := videoOf(h264...)(t)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name   string
		ctx    context.Context
		prober Prober
		path   string
	}{
		{"ffprobe missing", context.Background(), Prober{FFprobe: "/nonexistent/ffprobe"}, video},
		{"context cancelled", cancelled, Prober{}, video},
		{"file missing", context.Background(), Prober{}, filepath.Join(t.TempDir(), "gone.mp4")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.prober.CheckVideo(tt.ctx, tt.path, VideoWant{})
			var re *refusal.Error
			if err == nil || errors.As(err, &re) {
				t.Fatalf("err = %v, want an ordinary error", err)
			}
		})
	}
}

func TestVideoTolerance(t *testing.T) {
	t.Parallel()
	for audio, want := range map[time.Duration]time.Duration{
		time.Second:      500 * time.Millisecond,
		10 * time.Second: 500 * time.Millisecond,
		time.Minute:      3 * time.Second,
	} {
		if got := videoTolerance(audio); got != want {
			t.Errorf("videoTolerance(%s) = %s, want %s", audio, got, want)
		}
	}
}
