package face

import "math"

// Typical landmark positions in a pigo face box, as fractions of the box
// side from its centre. Measured on the astronaut portrait (eyes at
// -0.15/+0.24, -0.09; corners +0.26; lips +0.25 and +0.39 while smiling)
// and evened out towards a neutral, closed mouth.
const (
	eyeDX        = 0.19 // half the distance between the pupils
	eyeDY        = -0.09
	mouthDX      = 0.16 // half the mouth width
	mouthDY      = 0.29 // mouth corners
	upperLipDY   = 0.25
	lowerLipDY   = 0.36
	fallbackSize = 0.4  // face box side as a fraction of the image's short side
	fallbackY    = 0.42 // face box centre as a fraction of the image height
)

// Fallback returns a plausible face for an image of size w x h with no
// detectable face: centred horizontally, upper-middle, with landmarks at
// typical proportions, Estimated=true. The animator uses it to still move
// something sensible when Detect returns ErrNoFace.
func Fallback(w, h int) Face {
	w, h = max(w, 1), max(h, 1)
	f := Face{
		Center:    Point{float64(w) / 2, fallbackY * float64(h)},
		Size:      fallbackSize * float64(min(w, h)),
		Estimated: true,
	}
	f.estimateEyes()
	f.estimateMouth()
	return f
}

func (f *Face) estimateEyes() {
	c, s := f.Center, f.Size
	f.LeftEye = Point{c.X - eyeDX*s, c.Y + eyeDY*s}
	f.RightEye = Point{c.X + eyeDX*s, c.Y + eyeDY*s}
}

// estimateMouth centres the mouth under the pupils, which (when detected)
// locate the face more precisely than the box does.
func (f *Face) estimateMouth() {
	x := (f.LeftEye.X + f.RightEye.X) / 2
	y, s := f.Center.Y, f.Size
	f.MouthLeft = Point{x - mouthDX*s, y + mouthDY*s}
	f.MouthRight = Point{x + mouthDX*s, y + mouthDY*s}
	f.UpperLip = Point{x, y + upperLipDY*s}
	f.LowerLip = Point{x, y + lowerLipDY*s}
}

// rel returns p relative to the face box: centre 0, box edges at ±0.5.
func (f *Face) rel(p Point) (u, v float64) {
	if f.Size <= 0 {
		return math.NaN(), math.NaN()
	}
	return (p.X - f.Center.X) / f.Size, (p.Y - f.Center.Y) / f.Size
}

// eyesPlausible reports whether the pupils sit in the upper part of the box,
// in left-right order, a face-like distance apart and not steeply tilted.
func (f *Face) eyesPlausible() bool {
	lu, lv := f.rel(f.LeftEye)
	ru, rv := f.rel(f.RightEye)
	for _, v := range []float64{lv, rv} {
		if !(v >= -0.4 && v <= 0.1) {
			return false
		}
	}
	dx, dy := ru-lu, rv-lv
	return lu >= -0.5 && ru <= 0.5 &&
		dx >= 0.2 && dx <= 0.65 &&
		math.Abs(dy) <= 0.5*dx &&
		math.Abs(lu+ru)/2 <= 0.2
}

// mouthPlausible reports whether the mouth points form a mouth: inside the
// lower half of the box, below the eyes, corners ordered left to right and
// not steeply tilted, lips between the corners with the upper above the
// lower, and corners level with the lips.
func (f *Face) mouthPlausible() bool {
	pts := []Point{f.MouthLeft, f.MouthRight, f.UpperLip, f.LowerLip}
	eyeV := (f.LeftEye.Y+f.RightEye.Y)/2 - f.Center.Y
	for _, p := range pts {
		u, v := f.rel(p)
		if !(math.Abs(u) <= 0.5 && v > 0 && v <= 0.5) {
			return false
		}
		if (p.Y-f.Center.Y-eyeV)/f.Size < 0.2 {
			return false // too close to, or above, the eyes
		}
	}
	lu, lv := f.rel(f.MouthLeft)
	ru, rv := f.rel(f.MouthRight)
	uu, uv := f.rel(f.UpperLip)
	du, dv := f.rel(f.LowerLip)
	width := ru - lu
	eyeMid := ((f.LeftEye.X+f.RightEye.X)/2 - f.Center.X) / f.Size
	return width >= 0.15 && width <= 0.7 &&
		math.Abs(rv-lv) <= 0.5*width &&
		uu > lu && uu < ru && du > lu && du < ru &&
		dv-uv >= 0.02 &&
		math.Min(lv, rv) >= uv-0.12 && math.Max(lv, rv) <= dv &&
		math.Abs((lu+ru)/2-eyeMid) <= 0.15
}
