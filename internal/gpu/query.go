package gpu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"
)

// args are nvidia-smi's arguments, always these: nothing a caller or a
// customer sends reaches the command line.
var args = []string{"--query-gpu=utilization.gpu,memory.used,memory.total", "--format=csv,noheader,nounits"}

const (
	queryTimeout = 5 * time.Second // nvidia-smi answers in well under a second; a driver in trouble can hang it
	maxStdout    = 64 << 10        // 64 GPUs of three figures is a few KiB
	maxStderr    = 4 << 10
)

// errTooMuch stops the copy of a run's stdout past maxStdout; the pipe is
// then closed, so a runaway program dies of SIGPIPE instead of being read
// until its deadline.
var errTooMuch = errors.New("output over the limit")

// Query runs nvidia-smi (path; "" is "nvidia-smi" found on PATH) once and
// returns a Sample per GPU. The run has no shell, no stdin and no
// environment but PATH and LD_LIBRARY_PATH (CUDA images put the driver's
// libnvidia-ml there); it is killed after 5 s or when ctx ends, and with
// the service on Linux. Its stdout is read up to 64 KiB (more is an
// error) and its stderr up to 4 KiB, of which an error quotes only a
// cleaned first line: the driver's messages are for the log, not the
// whole of whatever the program printed.
func Query(ctx context.Context, path string) ([]Sample, error) {
	return query(ctx, path, time.Now)
}

// query is Query with the clock that dates the samples.
func query(ctx context.Context, path string, now func() time.Time) ([]Sample, error) {
	out, err := run(ctx, path)
	if err != nil {
		return nil, err
	}
	s, err := Parse(out, now())
	if err != nil {
		return nil, fmt.Errorf("nvidia-smi output: %w", err)
	}
	return s, nil
}

// run runs the query and returns its stdout.
func run(ctx context.Context, path string) ([]byte, error) {
	if path == "" {
		path = "nvidia-smi"
	}
	rctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	stdout := &capped{max: maxStdout, refuse: true}
	stderr := &capped{max: maxStderr}
	cmd := exec.CommandContext(rctx, path, args...)
	cmd.Env = environment()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = procAttr()
	cmd.Cancel = func() error { return cmd.Process.Kill() }
	cmd.WaitDelay = time.Second // a child that kept our pipes open does not hold Wait
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case stdout.over:
		return nil, fmt.Errorf("nvidia-smi wrote more than %d KiB", maxStdout>>10)
	case err == nil:
		return stdout.buf, nil
	case ctx.Err() != nil:
		return nil, fmt.Errorf("nvidia-smi stopped: %w", ctx.Err())
	case rctx.Err() != nil:
		return nil, fmt.Errorf("nvidia-smi ran past its deadline of %s: %w", queryTimeout, rctx.Err())
	case errors.As(err, &exit):
		// The driver's complaint ("couldn't communicate with the NVIDIA
		// driver") has been seen on stdout; stderr is read first.
		why := firstLine(stderr.buf)
		if why == "" {
			why = firstLine(stdout.buf)
		}
		if why == "" {
			return nil, fmt.Errorf("nvidia-smi: %w", err)
		}
		return nil, fmt.Errorf("nvidia-smi: %w: %s", err, why)
	}
	return nil, fmt.Errorf("running nvidia-smi: %w", err)
}

// Detect reports whether this machine has a GPU nvidia-smi can read: the
// query succeeds and lists at least one. Without the tool it answers at
// once; without a driver, as soon as nvidia-smi gives up.
func Detect(ctx context.Context, path string) bool {
	s, err := Query(ctx, path)
	return err == nil && len(s) > 0
}

// capped keeps the first max bytes written to it. Past them, it refuses
// the write (refuse) or drops the rest, reading on.
type capped struct {
	buf    []byte
	max    int
	refuse bool
	over   bool
}

func (c *capped) Write(p []byte) (int, error) {
	room := c.max - len(c.buf)
	if len(p) <= room {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	c.buf = append(c.buf, p[:room]...)
	c.over = true
	if c.refuse {
		return room, errTooMuch
	}
	return len(p), nil
}

// firstLine is the first non-blank line of b, cleaned and cut to 200
// bytes.
func firstLine(b []byte) string {
	for line := range bytes.Lines(b) {
		if line = bytes.TrimSpace(line); len(line) > 0 {
			return clean(string(line), 200)
		}
	}
	return ""
}

// environment is the child's: where to find programs and the driver's
// libraries, nothing else (no secret of ours reaches it).
func environment() []string {
	env := []string{"PATH=" + os.Getenv("PATH")}
	if v, ok := os.LookupEnv("LD_LIBRARY_PATH"); ok {
		env = append(env, "LD_LIBRARY_PATH="+v)
	}
	return env
}
