package animate

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/avatar-api/avatar-api/internal/generator/face"
)

// The float inner loops the fixed-point ones replaced, kept as the oracle
// TestFixedPointMatchesFloat compares them with and as BenchmarkRender's
// reference: every output pixel looks up its source point in float64 and
// blends by 8-bit weights. The jaw's and lids' warp is the same code.

func (s *Scene) renderFloat(dst []byte, p Pose) {
	dy, dcb, dcr := s.still(dst)
	m, w := s.inverse(p), newWarp(s, p)
	s.renderLumaFloat(dy, m, w)
	s.renderChromaFloat(dcb, dcr, m, w)
}

func (s *Scene) renderLumaFloat(dst []byte, m affine, w *warp) {
	W, H := s.W, s.H
	hb := s.head
	for j := hb.Min.Y; j < hb.Max.Y; j++ {
		fy := float64(j)
		wrow := s.weight[(j-hb.Min.Y)*hb.Dx():]
		hx, hy := m.apply(float64(hb.Min.X), fy)
		for i := hb.Min.X; i < hb.Max.X; i++ {
			om := float64(wrow[i-hb.Min.X]) / fixOne
			if om > 0 {
				fx := float64(i)
				sx, sy := fx+(hx-fx)*om, fy+(hy-fy)*om
				xi, yi := int(sx), int(sy)
				switch {
				case w.covers(xi, yi):
					dst[j*W+i] = w.luma(s, sx, sy)
				case sx >= 0 && sy >= 0 && xi < W-1 && yi < H-1:
					dst[j*W+i] = interp(s.y, yi*W+xi, W, int((sx-float64(xi))*256), int((sy-float64(yi))*256))
				default:
					dst[j*W+i] = bilinear(s.y, W, H, sx, sy)
				}
			}
			hx += m.a
			hy += m.d
		}
	}
}

func (s *Scene) renderChromaFloat(dcb, dcr []byte, m affine, w *warp) {
	cw, ch := s.W/2, s.H/2
	hb := s.head
	for j := hb.Min.Y / 2; j < (hb.Max.Y+1)/2 && j < ch; j++ {
		ly := 2*float64(j) + 0.5
		wrow := s.weight[(max(min(2*j, hb.Max.Y-1), hb.Min.Y)-hb.Min.Y)*hb.Dx():]
		for i := hb.Min.X / 2; i < (hb.Max.X+1)/2 && i < cw; i++ {
			om := float64(wrow[max(min(2*i, hb.Max.X-1), hb.Min.X)-hb.Min.X]) / fixOne
			if om == 0 {
				continue
			}
			lx := 2*float64(i) + 0.5
			hx, hy := m.apply(lx, ly)
			sx, sy := lx+(hx-lx)*om, ly+(hy-ly)*om
			k := j*cw + i
			if w.covers(int(sx), int(sy)) {
				dcb[k], dcr[k] = w.chroma(s, sx, sy)
				continue
			}
			cx, cy := (sx-0.5)/2, (sy-0.5)/2
			xi, yi := int(cx), int(cy)
			if cx >= 0 && cy >= 0 && xi < cw-1 && yi < ch-1 {
				fx, fy := int((cx-float64(xi))*256), int((cy-float64(yi))*256)
				dcb[k] = interp(s.cb, yi*cw+xi, cw, fx, fy)
				dcr[k] = interp(s.cr, yi*cw+xi, cw, fx, fy)
			} else {
				dcb[k] = bilinear(s.cb, cw, ch, cx, cy)
				dcr[k] = bilinear(s.cr, cw, ch, cx, cy)
			}
		}
	}
}

// TestFixedPointMatchesFloat: the fixed-point renderer draws what the float
// one drew, to within rounding, over the poses of 12 s of lively speech
// and at the extremes, at both of the generator's sizes.
func TestFixedPointMatchesFloat(t *testing.T) {
	t.Parallel()
	for _, size := range []struct{ w, h int }{{0, 0}, {1280, 720}} {
		t.Run(fmt.Sprint(size.w, "x", size.h), func(t *testing.T) {
			t.Parallel()
			// Every 10th pose at 512×512, every 50th at 1280×720, and the
			// extremes: the race detector's suite renders 200 times slower.
			fixedMatchesFloat(t, testSceneAt(t, size.w, size.h), 10+size.w/32)
		})
	}
}

// fixedMatchesFloat compares every every-th of the poses.
func fixedMatchesFloat(t *testing.T, s *Scene, every int) {
	open := make([]float64, 25*12)
	for i := range open {
		open[i] = 0.5 + 0.5*math.Sin(float64(i)/3)
	}
	poses := s.Plan(25, open, nil, StyleFor("an excited singer"), 7)
	poses = append(poses,
		Pose{}, Pose{Open: 1, Blink: 1}, Pose{Angle: 0.05, ShiftX: 20, NodY: -15, Open: 1, Round: 1, Blink: 0.5},
		Pose{Angle: -0.05, ShiftX: -30, NodY: 25, Open: 0.3})
	fixed, float := make([]byte, s.FrameSize()), make([]byte, s.FrameSize())
	var off1, off2, more, worst, total, frames int
	for i, p := range poses {
		if i%every != 0 && i < len(poses)-4 { // the extremes always
			continue
		}
		frames++
		s.Render(fixed, p)
		s.renderFloat(float, p)
		for k := range fixed {
			d := int(fixed[k]) - int(float[k])
			if d < 0 {
				d = -d
			}
			switch {
			case d == 0:
			case d == 1:
				off1++
			case d == 2:
				off2++
			default:
				more++
			}
			worst = max(worst, d)
		}
		total += len(fixed)
	}
	// The two differ where a source coordinate's rounding crosses a 1/256
	// step of the blend: a level of one, rarely two. More only where the
	// mouth's warp is discontinuous, at the inner edge of the lower lip, and
	// a coordinate a few 1/65536 of a pixel apart lands on the other side.
	pct := func(n int) float64 { return 100 * float64(n) / float64(total) }
	t.Logf("%d frames: of the bytes, %.4f%% differ by one level, %.5f%% by two, %.6f%% by more (worst %d)",
		frames, pct(off1), pct(off2), pct(more), worst)
	// Measured: 0.05 % (512×512) and 0.09 % (1280×720) by one, none by
	// two, two bytes of 84 million by three. The bounds leave a little room.
	if pct(off1) > 0.2 || pct(off2) > 0.001 || pct(more) > 0.00001 || worst > 8 {
		t.Error("the fixed-point renderer draws another picture")
	}
}

// TestSourceRowsHoldEveryPixel: a row skips the test for the jaw's and
// lids' warp when sourceRows says no pixel of it can sample a row they
// reach; so every pixel's source row must lie within sourceRows, for any
// turn and shift, at both planes, or a warped point would be drawn
// unwarped.
func TestSourceRowsHoldEveryPixel(t *testing.T) {
	t.Parallel()
	s := testScene(t)
	rng := rand.New(rand.NewPCG(1, 2))
	hb := s.head
	for range 100 {
		p := Pose{Angle: (rng.Float64() - 0.5), ShiftX: (rng.Float64() - 0.5) * 0.6 * float64(s.W), NodY: (rng.Float64() - 0.5) * 0.6 * float64(s.H)}
		m := s.inverse(p)
		// Luma: as renderLuma walks a row.
		a, d := fix(m.a), fix(m.d)
		for j := hb.Min.Y; j < hb.Max.Y; j++ {
			hx, hy := m.apply(float64(hb.Min.X), float64(j))
			hxq, hyq := fix(hx), fix(hy)
			lo, hi := sourceRows(j<<fixShift, hyq, hyq+d*(hb.Dx()-1))
			for i := range hb.Dx() {
				om := int(s.weight[(j-hb.Min.Y)*hb.Dx()+i])
				if y := moved(j<<fixShift, hyq, om) >> fixShift; y < lo || y > hi {
					t.Fatalf("pose %+v: luma (%d, %d) samples row %d, outside %d…%d", p, hb.Min.X+i, j, y, lo, hi)
				}
				hxq += a
				hyq += d
			}
		}
		// Chroma: as renderChroma walks a row.
		cw, ch := s.W/2, s.H/2
		i0, i1 := hb.Min.X/2, min((hb.Max.X+1)/2, cw)
		d = fix(2 * m.d)
		for j := hb.Min.Y / 2; j < (hb.Max.Y+1)/2 && j < ch; j++ {
			ly := 2*float64(j) + 0.5
			_, hy := m.apply(2*float64(i0)+0.5, ly)
			hyq, lyq := fix(hy), fix(ly)
			lo, hi := sourceRows(lyq, hyq, hyq+d*(i1-i0-1))
			wrow := s.weight[(max(min(2*j, hb.Max.Y-1), hb.Min.Y)-hb.Min.Y)*hb.Dx():]
			for i := i0; i < i1; i++ {
				om := int(wrow[max(min(2*i, hb.Max.X-1), hb.Min.X)-hb.Min.X])
				if y := moved(lyq, hyq, om) >> fixShift; y < lo || y > hi {
					t.Fatalf("pose %+v: chroma (%d, %d) samples luma row %d, outside %d…%d", p, i, j, y, lo, hi)
				}
				hyq += d
			}
		}
	}
}

// TestWarpIsIdentityOutsideItsBoxes: wherever covers says the warp does not
// reach (outside the jaw box, or the eye box, as tight as they are), the
// warp moves nothing and paints nothing, for any opening, rounding and
// blink: the renderers draw those points without it.
func TestWarpIsIdentityOutsideItsBoxes(t *testing.T) {
	t.Parallel()
	for _, size := range []struct{ w, h int }{{0, 0}, {1280, 720}} {
		s := testSceneAt(t, size.w, size.h)
		for _, p := range []Pose{{Open: 1}, {Open: 1, Round: 1}, {Open: 0.4, Blink: 1}, {Blink: 0.5}, {Open: 1, Blink: 1}} {
			w := newWarp(s, p)
			// A box too tight shows just outside it: a band of 8 pixels
			// around each, every half pixel.
			for _, box := range []image.Rectangle{s.g.jawBox, s.g.eyeBox} {
				band := box.Inset(-8)
				for y := float64(band.Min.Y); y < float64(band.Max.Y); y += 0.5 {
					for x := float64(band.Min.X); x < float64(band.Max.X); x += 0.5 {
						if w.covers(int(math.Floor(x)), int(math.Floor(y))) {
							continue
						}
						if sx, sy, in := w.at(x, y); sx != x || sy != y || in.alpha != 0 {
							t.Fatalf("%dx%d, pose %+v: the warp takes (%g, %g) from (%g, %g), alpha %g, outside its boxes", s.W, s.H, p, x, y, sx, sy, in.alpha)
						}
					}
				}
			}
		}
	}
}

// TestHostilePoses: poses no plan makes (huge or non-finite motion,
// amounts out of range) on scenes of any size, down to a few pixels and
// odd ones, draw a frame without panicking.
func TestHostilePoses(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	nan, inf := math.NaN(), math.Inf(1)
	odd := []float64{nan, inf, -inf, 1e12, -1e12, 3e9}
	pick := func(scale float64) float64 {
		if rng.IntN(8) == 0 {
			return odd[rng.IntN(len(odd))]
		}
		return (rng.Float64()*1.6 - 0.3) * scale
	}
	for _, size := range [][2]int{{2, 2}, {4, 4}, {6, 2}, {16, 16}, {64, 64}, {130, 98}, {131, 97}, {257, 191}} {
		img := image.NewRGBA(image.Rect(0, 0, size[0], size[1]))
		for i := range img.Pix {
			img.Pix[i] = uint8(rng.IntN(256))
		}
		s := NewScene(img, face.Fallback(size[0], size[1]))
		buf := make([]byte, s.FrameSize())
		for range 40 {
			p := Pose{Angle: pick(1), ShiftX: pick(float64(size[0])), NodY: pick(float64(size[1])), Open: pick(1), Round: pick(1), Blink: pick(1)}
			s.Render(buf, p)
		}
	}
}
