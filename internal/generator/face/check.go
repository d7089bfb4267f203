package face

import (
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // portrait formats (canonical inputs are PNG)
	_ "image/png"
	"os"

	xdraw "golang.org/x/image/draw"
	_ "golang.org/x/image/webp"

	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/refusal"
)

// CodeNoFace refuses a portrait in which no face is found.
const CodeNoFace = "no_face_detected"

// Checker refuses, before a job is queued, a portrait in which no face can
// be found (unless the request's FaceFallback asks to animate an estimated
// face). It is a component of its own, chosen apart from the generator, so
// the check holds for every generator that animates a face: the built-in
// one, which finds the face with the same Find, or a GPU backend.
type Checker struct{}

// NewChecker returns the face check.
func NewChecker() *Checker { return &Checker{} }

// Check implements generator.Checker. It looks for the face exactly as the
// built-in generator will, and builds nothing else: its memory is the
// decoded portrait, a grey copy and a small working image.
func (*Checker) Check(_ context.Context, req generator.Request) error {
	src, err := Load(req.ImagePath)
	if err != nil {
		return err
	}
	_, err = Find(src, req)
	return err
}

// CheckPixels is Check on the portrait already decoded: the canonical
// pixels the upload's own check holds (media.CanonicalImageThen), the
// same values Load would read back from req.ImagePath.
func (*Checker) CheckPixels(_ context.Context, src image.Image, req generator.Request) error {
	_, err := Find(src, req)
	return err
}

// CheckMemory is an upper bound of what Check allocates for a w×h
// portrait: the decoded portrait, Detect's grey copy, and for a small
// portrait the working copy scaled up to at most 2048² with its own grey
// copy, plus the detector's small buffers. TestCheckMemory holds it.
func (*Checker) CheckMemory(w, h int) int64 {
	const work = 2048 * 2048
	return 4*int64(w)*int64(h) + int64(w)*int64(h) + 5*work + 1<<20
}

// Load decodes the portrait at path; one that cannot be decoded is refused
// with refusal.CodeInvalidImage.
func Load(path string) (image.Image, error) {
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

// Find finds the face in the portrait, in its coordinates, for the
// request's output size. A portrait smaller than the output is looked at
// scaled up to it (at most 2048 pixels a side), as the detector needs a
// face of some size; Detect shrinks large ones itself. The scaling is
// bilinear: CatmullRom would allocate a working buffer of 32 bytes per
// output column and input row (152 MiB for a 1919² portrait and a 1920²
// video), which the upload's check has not reserved. With no face it
// refuses the portrait with CodeNoFace, or with req.FaceFallback returns
// nil: animate an estimated face.
func Find(src image.Image, req generator.Request) (*Face, error) {
	b := src.Bounds()
	look, k := src, 1.0
	if up := min(float64(min(req.Width, req.Height))/float64(min(b.Dx(), b.Dy())), 2048/float64(max(b.Dx(), b.Dy()))); up > 1 {
		big := image.NewRGBA(image.Rect(0, 0, int(float64(b.Dx())*up+0.5), int(float64(b.Dy())*up+0.5)))
		xdraw.ApproxBiLinear.Scale(big, big.Bounds(), src, b, xdraw.Src, nil)
		look, k = big, float64(big.Bounds().Dx())/float64(b.Dx())
	}
	f, err := Detect(look)
	switch {
	case errors.Is(err, ErrNoFace):
		if !req.FaceFallback {
			return nil, &refusal.Error{Code: CodeNoFace,
				Message: "no face was found in the image; send a frontal portrait, or set face_fallback=true to animate an estimated face region"}
		}
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("finding the face: %w", err)
	}
	if k != 1 {
		f = f.Mapped(image.Point{}, 1/k, 1/k).shifted(float64(b.Min.X), float64(b.Min.Y))
	}
	return &f, nil
}

// Mapped is f in an image made from the window of f's image starting at
// origin, scaled by sx across and sy down.
func (f Face) Mapped(origin image.Point, sx, sy float64) Face {
	for _, p := range f.points() {
		p.X = (p.X - float64(origin.X)) * sx
		p.Y = (p.Y - float64(origin.Y)) * sy
	}
	f.Size *= (sx + sy) / 2
	return f
}

// shifted moves every point of f by (dx, dy).
func (f Face) shifted(dx, dy float64) Face {
	for _, p := range f.points() {
		p.X += dx
		p.Y += dy
	}
	return f
}

// points are f's landmarks, to be moved in place.
func (f *Face) points() []*Point {
	return []*Point{&f.Center, &f.LeftEye, &f.RightEye, &f.MouthLeft, &f.MouthRight, &f.UpperLip, &f.LowerLip}
}
