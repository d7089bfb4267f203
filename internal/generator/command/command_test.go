package command_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/generator/command"
	"github.com/avatar-api/avatar-api/internal/refusal"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

// speech4s is the length of speech_en_4s.wav.
const speech4s = 4658594 * time.Microsecond

// args is the fake model's command line after its program.
const args = ` --image {image} --audio {audio} --audio-format {audio_format} --prompt {prompt} --seed {seed}` +
	` --out={output} --width {width} --height {height} --fps {fps} --duration {duration}`

// script is the fake model's absolute path.
func script(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join("testdata", "fake-model.sh"))
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// testBundle is one generation: a generator running the fake model in a
// mode, a request for a 128x128 video at 5 fps of the test fixtures, and
// where the fake model leaves its traces.
type testBundle struct {
	gen   *command.Generator
	req   generator.Request
	work  string // OutputPath's directory, empty to begin with
	trace string // the fake model's FAKE_ARGV, FAKE_ENV and FAKE_PIDS files
	// progress records the calls of the ProgressFunc.
	mu       sync.Mutex
	progress [][2]int
}

func setup(t *testing.T, mode string, cfg command.Config) *testBundle {
	t.Helper()
	b := &testBundle{work: t.TempDir(), trace: t.TempDir()}
	if cfg.Template == "" {
		cfg.Template = script(t) + args
	}
	cfg.Env = append([]string{"FAKE_MODE=" + mode, "FAKE_ARGV=" + b.file("argv"), "FAKE_ENV=" + b.file("env"),
		"FAKE_PIDS=" + b.file("pids")}, cfg.Env...)
	gen, err := command.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.gen = gen
	b.req = generator.Request{
		ImagePath: testkit.Fixture("chelsea.png"), AudioPath: testkit.Fixture("speech_en_4s.wav"), AudioFormat: "wav",
		AudioDuration: speech4s, Prompt: "a calm voice", Width: 128, Height: 128, FPS: 5, Seed: 42,
		OutputPath: filepath.Join(b.work, "out.mp4"),
	}
	return b
}

func (b *testBundle) file(name string) string { return filepath.Join(b.trace, name) }

func (b *testBundle) generate(ctx context.Context) (generator.Result, error) {
	return b.gen.Generate(ctx, b.req, func(done, total int) {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.progress = append(b.progress, [2]int{done, total})
	})
}

// argv is what the fake model received.
func (b *testBundle) argv(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(b.file("argv"))
	if err != nil {
		t.Fatalf("the fake model did not run: %v", err)
	}
	return strings.Split(strings.TrimSuffix(string(raw), "\x00"), "\x00")
}

// leftovers fails the test if the work directory holds anything but want.
func (b *testBundle) leftovers(t *testing.T, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(b.work)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, want) {
		t.Errorf("work directory holds %q, want %q", names, want)
	}
}

// refused fails the test if err is a refusal: the model's failures are
// never the customer's.
func refused(t *testing.T, err error) {
	t.Helper()
	var re *refusal.Error
	if errors.As(err, &re) {
		t.Errorf("a failure of the model was passed on as the customer's: %v", err)
	}
}

func TestGenerate(t *testing.T) {
	t.Parallel()
	for name, audio := range map[string]time.Duration{"length given": speech4s, "length measured": 0} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, "ok", command.Config{})
			b.req.AudioDuration = audio
			res, err := b.generate(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			info, err := os.Stat(b.req.OutputPath)
			if err != nil {
				t.Fatal(err)
			}
			if res.Width != 128 || res.Height != 128 || res.FPS != 5 || res.Size != info.Size() || res.Uploaded ||
				res.Frames < 23 || res.Frames > 24 || (res.Duration-speech4s).Abs() > 200*time.Millisecond {
				t.Errorf("result %+v (file of %d bytes)", res, info.Size())
			}
			if m := testkit.Probe(t, b.req.OutputPath); m.VideoCodec != "h264" || m.AudioCodec != "aac" || m.Width != 128 {
				t.Errorf("probed %+v", m)
			}
			want := [][2]int{{1, 4}, {500, 1000}, {4, 4}}
			if !slices.Equal(b.progress, want) {
				t.Errorf("progress %v, want %v", b.progress, want)
			}
			argv := b.argv(t)
			out := strings.TrimPrefix(argv[10], "--out=")
			if filepath.Dir(filepath.Dir(out)) != b.work || filepath.Ext(out) != ".mp4" {
				t.Errorf("{output} %s is not an .mp4 in a directory of its own beside the output", out)
			}
			wantArgv := []string{"--image", b.req.ImagePath, "--audio", b.req.AudioPath, "--audio-format", "wav",
				"--prompt", "a calm voice", "--seed", "42", "--out=" + out,
				"--width", "128", "--height", "128", "--fps", "5", "--duration", "4.659"}
			if !slices.Equal(argv, wantArgv) {
				t.Errorf("argv %q, want %q", argv, wantArgv)
			}
			b.leftovers(t, "out.mp4")
		})
	}
}

// TestMinimalEnvironment: the command sees PATH, HOME, LANG and the
// configured extras, and none of the service's own variables (its
// secrets). Not parallel: it sets a variable of the test process.
func TestMinimalEnvironment(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://avatar:secret@db/avatar")
	b := setup(t, "none", command.Config{Env: []string{"HF_HOME=/models/hf"}})
	if _, err := b.generate(context.Background()); !errors.Is(err, command.ErrNoVideo) {
		t.Fatalf("err = %v, want ErrNoVideo", err)
	}
	raw, err := os.ReadFile(b.file("env"))
	if err != nil {
		t.Fatal(err)
	}
	// PWD, SHLVL and OLDPWD are the shell's own.
	allowed := []string{"PATH", "HOME", "LANG", "PWD", "SHLVL", "OLDPWD", "HF_HOME", "FAKE_MODE", "FAKE_ARGV", "FAKE_ENV", "FAKE_PIDS"}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if k, _, _ := strings.Cut(line, "="); !slices.Contains(allowed, k) {
			t.Errorf("the command sees %s", k)
		}
	}
	if !strings.Contains(string(raw), "HF_HOME=/models/hf\n") || !strings.Contains(string(raw), "PATH=") {
		t.Errorf("environment %q lacks HF_HOME or PATH", raw)
	}
}

func TestExitFailure(t *testing.T) {
	t.Parallel()
	b := setup(t, "fail", command.Config{})
	_, err := b.generate(context.Background())
	var exit *command.ExitError
	if !errors.As(err, &exit) || exit.Code != 3 || exit.Status != "exit status 3" {
		t.Fatalf("err = %v, want an ExitError of status 3", err)
	}
	t.Logf("error: %v", err)
	for _, want := range []string{"loading weights for the image", "reading the audio", "out of memory while writing the output"} {
		if !strings.Contains(exit.Tail, want) {
			t.Errorf("tail %q lacks %q", exit.Tail, want)
		}
	}
	if strings.Contains(exit.Tail, "/") || strings.Contains(exit.Tail, "progress") {
		t.Errorf("tail %q names a path or keeps a progress line", exit.Tail)
	}
	refused(t, err)
	b.leftovers(t)
}

// processGone reports whether pid has exited: no such process, or a
// zombie (which a container's init may be slow to reap).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(stat, ')')
	return i > 0 && len(stat) > i+2 && stat[i+2] == 'Z'
}

// pids are the fake model's own process and the child it started.
func (b *testBundle) pids(t *testing.T) []int {
	t.Helper()
	var raw []byte
	testkit.WaitFor(t, 10*time.Second, "the fake model's pids", func() bool {
		raw, _ = os.ReadFile(b.file("pids"))
		return bytes.HasSuffix(raw, []byte("\n"))
	})
	var pids []int
	for _, f := range strings.Fields(string(raw)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	return pids
}

func TestStopped(t *testing.T) {
	t.Parallel()
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		b := setup(t, "hang", command.Config{Timeout: 500 * time.Millisecond})
		start := time.Now()
		_, err := b.generate(context.Background())
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
			t.Fatalf("err = %v after %s, want DeadlineExceeded soon after 0.5 s", err, time.Since(start))
		}
		t.Logf("error: %v", err)
		stoppedWhole(t, b, err)
	})
	t.Run("cancelled", func(t *testing.T) {
		t.Parallel()
		b := setup(t, "hang", command.Config{})
		ctx, cancel := context.WithCancel(context.Background())
		go func() { // cancel once it runs, its child started
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				if raw, _ := os.ReadFile(b.file("pids")); bytes.HasSuffix(raw, []byte("\n")) {
					break
				}
			}
			cancel()
		}()
		_, err := b.generate(ctx)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want Canceled", err)
		}
		stoppedWhole(t, b, err)
	})
}

// stoppedWhole checks that a stopped command and the child it started
// are gone, and left nothing behind.
func stoppedWhole(t *testing.T, b *testBundle, err error) {
	t.Helper()
	for _, pid := range b.pids(t) {
		testkit.WaitFor(t, 5*time.Second, fmt.Sprintf("process %d to be gone", pid), func() bool { return processGone(pid) })
	}
	refused(t, err)
	b.leftovers(t)
}

func TestNoUsableVideo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode     string
		template string
		want     error
		inMsg    string
	}{
		{mode: "none", want: command.ErrNoVideo, inMsg: "loading weights for the image"},
		{mode: "garbage", want: command.ErrBadVideo, inMsg: "not an MP4 file"},
		// A real video, of the wrong size: the check that failed is named.
		{mode: "ok", template: strings.Replace(args, "{width}", "64", 1), want: command.ErrBadVideo,
			inMsg: "64x128 pixels, not the 128x128 asked for"},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			t.Parallel()
			cfg := command.Config{}
			if tt.template != "" {
				cfg.Template = script(t) + tt.template
			}
			b := setup(t, tt.mode, cfg)
			_, err := b.generate(context.Background())
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.inMsg) {
				t.Fatalf("err = %v, want %v saying %q", err, tt.want, tt.inMsg)
			}
			t.Logf("error: %v", err)
			refused(t, err)
			b.leftovers(t)
		})
	}
}

// TestPromptIsOneArgument: a prompt full of shell syntax reaches the
// command verbatim as one argument, and nothing of it is run.
func TestPromptIsOneArgument(t *testing.T) {
	t.Parallel()
	home, traps := t.TempDir(), t.TempDir()
	marker := filepath.Join(home, "still-here")
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	pwned, redirected := filepath.Join(traps, "pwned-7f3a"), filepath.Join(traps, "x")
	prompt := "$(touch " + pwned + "); rm -rf ~ ; \"' `id` | & > " + redirected + " {output} %s\\n"
	b := setup(t, "none", command.Config{
		Template: script(t) + ` --prompt {prompt} --out={output}`,
		Env:      []string{"HOME=" + home}, // were anything run by a shell, ~ is a test directory
	})
	b.req.Prompt = prompt
	if _, err := b.generate(context.Background()); !errors.Is(err, command.ErrNoVideo) {
		t.Fatalf("err = %v, want ErrNoVideo", err)
	}
	argv := b.argv(t)
	if len(argv) != 3 || argv[0] != "--prompt" || argv[1] != prompt || !strings.HasPrefix(argv[2], "--out="+b.work) {
		t.Fatalf("argv %q, want --prompt, the prompt verbatim, --out=…", argv)
	}
	for _, f := range []string{pwned, redirected} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists: the prompt was run", f)
		}
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("HOME was emptied: %v", err)
	}
}

// TestRelativeProgram: a relative program path is found from Dir, and the
// command runs there.
func TestRelativeProgram(t *testing.T) {
	t.Parallel()
	b := setup(t, "none", command.Config{Template: "./fake-model.sh" + args, Dir: filepath.Dir(script(t))})
	if _, err := b.generate(context.Background()); !errors.Is(err, command.ErrNoVideo) {
		t.Fatalf("err = %v, want ErrNoVideo", err)
	}
	if argv := b.argv(t); argv[1] != b.req.ImagePath {
		t.Errorf("argv %q", argv)
	}
}

func TestNewRefusesABadConfig(t *testing.T) {
	t.Parallel()
	sh := script(t)
	tests := map[string]struct {
		cfg   command.Config
		inMsg string
	}{
		"empty":               {command.Config{Template: "  \t\n"}, "no program"},
		"empty program":       {command.Config{Template: `"" --out {output}`}, "no program"},
		"program placeholder": {command.Config{Template: "{image} --out {output}"}, "placeholder"},
		"unknown placeholder": {command.Config{Template: sh + " --image {imgae} --out {output}"}, "unknown placeholder {imgae}"},
		"capitalised":         {command.Config{Template: sh + " --out={Output}"}, "unknown placeholder {Output}"},
		"no output":           {command.Config{Template: sh + " --image {image}"}, "no {output}"},
		"unclosed quote":      {command.Config{Template: sh + ` --prompt "{prompt} --out {output}`}, "not closed"},
		"missing program":     {command.Config{Template: "/nonexistent/infer --out {output}"}, "/nonexistent/infer"},
		"program not on PATH": {command.Config{Template: "no-such-model-xyz --out {output}"}, "no-such-model-xyz"},
		"dir":                 {command.Config{Template: sh + " --out {output}", Dir: "/nonexistent"}, "not a directory"},
		"env":                 {command.Config{Template: sh + " --out {output}", Env: []string{"CUDA_VISIBLE_DEVICES"}}, "KEY=value"},
		"timeout":             {command.Config{Template: sh + " --out {output}", Timeout: -time.Second}, "negative"},
	}
	for name, tt := range tests {
		_, err := command.New(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.inMsg) {
			t.Errorf("%s: err = %v, want one saying %q", name, err, tt.inMsg)
		}
	}
}
