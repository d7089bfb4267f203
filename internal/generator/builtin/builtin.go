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
	"github.com/avatar-api/avatar-api/internal/refusal"
)

// CodeNoFace refuses a portrait in which no face is found.
const CodeNoFace = "no_face_detected"

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
// found (unless req.FaceFallback asks to animate an estimated face). It
// looks for the face exactly as Generate will, and builds nothing else: its
// memory is the decoded portrait, a grey copy and a small working image.
func (g *Generator) Check(_ context.Context, req generator.Request) error {
	src, err := load(req.ImagePath)
	if err != nil {
		return err
	}
	_, err = findFace(src, req)
	return err
}

// CheckMemory is an upper bound of what Check allocates for a w×h
// portrait: the decoded portrait, face.Detect's grey copy, and for a small
// portrait the working copy scaled up to at most 2048² with its own grey
// copy, plus the detector's small buffers. TestCheckMemory holds it.
func (g *Generator) CheckMemory(w, h int) int64 {
	const work = 2048 * 2048
	return 4*int64(w)*int64(h) + int64(w)*int64(h) + 5*work + 1<<20
}

// prepare loads the portrait, finds the face, and makes the scene: the
// window of the portrait that covers the output, centred on the face,
// scaled to the output size. Only that window is scaled, so nothing larger
// than the portrait and the output is made whatever their shapes (scaling
// the whole portrait to cover the output first turned a 64x4096 portrait
// for a 1920x128 video into a 1920x122880 image).
func prepare(req generator.Request) (image.Image, face.Face, error) {
	src, err := load(req.ImagePath)
	if err != nil {
		return nil, face.Face{}, err
	}
	f, err := findFace(src, req)
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
	return scene, transform(*f, win.Min, sx, sy), nil
}

// load decodes the portrait (canonical inputs are PNG).
func load(path string) (image.Image, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening the image: %w", err)
	}
	defer file.Close()
	src, _, err := image.Decode(file)
	if err != nil {
		return nil, &refusal.Error{Code: refusal.CodeInvalidImage, Message: "the image could not be decoded", Detail: err.Error()}
	}
	return src, nil
}

// findFace finds the face in the portrait, in its coordinates. A portrait
// smaller than the output is looked at scaled up to it (at most 2048 pixels
// a side), as the detector needs a face of some size; face.Detect shrinks
// large ones itself. The scaling is bilinear: CatmullRom would allocate a
// working buffer of 32 bytes per output column and input row (152 MiB for
// a 1919² portrait and a 1920² video), which the upload's check has not
// reserved. With no face it refuses the portrait, or with
// req.FaceFallback returns nil: animate an estimated face.
func findFace(src image.Image, req generator.Request) (*face.Face, error) {
	b := src.Bounds()
	look, k := src, 1.0
	if up := min(float64(min(req.Width, req.Height))/float64(min(b.Dx(), b.Dy())), 2048/float64(max(b.Dx(), b.Dy()))); up > 1 {
		big := image.NewRGBA(image.Rect(0, 0, int(float64(b.Dx())*up+0.5), int(float64(b.Dy())*up+0.5)))
		xdraw.ApproxBiLinear.Scale(big, big.Bounds(), src, b, xdraw.Src, nil)
		look, k = big, float64(big.Bounds().Dx())/float64(b.Dx())
	}
	f, err := face.Detect(look)
	switch {
	case errors.Is(err, face.ErrNoFace):
		if !req.FaceFallback {
			return nil, &refusal.Error{Code: CodeNoFace,
				Message: "no face was found in the image; send a frontal portrait, or set face_fallback=true to animate an estimated face region"}
		}
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("finding the face: %w", err)
	}
	if k != 1 {
		f = transform(f, image.Point{}, 1/k, 1/k)
		f = shift(f, float64(b.Min.X), float64(b.Min.Y))
	}
	return &f, nil
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

// transform maps f into the scene made from the window starting at origin
// scaled by sx, sy.
func transform(f face.Face, origin image.Point, sx, sy float64) face.Face {
	for _, p := range []*face.Point{&f.Center, &f.LeftEye, &f.RightEye, &f.MouthLeft, &f.MouthRight, &f.UpperLip, &f.LowerLip} {
		p.X = (p.X - float64(origin.X)) * sx
		p.Y = (p.Y - float64(origin.Y)) * sy
	}
	f.Size *= (sx + sy) / 2
	return f
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
