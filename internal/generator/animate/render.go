package animate

import "math"

// Pose is the state of the head and face in one frame.
type Pose struct {
	Angle  float64 // head roll about the neck, radians (positive: clockwise on screen)
	ShiftX float64 // head sway, pixels
	NodY   float64 // head nod, pixels (positive: down)
	Open   float64 // jaw opening, 0..1
	Round  float64 // lip rounding, 0..1: narrows the opening
	Blink  float64 // eyelids, 0 open … 1 closed
}

// bounded is p with what no plan produces made harmless: a motion that is
// not a finite number is none, a shift or nod is at most the frame's size
// (the fixed-point loops' coordinates then stay far from overflowing) and
// the turn at most a quarter turn; the warps clamp their own amounts.
func (p Pose) bounded(s *Scene) Pose {
	limit := func(v, m float64) float64 {
		if math.IsNaN(v) {
			return 0
		}
		return math.Max(-m, math.Min(m, v))
	}
	p.Angle = limit(p.Angle, math.Pi/2)
	p.ShiftX = limit(p.ShiftX, float64(s.W))
	p.NodY = limit(p.NodY, float64(s.H))
	for _, v := range []*float64{&p.Open, &p.Round, &p.Blink} {
		if math.IsNaN(*v) {
			*v = 0
		}
	}
	return p
}

// Colours of the mouth's inside (limited-range YCbCr).
const (
	cavityY, cavityCb, cavityCr = 30.0, 121.0, 150.0
	teethY, teethCb, teethCr    = 182.0, 126.0, 131.0
)

// Render draws the frame for p into dst (FrameSize bytes, yuv420p). Only
// the head region is resampled; the rest of the portrait is copied, so the
// shoulders and background stand still and the frame's edges never move.
func (s *Scene) Render(dst []byte, p Pose) {
	p = p.bounded(s)
	dy, dcb, dcr := s.still(dst)
	m, w := s.inverse(p), newWarp(s, p)
	s.renderLuma(dy, m, w)
	s.renderChroma(dcb, dcr, m, w)
}

// still copies the portrait into dst and returns its three planes.
func (s *Scene) still(dst []byte) (y, cb, cr []byte) {
	cw, ch := s.W/2, s.H/2
	y, cb, cr = dst[:s.W*s.H], dst[s.W*s.H:s.W*s.H+cw*ch], dst[s.W*s.H+cw*ch:]
	copy(y, s.y)
	copy(cb, s.cb)
	copy(cr, s.cr)
	return y, cb, cr
}

// affine maps output pixel coordinates to portrait coordinates.
type affine struct{ a, b, c, d, e, f float64 }

func (m affine) apply(x, y float64) (float64, float64) {
	return m.a*x + m.b*y + m.c, m.d*x + m.e*y + m.f
}

// inverse returns the map from output to portrait coordinates of the head's
// rigid motion: a turn about the neck, then a shift.
func (s *Scene) inverse(p Pose) affine {
	nx, ny := s.g.neckX, s.g.neckY
	cos, sin := math.Cos(-p.Angle), math.Sin(-p.Angle)
	// src = N + R(-θ)(out - N - t)
	ox, oy := -nx-p.ShiftX, -ny-p.NodY
	return affine{
		a: cos, b: -sin, c: nx + cos*ox - sin*oy,
		d: sin, e: cos, f: ny + sin*ox + cos*oy,
	}
}

// The per-pixel loops run in 16.16 fixed point: a source coordinate is an
// int whose low 16 bits are the fraction, so the 8-bit blend weights are
// bits 8–15 and the integer pixel is a shift, with no float conversions in
// the loop. A head weight is likewise 0…1<<16. 16 fractional bits keep the
// step's rounding under 0.01 pixel across a 1280-pixel row; a point the
// face's warp may move leaves the fixed-point path for the float one.
const (
	fixShift = 16
	fixOne   = 1 << fixShift
)

// fix converts v to 16.16 fixed point, rounding to nearest.
func fix(v float64) int { return int(math.Round(v * fixOne)) }

// renderLuma resamples the head region: each pixel moves with the head by
// its weight (1 on the head, fading to 0 at the neck and around the hair),
// then the face's own warp applies.
func (s *Scene) renderLuma(dst []byte, m affine, w *warp) {
	W, H := s.W, s.H
	hb := s.head
	bw := hb.Dx()
	a, d := fix(m.a), fix(m.d)
	for j := hb.Min.Y; j < hb.Max.Y; j++ {
		wrow := s.weight[(j-hb.Min.Y)*bw : (j-hb.Min.Y+1)*bw]
		out := dst[j*W+hb.Min.X : j*W+hb.Max.X]
		hx, hy := m.apply(float64(hb.Min.X), float64(j))
		hxq, hyq := fix(hx), fix(hy)
		iq, jq := hb.Min.X<<fixShift, j<<fixShift
		warped := w.coversRows(sourceRows(jq, hyq, hyq+d*(bw-1)))
		for k, om := range wrow {
			if om != 0 {
				sx, sy := moved(iq, hxq, int(om)), moved(jq, hyq, int(om))
				xi, yi := sx>>fixShift, sy>>fixShift
				switch {
				case warped && w.covers(xi, yi):
					out[k] = w.luma(s, float64(sx)/fixOne, float64(sy)/fixOne)
				case sx >= 0 && sy >= 0 && xi < W-1 && yi < H-1:
					out[k] = interp(s.y, yi*W+xi, W, sx>>8&255, sy>>8&255)
				default:
					out[k] = bilinear(s.y, W, H, float64(sx)/fixOne, float64(sy)/fixOne)
				}
			}
			iq += fixOne
			hxq += a
			hyq += d
		}
	}
}

// moved is where a pixel at p (16.16) samples when the head's motion takes
// it to h and its weight is om (0…fixOne): between the two.
func moved(p, h, om int) int { return p + (h-p)*om>>fixShift }

// sourceRows is the range of portrait rows a row of output at y samples,
// given where the head's motion takes its first and last pixel (hy0, hy1;
// all 16.16): a pixel's source row lies between y and its head-motion
// row, which is linear along the row.
func sourceRows(y, hy0, hy1 int) (int, int) {
	return min(y, hy0, hy1) >> fixShift, max(y, hy0, hy1) >> fixShift
}

// renderChroma does the same at half resolution: chroma sample (i, j) sits
// at luma position (2i+0.5, 2j+0.5) and takes the head weight of luma pixel
// (2i, 2j).
func (s *Scene) renderChroma(dcb, dcr []byte, m affine, w *warp) {
	cw, ch := s.W/2, s.H/2
	hb := s.head
	i0, i1 := hb.Min.X/2, min((hb.Max.X+1)/2, cw)
	a, d := fix(2*m.a), fix(2*m.d)
	for j := hb.Min.Y / 2; j < (hb.Max.Y+1)/2 && j < ch; j++ {
		ly := 2*float64(j) + 0.5
		wrow := s.weight[(max(min(2*j, hb.Max.Y-1), hb.Min.Y)-hb.Min.Y)*hb.Dx():]
		hx, hy := m.apply(2*float64(i0)+0.5, ly)
		hxq, hyq := fix(hx), fix(hy)
		lxq, lyq := fix(2*float64(i0)+0.5), fix(ly)
		warped := w.coversRows(sourceRows(lyq, hyq, hyq+d*(i1-i0-1)))
		for i := i0; i < i1; i++ {
			om := int(wrow[max(min(2*i, hb.Max.X-1), hb.Min.X)-hb.Min.X])
			if om != 0 {
				sx, sy := moved(lxq, hxq, om), moved(lyq, hyq, om)
				k := j*cw + i
				// The chroma plane's own coordinates of the point.
				cx, cy := (sx-fixOne/2)>>1, (sy-fixOne/2)>>1
				xi, yi := cx>>fixShift, cy>>fixShift
				switch {
				case warped && w.covers(sx>>fixShift, sy>>fixShift):
					dcb[k], dcr[k] = w.chroma(s, float64(sx)/fixOne, float64(sy)/fixOne)
				case cx >= 0 && cy >= 0 && xi < cw-1 && yi < ch-1:
					fx, fy := cx>>8&255, cy>>8&255
					dcb[k] = interp(s.cb, yi*cw+xi, cw, fx, fy)
					dcr[k] = interp(s.cr, yi*cw+xi, cw, fx, fy)
				default:
					dcb[k] = bilinear(s.cb, cw, ch, float64(cx)/fixOne, float64(cy)/fixOne)
					dcr[k] = bilinear(s.cr, cw, ch, float64(cx)/fixOne, float64(cy)/fixOne)
				}
			}
			lxq += 2 * fixOne
			hxq += a
			hyq += d
		}
	}
}

// interp blends the 2×2 pixels at index k of a plane with row stride w by
// 8-bit weights fx, fy; the caller guarantees k+w+1 is inside.
func interp(p []uint8, k, w, fx, fy int) uint8 {
	p0, p1 := int(p[k]), int(p[k+1])
	p2, p3 := int(p[k+w]), int(p[k+w+1])
	top := p0<<8 + (p1-p0)*fx
	bot := p2<<8 + (p3-p2)*fx
	return uint8((top<<8 + (bot-top)*fy + 32768) >> 16)
}

// bilinear samples plane p (w×h) at (x, y), clamping to the edges.
func bilinear(p []uint8, w, h int, x, y float64) uint8 {
	if x < 0 {
		x = 0
	} else if x > float64(w-1) {
		x = float64(w - 1)
	}
	if y < 0 {
		y = 0
	} else if y > float64(h-1) {
		y = float64(h - 1)
	}
	// 8-bit fixed-point weights: exact enough for 8-bit pixels, and cheap.
	xf, yf := int(x*256), int(y*256)
	x0, y0 := xf>>8, yf>>8
	fx, fy := xf&255, yf&255
	x1, y1 := x0+1, y0+1
	if x1 >= w {
		x1 = w - 1
	}
	if y1 >= h {
		y1 = h - 1
	}
	r0, r1 := y0*w, y1*w
	top := int(p[r0+x0])*(256-fx) + int(p[r0+x1])*fx
	bot := int(p[r1+x0])*(256-fx) + int(p[r1+x1])*fx
	return uint8((top*(256-fy) + bot*fy + 32768) >> 16)
}
