package media

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/avatar-api/avatar-api/internal/refusal"
)

const fixtures = "../../testdata"

// codeOf returns the *refusal.Error code carried by err, "" for nil and "not a media
// error" for any other error.
func codeOf(err error) string {
	if err == nil {
		return ""
	}
	var me *refusal.Error
	if !errors.As(err, &me) {
		return "not a media error: " + err.Error()
	}
	return me.Code
}

// writeFile writes b to a new file in a test directory and returns its path.
func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// prefixOf writes the first n bytes of a fixture to a new file.
func prefixOf(t *testing.T, fixture string, n int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, fixture))
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "cut-"+fixture, b[:n])
}

// viaFFmpeg is the WAV fixture in 24-bit samples: a WAV that is not plain
// (wav.go), so that ffprobe and ffmpeg make it canonical; the tests of
// their failures use it.
func viaFFmpeg(t *testing.T, fixture string) string {
	t.Helper()
	return ffmpegMake(t, "-i", filepath.Join(fixtures, fixture), "-c:a", "pcm_s24le", "-f", "wav")
}

// ffmpegMake runs ffmpeg to build a test input from fixtures and returns the
// output path. The output name deliberately has no extension, so nothing can
// rely on it.
func ffmpegMake(t *testing.T, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "x7q2")
	args = append([]string{"-nostdin", "-v", "error", "-y"}, args...)
	if b, err := exec.Command("ffmpeg", append(args, out)...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, b)
	}
	return out
}

// probed is ffprobe's view of a file, as the tests read it.
type probed struct {
	Streams []struct {
		CodecName  string `json:"codec_name"`
		SampleRate string `json:"sample_rate"`
		Channels   int    `json:"channels"`
	} `json:"streams"`
	Format struct {
		FormatName string            `json:"format_name"`
		Tags       map[string]string `json:"tags"`
	} `json:"format"`
}

func ffprobeJSON(t *testing.T, path string) probed {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-of", "json", "-show_streams", "-show_format", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p probed
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	return p
}
