// Package animate draws the frames of a talking portrait. A Scene holds the
// portrait as YUV 4:2:0 planes and the face's geometry; Render draws one
// frame for a Pose (head motion, jaw opening, blink) straight into a
// yuv420p buffer, ready for the encoder, in one inverse-mapping pass: every
// output pixel looks up where it comes from in the portrait.
package animate

import (
	"image"
	"image/draw"
	"math"

	"github.com/avatar-api/avatar-api/internal/generator/face"
)

// Scene is a portrait prepared for animation. It is read-only once built,
// so frames can be rendered from many goroutines at once.
type Scene struct {
	W, H   int
	y      []uint8 // W×H luma
	cb, cr []uint8 // (W/2)×(H/2) chroma
	face   face.Face
	g      geometry
	head   image.Rectangle // where the head's motion reaches
	weight []int32         // head.Dx()×head.Dy(): how much each pixel moves with the head, 0…fixOne
}

// geometry is the face's layout in pixels, derived once.
type geometry struct {
	mouthX, mouthY   float64         // centre of the closed mouth line
	mouthHalfW       float64         // half the mouth's width
	jawHalfW         float64         // half-width of the region the jaw moves
	chinY            float64         // where the jaw's pull starts fading
	jawFade          float64         // over how many pixels below chinY
	upperFade        float64         // how far above the mouth the upper lip's lift fades
	maxOpen          float64         // jaw drop at Open = 1, pixels
	eyeHalfW, eyeTop float64         // eye box half-width; distance from pupil up to the lid fold
	eyeBottom        float64         // distance from pupil down to the lower lid
	neckX, neckY     float64         // pivot of head motion
	jawBox, eyeBox   image.Rectangle // where the mouth's and the lids' warps reach
}

// NewScene converts img (already at output size, W and H even) to planes
// and lays out the face.
func NewScene(img image.Image, f face.Face) *Scene {
	b := img.Bounds()
	w, h := b.Dx()&^1, b.Dy()&^1
	rgba := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
	s := &Scene{W: w, H: h, face: f}
	s.y, s.cb, s.cr = toYUV420(rgba)
	s.g = layout(f, w, h)
	s.head, s.weight = headWeights(f, w, h)
	return s
}

// headWeights is how much each pixel moves with the head: 1 over the face
// and hair (an ellipse around the face, reaching up for the hair), fading
// to 0 around it and below the chin, where the neck and shoulders stay put,
// and 0 within 8 pixels of the frame, whose edges therefore never move.
func headWeights(f face.Face, w, h int) (image.Rectangle, []int32) {
	cx, cy := f.Center.X, f.Center.Y-0.12*f.Size
	rx, ry := 0.78*f.Size, 0.88*f.Size
	const fade = 1.45 // weight reaches 0 at this many radii
	box := image.Rect(int(cx-fade*rx)-1, int(cy-fade*ry)-1, int(cx+fade*rx)+2, int(cy+fade*ry)+2).
		Intersect(image.Rect(0, 0, w, h))
	weights := make([]int32, box.Dx()*box.Dy())
	chin := f.Center.Y + 0.55*f.Size
	for j := box.Min.Y; j < box.Max.Y; j++ {
		for i := box.Min.X; i < box.Max.X; i++ {
			x, y := float64(i), float64(j)
			d := math.Hypot((x-cx)/rx, (y-cy)/ry)
			om := 1 - smoothstep(1, fade, d)
			om *= 1 - smoothstep(chin, chin+0.3*f.Size, y)
			edge := math.Min(math.Min(x, float64(w-1)-x), math.Min(y, float64(h-1)-y))
			om *= smoothstep(0, 8, edge)
			weights[(j-box.Min.Y)*box.Dx()+(i-box.Min.X)] = int32(fix(om))
		}
	}
	return box, weights
}

func layout(f face.Face, w, h int) geometry {
	var g geometry
	g.mouthX = (f.MouthLeft.X + f.MouthRight.X) / 2
	g.mouthY = (f.UpperLip.Y + f.LowerLip.Y) / 2
	g.mouthHalfW = math.Max((f.MouthRight.X-f.MouthLeft.X)/2, 0.12*f.Size)
	g.jawHalfW = math.Max(0.42*f.Size, 1.6*g.mouthHalfW)
	g.chinY = g.mouthY + 0.28*f.Size
	g.jawFade = 0.22 * f.Size
	g.upperFade = 0.14 * f.Size
	g.maxOpen = 0.095 * f.Size
	eyeDist := math.Hypot(f.RightEye.X-f.LeftEye.X, f.RightEye.Y-f.LeftEye.Y)
	g.eyeHalfW = 0.32 * eyeDist
	g.eyeTop = 0.16 * eyeDist
	g.eyeBottom = 0.09 * eyeDist
	g.neckX = f.Center.X
	g.neckY = math.Min(f.Center.Y+0.85*f.Size, float64(h-1))
	frame := image.Rect(0, 0, w, h)
	// The mouth's warp moves points within jawHalfW of the mouth, from
	// upperFade above it to jawFade below the chin (warp.at).
	g.jawBox = image.Rect(
		int(g.mouthX-g.jawHalfW)-1, int(g.mouthY-g.upperFade)-1,
		int(g.mouthX+g.jawHalfW)+2, int(g.chinY+g.jawFade)+2,
	).Intersect(frame)
	g.eyeBox = image.Rect(
		int(math.Min(f.LeftEye.X, f.RightEye.X)-g.eyeHalfW)-2, int(math.Min(f.LeftEye.Y, f.RightEye.Y)-g.eyeTop)-2,
		int(math.Max(f.LeftEye.X, f.RightEye.X)+g.eyeHalfW)+2, int(math.Max(f.LeftEye.Y, f.RightEye.Y)+g.eyeBottom)+2,
	).Intersect(frame)
	return g
}

// Face returns the face the scene animates.
func (s *Scene) Face() face.Face { return s.face }

// FrameSize is the byte size of one yuv420p frame.
func (s *Scene) FrameSize() int { return s.W*s.H + 2*(s.W/2)*(s.H/2) }

// toYUV420 converts to BT.601 limited-range planes, as libx264 expects for
// yuv420p input; chroma is the average of each 2×2 block.
func toYUV420(m *image.RGBA) (y, cb, cr []uint8) {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	y = make([]uint8, w*h)
	cb = make([]uint8, (w/2)*(h/2))
	cr = make([]uint8, (w/2)*(h/2))
	for j := 0; j < h; j++ {
		row := m.Pix[j*m.Stride:]
		for i := 0; i < w; i++ {
			r, g, b := float64(row[4*i]), float64(row[4*i+1]), float64(row[4*i+2])
			y[j*w+i] = clamp8(16 + 0.2568*r + 0.5041*g + 0.0979*b)
		}
	}
	for j := 0; j < h/2; j++ {
		for i := 0; i < w/2; i++ {
			var r, g, b float64
			for _, o := range [4][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
				p := m.Pix[(2*j+o[1])*m.Stride+4*(2*i+o[0]):]
				r, g, b = r+float64(p[0]), g+float64(p[1]), b+float64(p[2])
			}
			r, g, b = r/4, g/4, b/4
			cb[j*(w/2)+i] = clamp8(128 - 0.1482*r - 0.2910*g + 0.4392*b)
			cr[j*(w/2)+i] = clamp8(128 + 0.4392*r - 0.3678*g - 0.0714*b)
		}
	}
	return y, cb, cr
}

func clamp8(v float64) uint8 {
	switch {
	case v <= 0:
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v + 0.5)
}
