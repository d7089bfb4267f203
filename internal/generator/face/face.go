// Package face finds the geometry of the face in a portrait (face box,
// pupils, mouth corners and lips) so the animator knows what to move. It
// runs pigo's pure-Go cascades once per job on the still image.
package face

import (
	"errors"
	"fmt"
	"image"
	"math"
)

// Point is a position in image pixels (X right, Y down).
type Point struct{ X, Y float64 }

// Face is what the animator needs to know about the portrait. All points are
// in the coordinates of the image given to Detect (its Bounds, not shifted).
type Face struct {
	Center     Point   // centre of the detected face box
	Size       float64 // side of the face box, pixels
	LeftEye    Point   // pupil on the image's left
	RightEye   Point   // pupil on the image's right
	MouthLeft  Point   // mouth corner on the image's left
	MouthRight Point   // mouth corner on the image's right
	UpperLip   Point   // centre of the upper lip (top edge of the mouth opening)
	LowerLip   Point   // centre of the lower lip
	Score      float64 // detector confidence (pigo Q)
	Estimated  bool    // true when landmarks were estimated from face proportions (fallback)
}

// ErrNoFace is returned by Detect when the image holds no frontal face the
// detector is confident about; callers may then use Fallback.
var ErrNoFace = errors.New("no face detected")

// Detect finds the most prominent (largest, confident) frontal face in img.
// Landmarks the cascades cannot place plausibly are replaced by estimates
// from the face box, with Estimated set. The result is deterministic.
func Detect(img image.Image) (Face, error) {
	m, err := loadModels()
	if err != nil {
		return Face{}, fmt.Errorf("load face cascades: %w", err)
	}
	b := img.Bounds()
	if b.Dx() < minFaceSide || b.Dy() < minFaceSide {
		return Face{}, ErrNoFace
	}
	// Very large photos are box-filtered down first: pigo samples single
	// pixels, so sensor noise at full resolution only hurts.
	k := max(1, (min(b.Dx(), b.Dy())+maxWorkSide-1)/maxWorkSide)
	g := toGray(img).shrink(k)

	box, ok := findFace(m, g)
	if !ok {
		return Face{}, ErrNoFace
	}
	f := locateLandmarks(m, g, box)
	return f.scaled(float64(k), b.Min), nil
}

// scaled maps f from a working image shrunk by k back to the caller's
// image, whose bounds start at origin.
func (f Face) scaled(k float64, origin image.Point) Face {
	if k == 1 && origin == (image.Point{}) {
		return f
	}
	off := (k - 1) / 2 // centre of the k x k block a working pixel came from
	p := func(q Point) Point {
		return Point{q.X*k + off + float64(origin.X), q.Y*k + off + float64(origin.Y)}
	}
	f.Center, f.LeftEye, f.RightEye = p(f.Center), p(f.LeftEye), p(f.RightEye)
	f.MouthLeft, f.MouthRight = p(f.MouthLeft), p(f.MouthRight)
	f.UpperLip, f.LowerLip = p(f.UpperLip), p(f.LowerLip)
	f.Size *= k
	return f
}

// MouthBox returns the rectangle (image pixels) around the mouth that moves
// when it opens: the corners, the lips and down to about the chin. It is not
// clipped to the image; callers intersect it with the image bounds.
func (f Face) MouthBox() image.Rectangle {
	width := f.MouthRight.X - f.MouthLeft.X
	padX := 0.25 * width
	top := math.Min(f.UpperLip.Y, math.Min(f.MouthLeft.Y, f.MouthRight.Y)) - 0.15*width
	// The jaw drops with the mouth, so the box reaches the chin, which sits
	// about one mouth-height below the lower lip and near the face box edge.
	chin := math.Max(f.LowerLip.Y+0.5*width, f.Center.Y+0.5*f.Size)
	return image.Rect(
		int(math.Floor(f.MouthLeft.X-padX)),
		int(math.Floor(top)),
		int(math.Ceil(f.MouthRight.X+padX)),
		int(math.Ceil(chin)),
	)
}
