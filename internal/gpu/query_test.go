package gpu

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/testkit"
)

// fakeSMI is testdata/nvidia-smi copied into a directory of its own, put
// first on PATH; its files there say what it does. The tests that use it
// change PATH, so they do not run in parallel.
type fakeSMI struct {
	dir string
}

func setup(t *testing.T) *fakeSMI {
	t.Helper()
	script, err := os.ReadFile(filepath.Join("testdata", "nvidia-smi"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSMI{dir: t.TempDir()}
	if err := os.WriteFile(filepath.Join(f.dir, "nvidia-smi"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", f.dir+":"+os.Getenv("PATH"))
	return f
}

func (f *fakeSMI) write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// print makes nvidia-smi print out and succeed.
func (f *fakeSMI) print(t *testing.T, out string) {
	t.Helper()
	f.write(t, "stdout", out)
	f.write(t, "mode", "print")
}

// fail makes nvidia-smi print stderr there and exit with status.
func (f *fakeSMI) fail(t *testing.T, status int, stderr string) {
	t.Helper()
	f.write(t, "stderr", stderr)
	f.write(t, "status", strconv.Itoa(status))
	f.write(t, "mode", "fail")
}

// pid waits for the process id of the last run to be written.
func (f *fakeSMI) pid(t *testing.T) int {
	t.Helper()
	var pid int
	testkit.WaitFor(t, 10*time.Second, "nvidia-smi to start", func() bool {
		b, err := os.ReadFile(filepath.Join(f.dir, "pid"))
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	})
	return pid
}

// gone reports whether process pid has ended and been reaped.
func gone(pid int) bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }

func TestQueryReadsEveryGPU(t *testing.T) {
	f := setup(t)
	ctx := context.Background()

	f.print(t, "45, 1024, 24576\n")
	before := time.Now()
	got, err := Query(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := []Sample{{0, 0.45, 1024 * mib, 24576 * mib, got[0].At}}; !sameSamples(got, want) || got[0].At.Before(before) {
		t.Errorf("one GPU: got %v", got)
	}

	f.print(t, "100, 79000, 81920\n0, 5, 81920\n7, 100, 81920\n99, 81920, 81920\n")
	got, err = Query(ctx, "")
	if err != nil || len(got) != 4 || got[3].GPU != 3 || got[3].Utilization != 0.99 || got[0].MemoryUsedBytes != 79000*mib {
		t.Errorf("four GPUs: %v, %v", got, err)
	}

	f.print(t, "[N/A], [Not Supported], 24576\n")
	got, err = Query(ctx, "")
	if err != nil || len(got) != 1 || got[0].Utilization == got[0].Utilization || got[0].MemoryUsedBytes != -1 || got[0].MemoryTotalBytes != 24576*mib {
		t.Errorf("[N/A] fields: %v, %v", got, err)
	}

	// An explicit path works as well as PATH.
	f.print(t, "1, 2, 3\n")
	if got, err := Query(ctx, filepath.Join(f.dir, "nvidia-smi")); err != nil || len(got) != 1 {
		t.Errorf("explicit path: %v, %v", got, err)
	}
	if !Detect(ctx, "") {
		t.Error("Detect = false with a GPU listed")
	}
}

func TestQueryRunsWithPATHAlone(t *testing.T) {
	f := setup(t)
	t.Setenv("AVATAR_TEST_SECRET", "hunter2")
	f.print(t, "1, 2, 3\n")
	if _, err := Query(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	env, err := os.ReadFile(filepath.Join(f.dir, "env"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(env), "PATH="+f.dir+":") || strings.Contains(string(env), "hunter2") {
		t.Errorf("nvidia-smi's environment:\n%s", env)
	}
}

func TestQueryRefusesMalformedOutput(t *testing.T) {
	f := setup(t)
	f.print(t, "45, 1024, 24576\n45, 1024\n")
	_, err := Query(context.Background(), "")
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("err = %v, want one naming line 2", err)
	}
	f.print(t, "")
	if _, err := Query(context.Background(), ""); !errors.Is(err, ErrNoGPU) {
		t.Errorf("empty output: err = %v", err)
	}
	if Detect(context.Background(), "") {
		t.Error("Detect = true with no GPU listed")
	}
}

func TestQueryWithoutTheTool(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	start := time.Now()
	if Detect(context.Background(), "") {
		t.Error("Detect = true without nvidia-smi")
	}
	if _, err := Query(context.Background(), ""); !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("err = %v, want exec.ErrNotFound", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %s to find nothing", d)
	}
	if _, err := Query(context.Background(), filepath.Join(t.TempDir(), "nvidia-smi")); err == nil {
		t.Error("a missing path ran")
	}
}

func TestQueryQuotesOneCleanLineOfStderr(t *testing.T) {
	f := setup(t)
	f.fail(t, 9, "\n  NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\x1b[0m\xff\nsecond line: secret\n")
	_, err := Query(context.Background(), "")
	want := "nvidia-smi: exit status 9: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.?[0m?"
	if err == nil || err.Error() != want {
		t.Errorf("err = %q\nwant  %q", err, want)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 9 {
		t.Errorf("err = %v does not wrap the exit status", err)
	}

	f.fail(t, 1, strings.Repeat("x", 10_000)+"\n")
	if _, err := Query(context.Background(), ""); err == nil || len(err.Error()) > 250 {
		t.Errorf("a long line is quoted whole: %d bytes", len(err.Error()))
	}
}

func TestQueryKillsAHungTool(t *testing.T) {
	f := setup(t)
	f.write(t, "mode", "hang")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Query(ctx, "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the deadline", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("returned after %s", d)
	}
	if pid := f.pid(t); !gone(pid) {
		t.Errorf("nvidia-smi (pid %d) still runs", pid)
	}
}

func TestQueryCapsItsOutput(t *testing.T) {
	f := setup(t)
	f.print(t, strings.Repeat("1, 2, 3\n", 100_000)) // 800 kB
	if _, err := Query(context.Background(), ""); err == nil || !strings.Contains(err.Error(), "more than 64 KiB") {
		t.Errorf("a file of 800 kB: err = %v", err)
	}

	f.write(t, "mode", "flood")
	start := time.Now()
	_, err := Query(context.Background(), "")
	if err == nil || !strings.Contains(err.Error(), "more than 64 KiB") {
		t.Errorf("endless output: err = %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("endless output read for %s", d)
	}
	if pid := f.pid(t); !gone(pid) {
		t.Errorf("nvidia-smi (pid %d) still runs", pid)
	}
}
