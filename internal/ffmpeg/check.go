package ffmpeg

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"
)

// verifyTimeout bounds one run of `program -version`: long enough for a
// cold start on a machine whose load is many times its cores.
const verifyTimeout = 30 * time.Second

// Check is /ready's check of program (ffmpeg): it must be found (a name
// on PATH, or a path) and executable, which is read at every call and
// costs no run; and it must have run once, `-version` exiting 0, since
// the file last changed. That run is made once per file (its path, size,
// time and mode) and remembered, in the background and within 30 s, not
// within ctx: a machine under heavy load, which may take seconds to start
// ffmpeg, does not make a present ffmpeg read as down (ffmpeg's own runs
// have their own deadlines). While a first run is still going, a program
// found is taken as present; once a run failed, the failure is reported
// until a later run succeeds.
func Check(ctx context.Context, program string) error {
	path, err := exec.LookPath(program)
	if err != nil {
		return fmt.Errorf("%s: %w", program, err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s: %w", program, err)
	}
	v := verifications.of(path, fileID{size: info.Size(), mod: info.ModTime(), mode: info.Mode()})
	select {
	case <-v.done:
		return v.err
	case <-ctx.Done():
		return v.previous // nil unless a run of this file failed before
	}
}

// fileID tells one version of a program's file from another.
type fileID struct {
	size int64
	mod  time.Time
	mode os.FileMode
}

// verification is one run of `-version`; err is set before done closes.
type verification struct {
	id       fileID
	done     chan struct{}
	err      error
	previous error // the result of the run before, of the same file
}

// verified holds each program's last verification, by path.
type verified struct {
	mu  sync.Mutex
	all map[string]*verification
}

// verifications are the process's: a program is verified once, whoever asks.
var verifications = &verified{all: map[string]*verification{}}

// of is path's verification for id: the last one if it succeeded or is
// still going, else a new run.
func (v *verified) of(path string, id fileID) *verification {
	v.mu.Lock()
	defer v.mu.Unlock()
	last := v.all[path]
	var previous error
	if last != nil && last.id == id {
		select {
		case <-last.done:
			if last.err == nil {
				return last
			}
			previous = last.err
		default:
			return last
		}
	}
	run := &verification{id: id, done: make(chan struct{}), previous: previous}
	v.all[path] = run
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), verifyTimeout)
		defer cancel()
		if err := exec.CommandContext(ctx, path, "-hide_banner", "-version").Run(); err != nil {
			run.err = fmt.Errorf("%s -version: %w", path, err)
		}
		close(run.done)
	}()
	return run
}
