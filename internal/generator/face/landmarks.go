package face

import "math"

// perturbs is how many jittered starts each landmark cascade is run from;
// pigo's examples use 50-63. The median over them is the landmark.
const perturbs = 63

// locateLandmarks places pupils, mouth corners and lips inside box the way
// pigo's facial_landmark example does, replacing implausible results with
// proportional estimates.
func locateLandmarks(m *models, g *grayImage, box faceBox) Face {
	f := Face{
		Center: Point{box.col, box.row},
		Size:   box.size,
		Score:  box.q,
	}
	s := box.size
	left := m.pupil.locate(g, window{box.row - 0.085*s, box.col - 0.185*s, 0.4 * s}, perturbs, false)
	right := m.pupil.locate(g, window{box.row - 0.085*s, box.col + 0.185*s, 0.4 * s}, perturbs, false)
	f.LeftEye, f.RightEye = left.point(), right.point()
	if !f.eyesPlausible() {
		f.estimateEyes()
		f.Estimated = true
	}

	// The mouth cascades start from a window placed relative to the pupils
	// (pigo flploc.go GetLandmarkPoint), so they run after the eyes are
	// settled.
	l, r := f.LeftEye, f.RightEye
	dist := math.Hypot(r.X-l.X, r.Y-l.Y)
	start := window{
		row:   (l.Y+r.Y)/2 + 0.25*dist,
		col:   (l.X+r.X)/2 + 0.15*dist,
		scale: 3 * dist,
	}
	f.MouthLeft = m.mouthCorner.locate(g, start, perturbs, false).point()
	f.MouthRight = m.mouthCorner.locate(g, start, perturbs, true).point()
	f.UpperLip = m.upperLip.locate(g, start, perturbs, false).point()
	f.LowerLip = m.lowerLip.locate(g, start, perturbs, false).point()
	if !f.mouthPlausible() {
		f.estimateMouth()
		f.Estimated = true
	}
	return f
}

func (w window) point() Point { return Point{X: w.col, Y: w.row} }
