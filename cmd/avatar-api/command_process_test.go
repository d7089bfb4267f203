package main_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/testkit"
)

// TestCommandGeneratorInServe: `serve` with GENERATOR=command runs an
// external model (a script standing for a Python inference script) for
// each job: the job completes with its video, and a prompt full of shell
// syntax reaches the model as one argument and does nothing else.
func TestCommandGeneratorInServe(t *testing.T) {
	t.Parallel()
	model, err := filepath.Abs(filepath.Join("..", "..", "internal", "generator", "command", "testdata", "fake-model.sh"))
	if err != nil {
		t.Fatal(err)
	}
	pwned := filepath.Join(t.TempDir(), "pwned")
	dir := t.TempDir()
	p := start(t, dir, "GENERATOR=command", "POLL_RATE_LIMIT=100000",
		"GENERATOR_COMMAND=sh "+model+" --image {image} --audio {audio} --audio-format {audio_format} --prompt {prompt} --out={output} --width {width} --height {height} --fps {fps} --duration {duration}")
	prompt := "$(touch " + pwned + "); rm -rf ~ ; \" ' `touch " + pwned + "` | & > " + pwned
	form, ct := testkit.Multipart(t,
		testkit.Part{Name: "image", File: testkit.Fixture("astronaut.png")},
		testkit.Part{Name: "audio", File: testkit.Fixture("speech_en_4s.wav")},
		testkit.Part{Name: "width", Value: "128"}, testkit.Part{Name: "height", Value: "128"},
		testkit.Part{Name: "fps", Value: "10"}, testkit.Part{Name: "prompt", Value: prompt})
	id := p.post(t, form, ct)
	p.waitFor(t, id, 2*time.Minute, "completed", "failed")
	if j := p.status(t, id); j.State != "completed" {
		t.Fatalf("job ended %s (%+v)", j.State, j.Error)
	}
	m := p.download(t, id)
	if m.VideoCodec != "h264" || m.AudioCodec != "aac" || m.Width != 128 {
		t.Fatalf("video: %+v", m)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("the prompt ran a command")
	}
	if home, _ := os.UserHomeDir(); home != "" {
		if _, err := os.Stat(home); err != nil {
			t.Fatalf("home directory: %v", err)
		}
	}
}
