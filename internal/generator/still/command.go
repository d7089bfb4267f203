package still

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/avatar-api/avatar-api/internal/generator"
)

// command prepares name to run until ctx ends, then be killed at once; the
// returned buffer collects the end of its stderr.
func command(ctx context.Context, name string, args ...string) (*exec.Cmd, *tailBuffer) {
	stderr := &tailBuffer{max: 8 << 10}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = stderr
	cmd.Cancel = func() error { return cmd.Process.Kill() } // SIGKILL: ffmpeg may ignore a polite signal mid-encode
	cmd.WaitDelay = 2 * time.Second
	return cmd, stderr
}

// run runs name and returns its stdout and the end of its stderr.
func run(ctx context.Context, name string, args ...string) (stdout []byte, stderr string, err error) {
	var out bytes.Buffer
	cmd, errTail := command(ctx, name, args...)
	cmd.Stdout = &out
	err = cmd.Run()
	return out.Bytes(), errTail.String(), err
}

// toolError is a failure that ffmpeg or ffprobe reported itself. Detail is
// the end of its stderr and Last its final line, with file paths replaced.
type toolError struct {
	Program string
	Detail  string
	Last    string
	Err     error
}

func (e *toolError) Error() string {
	return fmt.Sprintf("%s failed: %s (%v)", e.Program, e.Detail, e.Err)
}
func (e *toolError) Unwrap() error { return e.Err }

// commandError explains why a program run failed. names maps file paths
// that may appear in stderr to words that may be shown instead.
func commandError(ctx context.Context, program string, err error, stderr string, names map[string]string) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s stopped: %w", program, ctx.Err())
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return fmt.Errorf("run %s: %w", program, err)
	}
	return &toolError{
		Program: program,
		Detail:  scrub(tailLines(stderr, 3), names),
		Last:    scrub(tailLines(stderr, 1), names),
		Err:     err,
	}
}

// blameInput turns a tool's failure to read an input into an InputError with
// the given code; other errors are returned as they are.
func blameInput(err error, code, what string) error {
	var te *toolError
	if !errors.As(err, &te) {
		return err
	}
	reason := te.Last
	for _, word := range []string{"the image: ", "the audio: "} {
		reason = strings.TrimPrefix(reason, word)
	}
	return &generator.InputError{Code: code, Message: what + ": " + reason}
}

// encodeError explains a failed encode, blaming the image or the audio when
// ffmpeg's stderr shows which input it could not read.
func encodeError(ctx context.Context, err error, stderr string, req generator.Request, tmpPath string) error {
	names := map[string]string{req.ImagePath: "the image", req.AudioPath: "the audio", tmpPath: "the output"}
	err = commandError(ctx, "ffmpeg", err, stderr, names)
	switch culprit(stderr, req) {
	case "image":
		err = blameInput(err, "invalid_image", "the image could not be decoded")
	case "audio":
		err = blameInput(err, "invalid_audio", "the audio could not be decoded")
	}
	return fmt.Errorf("encode video: %w", err)
}

// imageDecoder matches log lines from ffmpeg's image demuxer and decoders.
var imageDecoder = regexp.MustCompile(`^\[(image2|mjpeg|png|webp|\w+_pipe) @ `)

// culprit names the input that ffmpeg's first telling stderr line is about:
// input #0 is the image and input #1 the audio.
func culprit(stderr string, req generator.Request) string {
	for _, line := range strings.Split(stderr, "\n") {
		switch {
		case strings.Contains(line, req.ImagePath), strings.Contains(line, "stream #0:"), imageDecoder.MatchString(line):
			return "image"
		case strings.Contains(line, req.AudioPath), strings.Contains(line, "stream #1:"):
			return "audio"
		}
	}
	return ""
}

// logContext matches ffmpeg's "[mp3 @ 0x55d0c8a0] " line prefix.
var logContext = regexp.MustCompile(`\[([\w:,-]+) @ 0x[0-9a-fA-F]+\] `)

// scrub replaces file paths, which reveal the server's layout, and drops
// ffmpeg's memory addresses.
func scrub(s string, names map[string]string) string {
	for path, word := range names {
		for _, p := range []string{"file:" + path, path} {
			s = strings.ReplaceAll(s, p+": ", word+": ")
			s = strings.ReplaceAll(s, p, word)
		}
	}
	return logContext.ReplaceAllString(s, "$1: ")
}

// tailLines returns the last n non-empty lines of s joined with "; ".
func tailLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return "no error message"
	}
	return strings.Join(lines[max(0, len(lines)-n):], "; ")
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

func (t *tailBuffer) String() string { return string(t.buf) }
