package audio

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/ffmpeg"
)

func TestDecode(t *testing.T) {
	t.Parallel()
	for _, name := range []string{
		"speech_en_4s.wav", "speech_en_12s.wav", "speech_en_12s.mp3",
		"silence_3s.wav", "speech_en_4s_f32.wav",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pcm := decodeFixture(t, name)
			if pcm.Rate != SampleRate {
				t.Errorf("rate %d, want %d", pcm.Rate, SampleRate)
			}
			want := decodedDuration(t, fixture(name))
			if diff := (pcm.Duration() - want).Abs(); diff > 30*time.Millisecond {
				t.Errorf("duration %v, ffprobe decodes %v", pcm.Duration(), want)
			}
			for i, s := range pcm.Samples {
				if s < -1 || s > 1 {
					t.Fatalf("sample %d is %v, outside [-1, 1]", i, s)
				}
			}
			t.Logf("%s: %v (ffprobe %v), %d samples", name, pcm.Duration(), want, len(pcm.Samples))
		})
	}
}

// The float WAV holds the same sound as the 16-bit one, so both decode to
// (almost) the same samples.
func TestDecodeFloatMatchesInt(t *testing.T) {
	t.Parallel()
	i16, f32 := decodeFixture(t, "speech_en_4s.wav"), decodeFixture(t, "speech_en_4s_f32.wav")
	if len(i16.Samples) != len(f32.Samples) {
		t.Fatalf("%d samples vs %d", len(i16.Samples), len(f32.Samples))
	}
	for i := range i16.Samples {
		if d := i16.Samples[i] - f32.Samples[i]; d > 0.01 || d < -0.01 {
			t.Fatalf("sample %d: %v vs %v", i, i16.Samples[i], f32.Samples[i])
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	needFFmpeg(t)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.wav")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		want       error
	}{
		{"missing file", filepath.Join(dir, "nope.wav"), fs.ErrNotExist},
		{"image, no audio stream", fixture("chelsea.png"), ErrInvalid},
		{"text file", fixture("README.md"), ErrInvalid},
		{"empty file", empty, ErrInvalid},
		{"truncated wav", fixture("truncated.wav"), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Decode(context.Background(), "", Input{Path: tt.path, Format: "wav"})
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			abs, _ := filepath.Abs(tt.path)
			for _, p := range []string{tt.path, abs, filepath.Base(tt.path), dir} {
				if strings.Contains(err.Error(), p) {
					t.Errorf("error %q reveals %q", err, p)
				}
			}
			t.Logf("%s: %v", tt.name, err)
		})
	}
}

func TestDecodeNoFFmpeg(t *testing.T) {
	t.Parallel()
	_, err := Decode(context.Background(), filepath.Join(t.TempDir(), "no-ffmpeg"), fixtureInput("speech_en_4s.wav"))
	if err == nil || errors.Is(err, ErrInvalid) {
		t.Fatalf("error %v: want a service error, not an input one", err)
	}
}

// ffmpeg is made to read at real-time speed (-re) by a wrapper, so that the
// decode is certainly still running when ctx is cancelled.
func TestDecodeCancel(t *testing.T) {
	t.Parallel()
	needFFmpeg(t)
	slow := filepath.Join(t.TempDir(), "slow-ffmpeg")
	if err := os.WriteFile(slow, []byte("#!/bin/sh\nexec ffmpeg -re \"$@\"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	_, err := Decode(ctx, slow, fixtureInput("speech_en_12s.wav"))
	took := time.Since(start)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if took > 2*time.Second {
		t.Errorf("Decode returned %v after start, want soon after the cancel at 300ms", took)
	}
	t.Logf("cancelled decode returned after %v: %v", took, err)
}

// ffmpeg's pipe may split a sample between two writes.
func TestSampleWriterSplitWrites(t *testing.T) {
	t.Parallel()
	want := []int16{0, 1, -1, 32767, -32768, 1234, -4321}
	var raw bytes.Buffer
	if err := binary.Write(&raw, binary.LittleEndian, want); err != nil {
		t.Fatal(err)
	}
	for _, chunk := range []int{1, 2, 3, 5, len(raw.Bytes())} {
		w := &sampleWriter{max: 100}
		b := raw.Bytes()
		for len(b) > 0 {
			k := min(chunk, len(b))
			if _, err := w.Write(b[:k]); err != nil {
				t.Fatal(err)
			}
			b = b[k:]
		}
		got := make([]int16, len(w.samples))
		for i, s := range w.samples {
			got[i] = int16(s * 32768)
		}
		if !slices.Equal(got, want) {
			t.Errorf("chunks of %d: %v, want %v", chunk, got, want)
		}
	}
}

func TestSampleWriterStopsWhenFull(t *testing.T) {
	t.Parallel()
	w := &sampleWriter{max: 2}
	if _, err := w.Write(make([]byte, 4)); err != nil {
		t.Fatalf("within the limit: %v", err)
	}
	if _, err := w.Write(make([]byte, 2)); err == nil || !w.full {
		t.Fatalf("past the limit: err %v, full %v", err, w.full)
	}
}

// TestDecodeStopsAtItsDeadline: a decode that hangs (here an "ffmpeg" that
// sleeps; in the wild a demuxer waiting for a live playlist) is killed at
// a deadline set by the audio's length, long before the job's own timeout,
// and the error says so rather than blaming the input.
func TestDecodeStopsAtItsDeadline(t *testing.T) {
	t.Parallel()
	hang := filepath.Join(t.TempDir(), "ffmpeg")
	if err := os.WriteFile(hang, []byte("#!/bin/sh\nexec sleep 120\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	in := fixtureInput("speech_en_4s.wav")
	in.Duration = 4 * time.Second
	start := time.Now()
	_, err := Decode(context.Background(), hang, in)
	if !errors.Is(err, ffmpeg.ErrDeadline) || errors.Is(err, ErrInvalid) {
		t.Fatalf("error %v, want ffmpeg.ErrDeadline", err)
	}
	if took, want := time.Since(start), ffmpeg.Deadline(in.Duration, decodeSpeed); took > want+5*time.Second {
		t.Errorf("stopped after %s, its deadline is %s", took, want)
	}
}
