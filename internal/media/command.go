package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

const (
	probeTimeout  = 15 * time.Second // ffprobe reads headers only
	decodeTimeout = 60 * time.Second // a full decode of the longest allowed audio
	stderrKeep    = 8 << 10          // bytes of stderr kept for error messages
)

// run executes name with args, killing it when ctx ends or timeout passes.
// A non-nil error is either an *exec.ExitError (the program ran and failed,
// which for these programs means it did not like the input) or a failure to
// run at all.
func run(ctx context.Context, timeout time.Duration, name string, args ...string) (stdout, stderr []byte, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var out bytes.Buffer
	errTail := &tailBuffer{max: stderrKeep}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout = &out
	cmd.Stderr = errTail
	cmd.Cancel = func() error { return cmd.Process.Kill() }
	cmd.WaitDelay = 2 * time.Second
	err = cmd.Run()
	if err != nil && ctx.Err() != nil {
		return nil, nil, fmt.Errorf("%s did not finish: %w", name, ctx.Err())
	}
	return out.Bytes(), errTail.Bytes(), err
}

// programFailed reports whether err means the program ran and exited with
// an error, as opposed to not running at all.
func programFailed(err error) bool {
	var exit *exec.ExitError
	return errors.As(err, &exit)
}

// tailBuffer keeps the last max bytes written to it: ffmpeg can print a
// great deal, and only the end says why it stopped.
type tailBuffer struct {
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = t.buf[over:]
	}
	return len(p), nil
}

func (t *tailBuffer) Bytes() []byte { return t.buf }

// logContext matches ffmpeg's "[mp3 @ 0x55d0c8a0] " line prefix.
var logContext = regexp.MustCompile(`\[([\w:,-]+) @ 0x[0-9a-fA-F]+\] `)

// stderrReason turns a program's stderr into a short phrase for a customer:
// its last line, with the upload's path (which reveals server layout)
// replaced and ffmpeg's memory addresses removed.
func stderrReason(stderr []byte, path string) string {
	line := lastLine(string(stderr))
	for _, p := range []string{"file:" + path, path} {
		line = strings.ReplaceAll(line, p+": ", "")
		line = strings.ReplaceAll(line, p, "the audio")
	}
	line = logContext.ReplaceAllString(line, "$1: ")
	if len(line) > 200 {
		line = line[:200] + "…"
	}
	if line == "" {
		return "the decoder gave no reason"
	}
	return line
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
