package media

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/refusal"
)

func TestCanonicalAudio(t *testing.T) {
	t.Parallel()
	speech := filepath.Join(fixtures, "speech_en_4s.wav")
	encode := func(args ...string) func(*testing.T) string {
		return func(t *testing.T) string { return ffmpegMake(t, append([]string{"-i", speech}, args...)...) }
	}
	tests := []struct {
		name      string
		path      func(t *testing.T) string
		lim       Limits
		wantCode  string
		want      Audio // Format, Codec, SampleRate, Channels are compared
		wantDur   time.Duration
		wantInMsg string
	}{
		{name: "wav", path: fixture("speech_en_4s.wav"),
			want: Audio{Format: "wav", Codec: "pcm_s16le", SampleRate: 22050, Channels: 1}, wantDur: 4658594 * time.Microsecond},
		{name: "long wav", path: fixture("speech_en_12s.wav"),
			want: Audio{Format: "wav", Codec: "pcm_s16le", SampleRate: 22050, Channels: 1}, wantDur: 13743673 * time.Microsecond},
		{name: "float wav", path: fixture("speech_en_4s_f32.wav"),
			want: Audio{Format: "wav", Codec: "pcm_f32le", SampleRate: 22050, Channels: 1}, wantDur: 4658594 * time.Microsecond},
		{name: "silence", path: fixture("silence_3s.wav"),
			want: Audio{Format: "wav", Codec: "pcm_s16le", SampleRate: 16000, Channels: 1}, wantDur: 3 * time.Second},
		{name: "vbr mp3", path: fixture("speech_en_12s.mp3"),
			want: Audio{Format: "mp3", Codec: "mp3", SampleRate: 22050, Channels: 1}, wantDur: 13743673 * time.Microsecond},
		{name: "ogg opus", path: encode("-c:a", "libopus", "-f", "ogg"),
			want: Audio{Format: "ogg", Codec: "opus", SampleRate: 48000, Channels: 1}},
		{name: "flac", path: encode("-c:a", "flac", "-f", "flac"),
			want: Audio{Format: "flac", Codec: "flac", SampleRate: 22050, Channels: 1}},
		{name: "m4a", path: encode("-c:a", "aac", "-f", "ipod"),
			want: Audio{Format: "m4a", Codec: "aac", SampleRate: 22050, Channels: 1}},
		{name: "webm opus", path: encode("-c:a", "libopus", "-f", "webm"),
			want: Audio{Format: "webm", Codec: "opus", SampleRate: 48000, Channels: 1}},
		{name: "adts aac", path: encode("-c:a", "aac", "-f", "adts"),
			want: Audio{Format: "aac", Codec: "aac", SampleRate: 22050, Channels: 1}},
		{name: "mp3 with cover art", path: func(t *testing.T) string {
			return ffmpegMake(t, "-i", speech, "-i", filepath.Join(fixtures, "astronaut.png"),
				"-map", "0", "-map", "1", "-c:a", "libmp3lame", "-c:v", "png", "-disposition:v", "attached_pic", "-f", "mp3")
		}, want: Audio{Format: "mp3", Codec: "mp3", SampleRate: 22050, Channels: 1}},

		{name: "truncated wav", path: fixture("truncated.wav"), wantCode: refusal.CodeInvalidAudio, wantInMsg: "truncated or corrupt"},
		{name: "wav cut mid-file", path: func(t *testing.T) string { return prefixOf(t, "speech_en_4s.wav", 100_000) },
			wantCode: refusal.CodeInvalidAudio, wantInMsg: "truncated"},
		{name: "mp3 cut in half", path: func(t *testing.T) string { return prefixOf(t, "speech_en_12s.mp3", 60_000) },
			wantCode: refusal.CodeInvalidAudio, wantInMsg: "only 6.87 seconds"},
		{name: "video", path: func(t *testing.T) string {
			return ffmpegMake(t, "-loop", "1", "-framerate", "5", "-i", filepath.Join(fixtures, "astronaut.png"),
				"-i", speech, "-shortest", "-c:v", "libx264", "-c:a", "aac", "-f", "mp4")
		}, wantCode: CodeUnsupportedAudioType, wantInMsg: "video"},
		{name: "two audio streams", path: func(t *testing.T) string {
			return ffmpegMake(t, "-i", speech, "-i", speech, "-map", "0", "-map", "1", "-c:a", "libopus", "-f", "webm")
		}, wantCode: refusal.CodeInvalidAudio, wantInMsg: "2 audio streams"},
		{name: "matroska", path: encode("-c:a", "flac", "-f", "matroska"), wantCode: CodeUnsupportedAudioType, wantInMsg: "Matroska"},
		{name: "image", path: fixture("astronaut.png"), wantCode: CodeUnsupportedAudioType, wantInMsg: "PNG"},
		{name: "empty", path: func(t *testing.T) string { return writeFile(t, "a.wav", nil) },
			wantCode: CodeUnsupportedAudioType, wantInMsg: "empty"},
		{name: "wav header only", path: func(t *testing.T) string { return prefixOf(t, "speech_en_4s.wav", 44) },
			wantCode: refusal.CodeInvalidAudio},
		{name: "too long", path: fixture("speech_en_4s.wav"), lim: Limits{MaxAudioDuration: 2 * time.Second},
			wantCode: CodeAudioTooLong, wantInMsg: "lasts 4.66 seconds; it may last at most 2 seconds"},
		{name: "too long without a trusted header", path: encode("-c:a", "aac", "-f", "adts"), lim: Limits{MaxAudioDuration: 2 * time.Second},
			wantCode: CodeAudioTooLong, wantInMsg: "at most 2 seconds"},
		{name: "too short", path: fixture("silence_3s.wav"), lim: Limits{MinAudioDuration: 5 * time.Second},
			wantCode: CodeAudioTooShort, wantInMsg: "lasts 3 seconds; it must last at least 5 seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := tt.path(t)
			dst := filepath.Join(t.TempDir(), "audio.wav")
			got, err := Prober{}.CanonicalAudio(context.Background(), path, dst, tt.lim)
			if code := codeOf(err); code != tt.wantCode {
				t.Fatalf("code = %q, want %q (err %v)", code, tt.wantCode, err)
			}
			if err != nil {
				if _, serr := os.Stat(dst); serr == nil {
					t.Error("a refused upload left its canonical file behind")
				}
				msg := err.(*refusal.Error).Message
				t.Logf("refused: %s", msg)
				if !strings.Contains(msg, tt.wantInMsg) {
					t.Errorf("message %q does not mention %q", msg, tt.wantInMsg)
				}
				if strings.Contains(msg, filepath.Base(path)) || strings.Contains(msg, "testdata") {
					t.Errorf("message %q leaks the file path", msg)
				}
				return
			}
			if got.Format != tt.want.Format || got.Codec != tt.want.Codec ||
				got.SampleRate != tt.want.SampleRate || got.Channels != tt.want.Channels {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if got.ContentType != "audio/wav" || got.Ext != ".wav" {
				t.Errorf("content type %q, ext %q", got.ContentType, got.Ext)
			}
			canon := ffprobeJSON(t, dst)
			if len(canon.Streams) != 1 || canon.Streams[0].CodecName != "pcm_s16le" || canon.Format.FormatName != "wav" ||
				canon.Streams[0].SampleRate != strconv.Itoa(got.SampleRate) || canon.Streams[0].Channels != got.Channels {
				t.Errorf("canonical form %+v, want one pcm_s16le stream in WAV at %d Hz, %d channels", canon, got.SampleRate, got.Channels)
			}
			if len(canon.Format.Tags) > 0 {
				t.Errorf("canonical form keeps metadata %v", canon.Format.Tags)
			}
			wantDur := tt.wantDur
			if wantDur == 0 {
				wantDur = 4658594 * time.Microsecond
			}
			if diff := (got.Duration - wantDur).Abs(); diff > 100*time.Millisecond {
				t.Errorf("duration %v, want %v", got.Duration, wantDur)
			}
		})
	}
}

func TestCanonicalAudioFailuresAreNotCustomerErrors(t *testing.T) {
	t.Parallel()
	speech := viaFFmpeg(t, "speech_en_4s.wav")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name   string
		ctx    context.Context
		prober Prober
		path   string
	}{
		{"ffprobe missing", context.Background(), Prober{FFprobe: "/nonexistent/ffprobe"}, speech},
		{"ffmpeg missing", context.Background(), Prober{FFmpeg: "/nonexistent/ffmpeg"}, speech},
		{"ffmpeg missing, plain WAV", context.Background(), Prober{FFmpeg: "/nonexistent/ffmpeg"}, filepath.Join(fixtures, "speech_en_4s.wav")},
		{"context cancelled", cancelled, Prober{}, speech},
		{"context cancelled, plain WAV", cancelled, Prober{}, filepath.Join(fixtures, "speech_en_4s.wav")},
		{"file missing", context.Background(), Prober{}, filepath.Join(t.TempDir(), "gone.wav")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.prober.CanonicalAudio(tt.ctx, tt.path, filepath.Join(t.TempDir(), "a.wav"), Limits{})
			var me *refusal.Error
			if err == nil || errors.As(err, &me) {
				t.Fatalf("err = %v, want an ordinary error", err)
			}
		})
	}
}

// TestCanonicalAudioPastItsDeadline: an upload whose decoding runs out its
// whole deadline is the upload's fault: refused (and so counted by the
// rate limit), not a 500 that would be given back. The "ffmpeg" here
// sleeps; ffprobe is real.
func TestCanonicalAudioPastItsDeadline(t *testing.T) {
	t.Parallel()
	hang := writeFile(t, "ffmpeg", []byte("#!/bin/sh\nexec sleep 120\n"))
	if err := os.Chmod(hang, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Prober{FFmpeg: hang}.CanonicalAudio(context.Background(), viaFFmpeg(t, "silence_3s.wav"),
		filepath.Join(t.TempDir(), "a.wav"), Limits{MaxAudioDuration: 4 * time.Second})
	if codeOf(err) != refusal.CodeInvalidAudio {
		t.Fatalf("err = %v, want %s", err, refusal.CodeInvalidAudio)
	}
}

// TestCanonicalAudioKilled: a decoder killed from outside (the OOM killer,
// an operator) is not the upload's fault: no refusal, but ErrInterrupted,
// which the API answers with 503 and Retry-After. One that crashes on its
// own (SIGSEGV over a hostile file) still refuses the upload. The
// "ffmpeg" here kills itself; ffprobe is real.
func TestCanonicalAudioKilled(t *testing.T) {
	t.Parallel()
	for signal, refused := range map[string]bool{"KILL": false, "TERM": false, "SEGV": true} {
		t.Run(signal, func(t *testing.T) {
			t.Parallel()
			die := writeFile(t, "ffmpeg", []byte("#!/bin/sh\nkill -"+signal+" $$\n"))
			if err := os.Chmod(die, 0o700); err != nil {
				t.Fatal(err)
			}
			_, err := Prober{FFmpeg: die}.CanonicalAudio(context.Background(), viaFFmpeg(t, "speech_en_4s.wav"),
				filepath.Join(t.TempDir(), "a.wav"), Limits{})
			if refused {
				if codeOf(err) != refusal.CodeInvalidAudio {
					t.Fatalf("err = %v, want %s", err, refusal.CodeInvalidAudio)
				}
				return
			}
			var re *refusal.Error
			if errors.As(err, &re) || !errors.Is(err, ErrInterrupted) {
				t.Fatalf("err = %v, want ErrInterrupted and no refusal", err)
			}
		})
	}
}

func TestAudioLength(t *testing.T) {
	t.Parallel()
	d, err := Prober{}.AudioLength(context.Background(), filepath.Join(fixtures, "speech_en_4s.wav"), "wav")
	if err != nil || (d-speech4s).Abs() > time.Millisecond {
		t.Fatalf("AudioLength = %s, %v; want %s", d, err, speech4s)
	}
	_, err = Prober{}.AudioLength(context.Background(), filepath.Join(fixtures, "chelsea.png"), "wav")
	if codeOf(err) != refusal.CodeInvalidAudio {
		t.Fatalf("a PNG read as WAV: %v, want %s", err, refusal.CodeInvalidAudio)
	}
}
