// Package encode turns raw frames and an audio file into an MP4 with one
// ffmpeg process: yuv420p frames go in through a pipe, H.264 (libx264
// veryfast) and AAC come out, with the index at the front (+faststart) so
// the video plays while it downloads.
package encode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/avatar-api/avatar-api/internal/ffmpeg"
)

// Options describe the video to write.
type Options struct {
	FFmpeg    string // executable; "" means "ffmpeg"
	Width     int
	Height    int
	FPS       int
	AudioPath string // any file ffmpeg reads; its first audio stream is used
	Output    string // written only when Finish succeeds
}

// Encoder is a running ffmpeg process taking frames.
type Encoder struct {
	opts   Options
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *ffmpeg.TailBuffer
	tmp    string
	done   bool
}

// Start launches ffmpeg. The caller must end with Finish or Abort.
func Start(ctx context.Context, o Options) (*Encoder, error) {
	if o.FFmpeg == "" {
		o.FFmpeg = "ffmpeg"
	}
	tmp, err := os.CreateTemp(filepath.Dir(o.Output), ".encode-*.mp4")
	if err != nil {
		return nil, fmt.Errorf("creating output: %w", err)
	}
	tmp.Close()
	args := []string{
		"-hide_banner", "-loglevel", "error", "-y",
		"-f", "rawvideo", "-pix_fmt", "yuv420p",
		"-video_size", strconv.Itoa(o.Width) + "x" + strconv.Itoa(o.Height),
		"-framerate", strconv.Itoa(o.FPS), "-i", "pipe:0",
		"-i", "file:" + o.AudioPath,
		"-map", "0:v:0", "-map", "1:a:0",
		"-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
		"-colorspace", "smpte170m", "-color_primaries", "smpte170m", "-color_trc", "smpte170m", "-color_range", "tv",
	}
	args = append(args, "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", "-f", "mp4", "file:"+tmp.Name())
	cmd, stderr := ffmpeg.Command(ctx, o.FFmpeg, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("starting ffmpeg: %w", err)
	}
	if err := cmd.Start(); err != nil {
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("starting ffmpeg: %w", err)
	}
	return &Encoder{opts: o, cmd: cmd, stdin: stdin, stderr: stderr, tmp: tmp.Name()}, nil
}

// FrameSize is the byte size of one frame the encoder expects.
func (e *Encoder) FrameSize() int {
	return e.opts.Width*e.opts.Height + 2*(e.opts.Width/2)*(e.opts.Height/2)
}

// WriteFrame sends one yuv420p frame. If ffmpeg has stopped (a broken
// pipe), the error is ffmpeg's own account of why.
func (e *Encoder) WriteFrame(frame []byte) error {
	if len(frame) != e.FrameSize() {
		return fmt.Errorf("frame of %d bytes, want %d", len(frame), e.FrameSize())
	}
	if _, err := e.stdin.Write(frame); err != nil {
		werr := e.wait()
		e.Abort()
		if werr != nil {
			return werr
		}
		return fmt.Errorf("writing frame to ffmpeg: %w", err)
	}
	return nil
}

// Finish ends the input, waits for ffmpeg and moves the video into place.
func (e *Encoder) Finish() error {
	if err := e.stdin.Close(); err != nil {
		e.Abort()
		return fmt.Errorf("closing ffmpeg input: %w", err)
	}
	if err := e.wait(); err != nil {
		e.Abort()
		return err
	}
	if err := os.Rename(e.tmp, e.opts.Output); err != nil {
		os.Remove(e.tmp)
		return fmt.Errorf("moving video into place: %w", err)
	}
	return nil
}

// Abort stops ffmpeg, if it runs, and removes the partial output.
func (e *Encoder) Abort() {
	if !e.done {
		e.stdin.Close()
		_ = e.cmd.Process.Kill()
		_ = e.wait()
	}
	os.Remove(e.tmp)
}

// wait waits for ffmpeg once and explains a failure with its stderr.
func (e *Encoder) wait() error {
	if e.done {
		return nil
	}
	e.done = true
	err := e.cmd.Wait()
	if err == nil {
		return nil
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return fmt.Errorf("ffmpeg: %w", err)
	}
	names := map[string]string{e.opts.AudioPath: "the audio", e.tmp: "the output"}
	msg := ffmpeg.Scrub(ffmpeg.TailLines(e.stderr.String(), 3), names)
	if msg == "" {
		msg = exit.String()
	}
	return fmt.Errorf("ffmpeg failed: %s", msg)
}
