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

// prepare loads the portrait at output size and finds its face.
func prepare(req generator.Request) (image.Image, face.Face, error) {
	img, err := loadImage(req.ImagePath, req.Width, req.Height)
	if err != nil {
		return nil, face.Face{}, err
	}
	f, err := face.Detect(img)
	if errors.Is(err, face.ErrNoFace) {
		if !req.FaceFallback {
			return nil, face.Face{}, &generator.InputError{Code: CodeNoFace,
				Message: "no face was found in the image; send a frontal portrait, or set face_fallback=true to animate an estimated face region"}
		}
		f = face.Fallback(req.Width, req.Height)
	} else if err != nil {
		return nil, face.Face{}, fmt.Errorf("finding the face: %w", err)
	}
	return img, f, nil
}

// loadImage decodes the portrait and scales it to cover w×h, cropping the
// overflow around the centre (a little above it, where faces are).
func loadImage(path string, w, h int) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening the image: %w", err)
	}
	defer f.Close()
	src, _, err := image.Decode(f)
	if err != nil {
		return nil, &generator.InputError{Code: CodeInvalidImage, Message: "the image could not be decoded: " + err.Error()}
	}
	b := src.Bounds()
	scale := max(float64(w)/float64(b.Dx()), float64(h)/float64(b.Dy()))
	sw, sh := int(float64(b.Dx())*scale+0.5), int(float64(b.Dy())*scale+0.5)
	scaled := image.NewRGBA(image.Rect(0, 0, max(sw, w), max(sh, h)))
	xdraw.CatmullRom.Scale(scaled, scaled.Bounds(), src, b, xdraw.Src, nil)
	x0 := (scaled.Rect.Dx() - w) / 2
	y0 := (scaled.Rect.Dy() - h) * 2 / 5
	return scaled.SubImage(image.Rect(x0, y0, x0+w, y0+h)), nil
}

// plan prepares everything but the pixels: the scene, and the pose of each
// frame from the audio's mouth drive, the prompt's style and the seed.
func (g *Generator) plan(ctx context.Context, req generator.Request) (*animate.Scene, []animate.Pose, error) {
	img, f, err := prepare(req)
	if err != nil {
		return nil, nil, err
	}
	pcm, err := audio.Decode(ctx, g.ffmpeg, req.AudioPath)
	if errors.Is(err, audio.ErrInvalid) {
		return nil, nil, &generator.InputError{Code: CodeInvalidAudio, Message: err.Error()}
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
		AudioPath: req.AudioPath, Output: req.OutputPath,
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
