package media

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/avatar-api/avatar-api/internal/ffmpeg"
	"github.com/avatar-api/avatar-api/internal/refusal"
)

// probeTimeout bounds ffprobe, which reads headers (and, for some formats,
// the packets' timestamps) but decodes nothing.
const probeTimeout = 15 * time.Second

// audioSpeed is the slowest pace, in multiples of real time, at which
// decoding an upload may run on a loaded machine before it is stopped
// (it runs at a hundred times real time or more when idle).
const audioSpeed = 4

// ErrInterrupted means a check of an upload was stopped from outside (the
// decoder killed by the kernel's OOM killer, say): not the upload's fault;
// the request may be retried.
var ErrInterrupted = errors.New("the check of the upload was interrupted")

// runError turns a failed run into an error: a refusal of the upload when
// the program ran and rejected it (with ffmpeg's own words kept apart, for
// the log), an ordinary error otherwise.
func runError(err error, cmd *ffmpeg.Cmd, path, code, message, what string) error {
	if ffmpeg.Failed(err) {
		return refusal.New(code, "%s", message).WithDetail(stderrReason(cmd.Stderr.String(), path))
	}
	if ffmpeg.Killed(err) {
		// Killed from outside (out of memory, say): the service's trouble,
		// not the upload's; the client may retry.
		return fmt.Errorf("%w: %s: %w", ErrInterrupted, what, err)
	}
	if errors.Is(err, ffmpeg.ErrDeadline) {
		// It ran the whole deadline (set from the longest allowed audio):
		// the upload is to blame, and the refusal counts like any other.
		return refusal.New(code, "the audio took too long to read; send it in a plainer format (WAV, MP3)").WithDetail(err.Error())
	}
	return fmt.Errorf("%s: %w", what, err)
}

// stderrReason is a program's last stderr line, for the log: the upload's
// path (which reveals the server's layout) replaced and ffmpeg's memory
// addresses removed.
func stderrReason(stderr, path string) string {
	line := ffmpeg.Scrub(ffmpeg.TailLines(stderr, 1), map[string]string{path: "the audio", "pipe:0": "the audio"})
	line = strings.TrimPrefix(line, "the audio: ")
	if len(line) > 200 {
		line = line[:200] + "…"
	}
	if line == "" {
		return "the decoder gave no reason"
	}
	return line
}
