package audio

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

const fixtures = "../../../testdata"

func fixture(name string) string { return filepath.Join(fixtures, name) }

// fixtureInput is a fixture with its format, as the worker names it.
func fixtureInput(name string) Input {
	format := "wav"
	if filepath.Ext(name) == ".mp3" {
		format = "mp3"
	}
	return Input{Path: fixture(name), Format: format}
}

// needFFmpeg skips tests that run the real ffmpeg where it is not installed.
func needFFmpeg(t testing.TB) {
	t.Helper()
	for _, p := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s not installed", p)
		}
	}
}

// decodeFixture decodes a test file with the real ffmpeg.
func decodeFixture(t testing.TB, name string) PCM {
	t.Helper()
	needFFmpeg(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pcm, err := Decode(ctx, "", fixtureInput(name))
	if err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	return pcm
}

// decodedDuration asks ffprobe how much sound the first audio stream of
// path decodes to: the samples of every frame over the sample rate. This is
// what Decode should match, not the container's (sometimes estimated)
// duration.
func decodedDuration(t *testing.T, path string) time.Duration {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error",
		"-select_streams", "a:0", "-show_entries", "frame=nb_samples:stream=sample_rate",
		"-of", "json", "file:"+path).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	var p struct {
		Frames []struct {
			Samples int `json:"nb_samples"`
		} `json:"frames"`
		Streams []struct {
			Rate string `json:"sample_rate"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &p); err != nil || len(p.Streams) != 1 {
		t.Fatalf("ffprobe output %s: %v", out, err)
	}
	rate, err := strconv.Atoi(p.Streams[0].Rate)
	if err != nil || rate <= 0 {
		t.Fatalf("ffprobe sample rate %q", p.Streams[0].Rate)
	}
	var samples int64
	for _, f := range p.Frames {
		samples += int64(f.Samples)
	}
	return time.Duration(samples * int64(time.Second) / int64(rate))
}
