// Package still is the cheapest Generator (GENERATOR=still): it shows the
// portrait, unmoving, for the length of the speech, at the cost of one
// ffmpeg process per video. The API's tests run the whole service on it,
// and an operator may choose it where motion is not needed; the built-in
// animator (package builtin) is the default.
package still

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/avatar-api/avatar-api/internal/generator"
)

// Generator makes an MP4 of a still image with the request's audio.
// It is safe for concurrent use.
type Generator struct {
	ffmpeg  string
	ffprobe string
}

var _ generator.Generator = (*Generator)(nil)

// New returns a Generator that runs the given ffmpeg and ffprobe programs;
// empty names mean "ffmpeg" and "ffprobe" on PATH.
func New(ffmpeg, ffprobe string) *Generator {
	if ffmpeg == "" {
		ffmpeg = "ffmpeg"
	}
	if ffprobe == "" {
		ffprobe = "ffprobe"
	}
	return &Generator{ffmpeg: ffmpeg, ffprobe: ffprobe}
}

// Generate writes req.OutputPath: H.264 video of req.ImagePath scaled and
// cropped to fill req.Width×req.Height, at req.FPS, for as many frames as
// cover the audio, with the audio in AAC. The video is written to a
// temporary file beside OutputPath and renamed over it only on success.
// Inputs that ffmpeg cannot read give a *refusal.Error.
func (g *Generator) Generate(ctx context.Context, req generator.Request, progress generator.ProgressFunc) (generator.Result, error) {
	if err := checkRequest(req); err != nil {
		return generator.Result{}, err
	}
	audio, err := g.audioDuration(ctx, req.AudioPath, req.Demuxer())
	if err != nil {
		return generator.Result{}, err
	}
	frames := frameCount(audio, req.FPS)

	tmp, err := os.CreateTemp(filepath.Dir(req.OutputPath), "."+filepath.Base(req.OutputPath)+".*.tmp")
	if err != nil {
		return generator.Result{}, fmt.Errorf("create temporary output: %w", err)
	}
	tmpPath := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpPath) // a no-op once renamed

	done, err := g.encode(ctx, req, frames, tmpPath, progress)
	if err != nil {
		return generator.Result{}, err
	}
	res, err := g.describeOutput(ctx, tmpPath)
	if err != nil {
		return generator.Result{}, err
	}
	if err := os.Rename(tmpPath, req.OutputPath); err != nil {
		return generator.Result{}, fmt.Errorf("move video into place: %w", err)
	}
	res.FPS, res.Frames = req.FPS, done
	return res, nil
}

// checkRequest refuses requests that are the caller's mistake, not the
// customer's, so they are ordinary errors.
func checkRequest(req generator.Request) error {
	switch {
	case req.ImagePath == "" || req.AudioPath == "" || req.OutputPath == "":
		return errors.New("still: request needs ImagePath, AudioPath and OutputPath")
	case req.Width <= 0 || req.Height <= 0 || req.Width%2 != 0 || req.Height%2 != 0:
		return fmt.Errorf("still: size %dx%d must be positive and even (H.264 with 4:2:0 chroma)", req.Width, req.Height)
	case req.FPS <= 0:
		return fmt.Errorf("still: fps %d must be positive", req.FPS)
	}
	return nil
}

// frameCount is the number of frames that covers d: ceil(d × fps), in
// integer arithmetic so that exact lengths do not gain a frame.
func frameCount(d time.Duration, fps int) int {
	n := (int64(d)*int64(fps) + int64(time.Second) - 1) / int64(time.Second)
	return int(max(n, 1))
}
