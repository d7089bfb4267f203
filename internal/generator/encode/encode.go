// Package encode turns raw frames and an audio file into an MP4 with one
// ffmpeg process: yuv420p frames go in through a pipe, H.264 (libx264
// veryfast) and AAC come out, with the index at the front (+faststart) so
// the video plays while it downloads.
package encode

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/avatar-api/avatar-api/internal/ffmpeg"
)

// Options describe the video to write.
type Options struct {
	FFmpeg      string // executable; "" means "ffmpeg"
	Width       int
	Height      int
	FPS         int
	AudioPath   string // its first audio stream is used
	AudioFormat string // the demuxer AudioPath is read with (forced); "" means "wav"
	Output      string // written only when Finish succeeds
	// Timeout bounds the whole encode, frames included (ffmpeg.EncodeDeadline).
	Timeout time.Duration
}

// Encoder is a running ffmpeg process taking frames.
type Encoder struct {
	opts  Options
	cmd   *ffmpeg.Cmd
	stdin io.WriteCloser
	tmp   string
	done  bool
}

// Start launches ffmpeg. The caller must end with Finish or Abort.
func Start(ctx context.Context, o Options) (*Encoder, error) {
	if o.FFmpeg == "" {
		o.FFmpeg = "ffmpeg"
	}
	if o.AudioFormat == "" {
		o.AudioFormat = "wav"
	}
	tmp, err := os.CreateTemp(filepath.Dir(o.Output), ".encode-*.mp4")
	if err != nil {
		return nil, fmt.Errorf("creating output: %w", err)
	}
	tmp.Close()
	frames := ffmpeg.Input{Format: "rawvideo", Options: []string{
		"-pix_fmt", "yuv420p", "-video_size", strconv.Itoa(o.Width) + "x" + strconv.Itoa(o.Height),
		"-framerate", strconv.Itoa(o.FPS),
	}}
	cmd, err := ffmpeg.Command(ctx, o.FFmpeg, o.Timeout, []ffmpeg.Input{frames, {Format: o.AudioFormat, Path: o.AudioPath}},
		"-loglevel", "error", "-y",
		"-map", "0:v:0", "-map", "1:a:0",
		"-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
		"-colorspace", "smpte170m", "-color_primaries", "smpte170m", "-color_trc", "smpte170m", "-color_range", "tv",
		"-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", "-f", "mp4", "file:"+tmp.Name())
	if err != nil {
		os.Remove(tmp.Name())
		return nil, err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("starting ffmpeg: %w", err)
	}
	if err := cmd.Start(); err != nil {
		os.Remove(tmp.Name())
		return nil, err
	}
	return &Encoder{opts: o, cmd: cmd, stdin: stdin, tmp: tmp.Name()}, nil
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
	if !ffmpeg.Failed(err) {
		return fmt.Errorf("ffmpeg: %w", err)
	}
	names := map[string]string{e.opts.AudioPath: "the audio", e.tmp: "the output"}
	msg := ffmpeg.Scrub(ffmpeg.TailLines(e.cmd.Stderr.String(), 3), names)
	if msg == "" {
		msg = err.Error()
	}
	return fmt.Errorf("ffmpeg failed: %s", msg)
}
