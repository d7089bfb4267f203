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

// Colours of the mouth's inside (limited-range YCbCr).
const (
	cavityY, cavityCb, cavityCr = 30.0, 121.0, 150.0
	teethY, teethCb, teethCr    = 182.0, 126.0, 131.0
)

// Render draws the frame for p into dst (FrameSize bytes, yuv420p). Only
// the head region is resampled; the rest of the portrait is copied, so the
// shoulders and background stand still and the frame's edges never move.
func (s *Scene) Render(dst []byte, p Pose) {
	cw, ch := s.W/2, s.H/2
	dy, dcb, dcr := dst[:s.W*s.H], dst[s.W*s.H:s.W*s.H+cw*ch], dst[s.W*s.H+cw*ch:]
	copy(dy, s.y)
	copy(dcb, s.cb)
	copy(dcr, s.cr)
	m := s.inverse(p)
	w := newWarp(s, p)
	s.renderLuma(dy, m, w)
	s.renderChroma(dcb, dcr, m, w)
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

// renderLuma resamples the head region: each pixel moves with the head by
// its weight (1 on the head, fading to 0 at the neck and around the hair),
// then the face's own warp applies.
func (s *Scene) renderLuma(dst []byte, m affine, w *warp) {
	W, H := s.W, s.H
	hb := s.head
	for j := hb.Min.Y; j < hb.Max.Y; j++ {
		fy := float64(j)
		wrow := s.weight[(j-hb.Min.Y)*hb.Dx():]
		hx, hy := m.apply(float64(hb.Min.X), fy)
		for i := hb.Min.X; i < hb.Max.X; i++ {
			om := float64(wrow[i-hb.Min.X])
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

// renderChroma does the same at half resolution: chroma sample (i, j) sits
// at luma position (2i+0.5, 2j+0.5).
func (s *Scene) renderChroma(dcb, dcr []byte, m affine, w *warp) {
	cw, ch := s.W/2, s.H/2
	hb := s.head
	for j := hb.Min.Y / 2; j < (hb.Max.Y+1)/2 && j < ch; j++ {
		ly := 2*float64(j) + 0.5
		wrow := s.weight[(max(min(2*j, hb.Max.Y-1), hb.Min.Y)-hb.Min.Y)*hb.Dx():]
		for i := hb.Min.X / 2; i < (hb.Max.X+1)/2 && i < cw; i++ {
			om := float64(wrow[max(min(2*i, hb.Max.X-1), hb.Min.X)-hb.Min.X])
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
