package command

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/avatar-api/avatar-api/internal/ffmpeg"
	"github.com/avatar-api/avatar-api/internal/generator"
)

// waitDelay is how long, after the command exits or is killed, its
// output is still read: a process it left behind may hold the pipe open.
const waitDelay = 2 * time.Second

// ExitError is a command that ended in failure: a non-zero exit status,
// or a signal that the service did not send it.
type ExitError struct {
	Status string // as the system puts it: "exit status 3", "signal: segmentation fault"
	Code   int    // the exit status; -1 when a signal ended it
	Tail   string // its last lines but progress, the request's paths replaced by words
	err    error
}

func (e *ExitError) Error() string {
	if e.Tail == "" {
		return "model command failed (" + e.Status + ") and printed nothing"
	}
	return "model command failed (" + e.Status + "); its last lines: " + e.Tail
}

// Unwrap returns the *exec.ExitError.
func (e *ExitError) Unwrap() error { return e.err }

// run runs the command with argv, feeding what it prints to out, and
// waits for it; see the package comment for how it is run and stopped.
func (g *Generator) run(ctx context.Context, argv []string, out *output) error {
	rctx := ctx
	if g.timeout > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, g.timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(rctx, g.program, argv...)
	cmd.Dir, cmd.Env = g.dir, g.env
	cmd.Stdout, cmd.Stderr = out, out // one pipe, one writer at a time
	cmd.SysProcAttr = procAttr()
	cmd.Cancel = func() error { return killGroup(cmd.Process) }
	cmd.WaitDelay = waitDelay
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start model command: %w", err)
	}
	err := cmd.Wait()
	_ = killGroup(cmd.Process) // whatever it left running
	out.end()                  // a last line without a newline
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("model command stopped: %w", ctx.Err())
	case rctx.Err() != nil:
		return fmt.Errorf("model command ran past its timeout of %s: %w", g.timeout, context.DeadlineExceeded)
	case err == nil:
		return nil
	case errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState.Success():
		return nil // it exited 0, leaving a process that held its output open
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return &ExitError{Status: exit.String(), Code: exit.ExitCode(), err: err}
	}
	return fmt.Errorf("run model command: %w", err)
}

// killGroup kills the process group that p leads, p with it.
func killGroup(p *os.Process) error {
	err := syscall.Kill(-p.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil // all gone
	}
	return err
}

// withTail adds the command's last lines to err.
func withTail(err error, tail string) error {
	var exit *ExitError
	switch {
	case errors.As(err, &exit):
		exit.Tail = tail
		return err
	case tail == "":
		return err
	}
	return fmt.Errorf("%w; its last lines: %s", err, tail)
}

// scrub replaces the request's paths in s by words: the operator's log
// should not map the server's directories. Longer paths go first, so
// that a file is named before the directory it is in.
func scrub(s string, req generator.Request, dir, video string) string {
	names := map[string]string{
		req.ImagePath: "the image", req.AudioPath: "the audio", video: "the output", req.OutputPath: "the output",
		dir: "the work directory", filepath.Dir(req.OutputPath): "the work directory",
	}
	paths := make([]string, 0, len(names))
	for p := range names {
		if p != "" && p != "/" && p != "." {
			paths = append(paths, p)
		}
	}
	slices.SortFunc(paths, func(a, b string) int { return len(b) - len(a) })
	for _, p := range paths {
		s = ffmpeg.Scrub(s, map[string]string{p: names[p]})
	}
	return strings.TrimSpace(s)
}
