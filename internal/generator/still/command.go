package still

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/avatar-api/avatar-api/internal/ffmpeg"
	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/refusal"
)

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
	if !ffmpeg.Failed(err) {
		return fmt.Errorf("run %s: %w", program, err)
	}
	return &toolError{
		Program: program,
		Detail:  ffmpeg.Scrub(tailLines(stderr, 3), names),
		Last:    ffmpeg.Scrub(tailLines(stderr, 1), names),
		Err:     err,
	}
}

// blameInput turns a tool's failure to read an input into a *refusal.Error with
// the given code; other errors are returned as they are.
func blameInput(err error, code, what string) error {
	var te *toolError
	if !errors.As(err, &te) {
		return err
	}
	return &refusal.Error{Code: code, Message: what, Detail: te.Detail}
}

// encodeError explains a failed encode, blaming the image or the audio when
// ffmpeg's stderr shows which input it could not read.
func encodeError(ctx context.Context, err error, stderr string, req generator.Request, tmpPath string) error {
	names := map[string]string{req.ImagePath: "the image", req.AudioPath: "the audio", tmpPath: "the output"}
	err = commandError(ctx, "ffmpeg", err, stderr, names)
	switch culprit(stderr, req) {
	case "image":
		err = blameInput(err, refusal.CodeInvalidImage, "the image could not be decoded")
	case "audio":
		err = blameInput(err, refusal.CodeInvalidAudio, "the audio could not be decoded")
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

// tailLines returns the last n non-empty lines of s joined with "; ".
func tailLines(s string, n int) string {
	if t := ffmpeg.TailLines(s, n); t != "" {
		return t
	}
	return "no error message"
}
