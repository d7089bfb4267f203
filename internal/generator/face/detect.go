package face

import (
	pigo "github.com/esimov/pigo/core"
)

const (
	// minQ is the cluster score (pigo Q, summed over the windows merged into
	// a cluster) a face must reach. Measured with the scan settings below:
	// the astronaut portrait scores 62-95 (resized from 160 to 2400 px,
	// mirrored, cropped); the best non-face clusters are the coffee cup at
	// 2.1-5.6 and the cat at up to 3.8; the cameraman's turned face 0.2.
	// 15 sits between the two groups (near their geometric mean).
	minQ = 15.0
	// minFaceSide is the smallest face window pigo's facefinder is trained
	// for; smaller images cannot hold a usable face.
	minFaceSide = 24
	// maxWorkSide bounds the short side of the image the cascades scan.
	maxWorkSide = 720
	// relMinFace is the smallest face searched for, as a fraction of the
	// image's short side: smaller faces are not a portrait's subject, and
	// skipping tiny windows keeps the scan fast.
	relMinFace = 0.1
	// clusterIoU merges overlapping windows into one detection.
	clusterIoU = 0.2
)

// faceBox is a detected face in working-image pixels.
type faceBox struct {
	row, col, size float64
	q              float64
}

// findFace scans g with the face cascade and returns the most prominent
// confident face: the largest of the clusters scoring at least minQ and at
// least a quarter of the best cluster's score.
func findFace(m *models, g *grayImage) (faceBox, bool) {
	short := min(g.w, g.h)
	params := pigo.CascadeParams{
		MinSize:     max(minFaceSide, int(relMinFace*float64(short))),
		MaxSize:     short,
		ShiftFactor: 0.1,
		ScaleFactor: 1.1,
		ImageParams: pigo.ImageParams{Pixels: g.pix, Rows: g.h, Cols: g.w, Dim: g.w},
	}
	dets := m.face.ClusterDetections(m.face.RunCascade(params, 0), clusterIoU)

	var bestQ float32
	for _, d := range dets {
		bestQ = max(bestQ, d.Q)
	}
	var best pigo.Detection
	found := false
	for _, d := range dets {
		if float64(d.Q) < minQ || d.Q < bestQ/4 {
			continue
		}
		if !found || d.Scale > best.Scale || (d.Scale == best.Scale && d.Q > best.Q) {
			best, found = d, true
		}
	}
	if !found {
		return faceBox{}, false
	}
	return faceBox{row: float64(best.Row), col: float64(best.Col), size: float64(best.Scale), q: float64(best.Q)}, true
}
