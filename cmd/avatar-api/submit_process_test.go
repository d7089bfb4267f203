package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/avatar-api/avatar-api/internal/testkit"
)

// TestSubmit runs `avatar-api submit` as a customer would, against a
// running server: the MP4 is saved where -o says, and the job's way is
// shown on stderr. A refused input ends the command with the server's
// code and leaves no file; so does a missing key.
func TestSubmit(t *testing.T) {
	t.Parallel()
	p := start(t, t.TempDir())
	dir := t.TempDir()
	out := filepath.Join(dir, "avatar.mp4")
	submit := func(key string, args ...string) (stdout, stderr string, err error) {
		cmd := exec.Command(binary, append([]string{"submit", "--server", p.url, "--poll", "200ms"}, args...)...)
		cmd.Env = append(os.Environ(), "AVATAR_API_KEY="+key)
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		err = cmd.Run()
		return o.String(), e.String(), err
	}

	stdout, stderr, err := submit(apiKey, "--image", testkit.Fixture("astronaut.png"), "--audio", testkit.Fixture("speech_en_4s.wav"),
		"--prompt", "A woman singing", "--width", "256", "--height", "256", "-o", out)
	if err != nil {
		t.Fatalf("submit: %v\nstdout: %s\nstderr: %s", err, stdout, stderr)
	}
	m := testkit.Probe(t, out)
	if m.VideoCodec != "h264" || m.Width != 256 || m.Height != 256 || m.AudioCodec != "aac" {
		t.Errorf("saved video %+v", m)
	}
	if !strings.HasPrefix(stdout, out+": ") || !strings.Contains(stderr, "accepted") || !strings.Contains(stderr, "completed 100%") {
		t.Errorf("submit said\nstdout: %s\nstderr: %s", stdout, stderr)
	}

	// A text file is no portrait: the server's code, no file.
	bad := filepath.Join(dir, "portrait.png")
	if err := os.WriteFile(bad, []byte("not an image"), 0o600); err != nil {
		t.Fatal(err)
	}
	badOut := filepath.Join(dir, "bad.mp4")
	_, stderr, err = submit(apiKey, "--image", bad, "--audio", testkit.Fixture("speech_en_4s.wav"), "-o", badOut)
	if code := exitCode(err); code != 1 || !strings.Contains(stderr, "415 unsupported_image_type") {
		t.Errorf("a broken image: exit %d, stderr %s", code, stderr)
	}
	_, stderr, err = submit("", "--image", testkit.Fixture("astronaut.png"), "--audio", testkit.Fixture("speech_en_4s.wav"), "-o", badOut)
	if code := exitCode(err); code != 1 || !strings.Contains(stderr, "AVATAR_API_KEY is not set") {
		t.Errorf("no key: exit %d, stderr %s", code, stderr)
	}
	_, stderr, err = submit("av_live_wrong", "--image", testkit.Fixture("astronaut.png"), "--audio", testkit.Fixture("speech_en_4s.wav"), "-o", badOut)
	if code := exitCode(err); code != 1 || !strings.Contains(stderr, "401 unauthorized") {
		t.Errorf("a wrong key: exit %d, stderr %s", code, stderr)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "avatar.mp4 portrait.png" {
		t.Errorf("files left: %v, want the video and the bad portrait only", names)
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if e, ok := err.(*exec.ExitError); ok {
		return e.ExitCode()
	}
	return -1
}
