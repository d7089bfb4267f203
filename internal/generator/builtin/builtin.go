// Package builtin is the CPU avatar generator: it finds the face in the
// portrait, reads the speech's loudness frame by frame, and animates jaw,
// lips, eyelids and head to match, encoding with ffmpeg as it renders. It
// needs no GPU and no model weights.
package builtin

import (
	"context"
	"errors"
	"fmt"
	"image"
	"os"
	"runtime"
	"time"

	xdraw "golang.org/x/image/draw"

	"github.com/avatar-api/avatar-api/internal/ffmpeg"
	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/generator/animate"
	"github.com/avatar-api/avatar-api/internal/generator/audio"
	"github.com/avatar-api/avatar-api/internal/generator/encode"
	"github.com/avatar-api/avatar-api/internal/generator/face"
	"github.com/avatar-api/avatar-api/internal/refusal"
)

// Generator is the built-in animator.
type Generator struct {
	ffmpeg  string
	workers int
}

// New returns a generator running ffmpeg (name or path; "" for "ffmpeg")
// and rendering on every core.
func New(ffmpeg string) *Generator {
	return &Generator{ffmpeg: ffmpeg, workers: runtime.GOMAXPROCS(0)}
}

// prepare loads the portrait, finds the face, and makes the scene: the
// window of the portrait that covers the output, centred on the face,
// scaled to the output size. Only that window is scaled, so nothing larger
// than the portrait and the output is made whatever their shapes (scaling
// the whole portrait to cover the output first turned a 64x4096 portrait
// for a 1920x128 video into a 1920x122880 image).
func prepare(req generator.Request) (image.Image, face.Face, error) {
	src, err := face.Load(req.ImagePath)
	if err != nil {
		return nil, face.Face{}, err
	}
	f, err := face.Find(src, req)
	if err != nil {
		return nil, face.Face{}, err
	}
	win := cropWindow(src.Bounds(), req.Width, req.Height, f)
	scene := image.NewRGBA(image.Rect(0, 0, req.Width, req.Height))
	xdraw.CatmullRom.Scale(scene, scene.Bounds(), src, win, xdraw.Src, nil)
	if f == nil {
		return scene, face.Fallback(req.Width, req.Height), nil
	}
	sx, sy := float64(req.Width)/float64(win.Dx()), float64(req.Height)/float64(win.Dy())
	return scene, f.Mapped(win.Min, sx, sy), nil
}

// cropWindow is the window of the portrait (bounds) that covers a w×h
// output at the smallest scale: centred on the face, with the face 40% of
// the way down, as far as the picture allows; without a face, centred
// across and 40% down the overflow.
func cropWindow(bounds image.Rectangle, w, h int, f *face.Face) image.Rectangle {
	s := max(float64(w)/float64(bounds.Dx()), float64(h)/float64(bounds.Dy()))
	ww := min(bounds.Dx(), max(1, int(float64(w)/s+0.5)))
	wh := min(bounds.Dy(), max(1, int(float64(h)/s+0.5)))
	x0, y0 := (bounds.Dx()-ww)/2, (bounds.Dy()-wh)*2/5
	if f != nil {
		x0 = int(f.Center.X-float64(bounds.Min.X)) - ww/2
		y0 = int(f.Center.Y - float64(bounds.Min.Y) - 0.4*float64(wh))
	}
	x0 = max(0, min(x0, bounds.Dx()-ww))
	y0 = max(0, min(y0, bounds.Dy()-wh))
	return image.Rect(x0, y0, x0+ww, y0+wh).Add(bounds.Min)
}

// plan prepares everything but the pixels: the scene, and the pose of each
// frame from the audio's mouth drive, the prompt's style and the seed.
func (g *Generator) plan(ctx context.Context, req generator.Request) (*animate.Scene, []animate.Pose, error) {
	img, f, err := prepare(req)
	if err != nil {
		return nil, nil, err
	}
	pcm, err := audio.Decode(ctx, g.ffmpeg, audio.Input{Path: req.AudioPath, Format: req.Demuxer(), Duration: req.AudioDuration})
	if errors.Is(err, audio.ErrInvalid) {
		return nil, nil, &refusal.Error{Code: refusal.CodeInvalidAudio, Message: "the audio could not be decoded", Detail: err.Error()}
	}
	if err != nil {
		return nil, nil, err
	}
	n := audio.Frames(pcm.Duration(), req.FPS)
	drive := audio.Analyze(pcm, req.FPS, n, audio.DefaultStyle())
	open, round := make([]float64, n), make([]float64, n)
	for i, fr := range drive {
		open[i], round[i] = fr.Open, fr.Round
	}
	scene := animate.NewScene(img, f)
	return scene, scene.Plan(req.FPS, open, round, animate.StyleFor(req.Prompt), req.Seed), nil
}

// Generate implements generator.Generator.
func (g *Generator) Generate(ctx context.Context, req generator.Request, progress generator.ProgressFunc) (generator.Result, error) {
	scene, poses, err := g.plan(ctx, req)
	if err != nil {
		return generator.Result{}, err
	}
	n := len(poses)
	enc, err := encode.Start(ctx, encode.Options{
		FFmpeg: g.ffmpeg, Width: scene.W, Height: scene.H, FPS: req.FPS,
		AudioPath: req.AudioPath, AudioFormat: req.Demuxer(), Output: req.OutputPath,
		Timeout: ffmpeg.EncodeDeadline(time.Duration(n)*time.Second/time.Duration(req.FPS), scene.W, scene.H, req.FPS),
	})
	if err != nil {
		return generator.Result{}, err
	}
	if err := render(ctx, scene, poses, g.workers, enc, progress); err != nil {
		enc.Abort()
		return generator.Result{}, err
	}
	if err := enc.Finish(); err != nil {
		return generator.Result{}, err
	}
	fi, err := os.Stat(req.OutputPath)
	if err != nil {
		return generator.Result{}, fmt.Errorf("reading the video: %w", err)
	}
	return generator.Result{
		Duration: time.Duration(n) * time.Second / time.Duration(req.FPS),
		Width:    scene.W, Height: scene.H, FPS: req.FPS, Frames: n, Size: fi.Size(),
	}, nil
}
