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
	_ "image/jpeg" // portrait formats
	_ "image/png"
	"os"
	"runtime"
	"time"

	xdraw "golang.org/x/image/draw"
	_ "golang.org/x/image/webp"

	"github.com/avatar-api/avatar-api/internal/ffmpeg"
	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/generator/animate"
	"github.com/avatar-api/avatar-api/internal/generator/audio"
	"github.com/avatar-api/avatar-api/internal/generator/encode"
	"github.com/avatar-api/avatar-api/internal/generator/face"
)

// Error codes of inputs this generator refuses.
const (
	CodeNoFace       = "no_face_detected"
	CodeInvalidImage = "invalid_image"
	CodeInvalidAudio = "invalid_audio"
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

// Check refuses, before a job is queued, a portrait in which no face can be
// found (unless req.FaceFallback asks to animate an estimated face).
func (g *Generator) Check(_ context.Context, req generator.Request) error {
	_, _, err := prepare(req)
	return err
}

// prepare loads the portrait, scales it to cover the output size, finds the
// face, and crops the output window around it.
func prepare(req generator.Request) (image.Image, face.Face, error) {
	scaled, err := loadScaled(req.ImagePath, req.Width, req.Height)
	if err != nil {
		return nil, face.Face{}, err
	}
	f, err := face.Detect(scaled)
	switch {
	case errors.Is(err, face.ErrNoFace):
		if !req.FaceFallback {
			return nil, face.Face{}, &generator.InputError{Code: CodeNoFace,
				Message: "no face was found in the image; send a frontal portrait, or set face_fallback=true to animate an estimated face region"}
		}
		win := cropWindow(scaled.Bounds(), req.Width, req.Height, nil)
		return scaled.SubImage(win), face.Fallback(req.Width, req.Height), nil
	case err != nil:
		return nil, face.Face{}, fmt.Errorf("finding the face: %w", err)
	}
	win := cropWindow(scaled.Bounds(), req.Width, req.Height, &f)
	return scaled.SubImage(win), shift(f, -float64(win.Min.X), -float64(win.Min.Y)), nil
}

// loadScaled decodes the portrait and scales it to the smallest size that
// covers w×h.
func loadScaled(path string, w, h int) (*image.RGBA, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening the image: %w", err)
	}
	defer file.Close()
	src, _, err := image.Decode(file)
	if err != nil {
		return nil, &generator.InputError{Code: CodeInvalidImage, Message: "the image could not be decoded", Detail: err.Error()}
	}
	b := src.Bounds()
	scale := max(float64(w)/float64(b.Dx()), float64(h)/float64(b.Dy()))
	sw, sh := max(int(float64(b.Dx())*scale+0.5), w), max(int(float64(b.Dy())*scale+0.5), h)
	scaled := image.NewRGBA(image.Rect(0, 0, sw, sh))
	xdraw.CatmullRom.Scale(scaled, scaled.Bounds(), src, b, xdraw.Src, nil)
	return scaled, nil
}

// cropWindow places the w×h output inside bounds: centred on the face, with
// the face 40% of the way down, as far as the picture allows; without a
// face, centred across and 40% down the overflow.
func cropWindow(bounds image.Rectangle, w, h int, f *face.Face) image.Rectangle {
	x0, y0 := (bounds.Dx()-w)/2, (bounds.Dy()-h)*2/5
	if f != nil {
		x0 = int(f.Center.X) - w/2
		y0 = int(f.Center.Y - 0.4*float64(h))
	}
	x0 = max(0, min(x0, bounds.Dx()-w))
	y0 = max(0, min(y0, bounds.Dy()-h))
	return image.Rect(x0, y0, x0+w, y0+h).Add(bounds.Min)
}

// shift moves every point of f by (dx, dy).
func shift(f face.Face, dx, dy float64) face.Face {
	for _, p := range []*face.Point{&f.Center, &f.LeftEye, &f.RightEye, &f.MouthLeft, &f.MouthRight, &f.UpperLip, &f.LowerLip} {
		p.X += dx
		p.Y += dy
	}
	return f
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
		return nil, nil, &generator.InputError{Code: CodeInvalidAudio, Message: "the audio could not be decoded", Detail: err.Error()}
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
