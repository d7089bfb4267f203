package media

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/avatar-api/avatar-api/internal/ffmpeg"
)

const (
	probeTimeout  = 15 * time.Second // ffprobe reads headers only
	decodeTimeout = 60 * time.Second // a full decode of the longest allowed audio
)

// run executes name with args, killing it when ctx ends or timeout passes.
// A non-nil error is either an *exec.ExitError (the program ran and failed,
// which for these programs means it did not like the input) or a failure to
// run at all.
func run(ctx context.Context, timeout time.Duration, name string, args ...string) (stdout, stderr []byte, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, errTail, err := ffmpeg.Run(ctx, name, args...)
	if err != nil && ctx.Err() != nil {
		return nil, nil, fmt.Errorf("%s did not finish: %w", name, ctx.Err())
	}
	return out, []byte(errTail), err
}

// programFailed reports whether err means the program ran and exited with
// an error, as opposed to not running at all.
func programFailed(err error) bool {
	var exit *exec.ExitError
	return errors.As(err, &exit)
}

// stderrReason turns a program's stderr into a short phrase for a customer:
// its last line, with the upload's path (which reveals server layout)
// replaced and ffmpeg's memory addresses removed.
func stderrReason(stderr []byte, path string) string {
	line := ffmpeg.Scrub(ffmpeg.TailLines(string(stderr), 1), map[string]string{path: "the audio"})
	line = strings.TrimPrefix(line, "the audio: ")
	if len(line) > 200 {
		line = line[:200] + "…"
	}
	if line == "" {
		return "the decoder gave no reason"
	}
	return line
}
