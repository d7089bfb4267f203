package animate

import "math"

// Pose is the state of the head and face in one frame.
type Pose struct {
	Angle  float64 // head roll about the neck, radians (positive: clockwise on screen)
	ShiftX float64 // head sway, pixels
	NodY   float64 // head nod, pixels (positive: down)
	Zoom   float64 // ≥ 1, so that the moving picture's edges never show
	Open   float64 // jaw opening, 0..1
	Round  float64 // lip rounding, 0..1: narrows the opening
	Blink  float64 // eyelids, 0 open … 1 closed
}

// Colours of the mouth's inside (limited-range YCbCr).
const (
	cavityY, cavityCb, cavityCr = 30.0, 121.0, 150.0
	teethY, teethCb, teethCr    = 182.0, 126.0, 131.0
)

// Render draws the frame for p into dst (FrameSize bytes, yuv420p).
func (s *Scene) Render(dst []byte, p Pose) {
	m := s.inverse(p)
	w := newWarp(s, p)
	s.renderLuma(dst[:s.W*s.H], m, w)
	cw, ch := s.W/2, s.H/2
	s.renderChroma(dst[s.W*s.H:s.W*s.H+cw*ch], dst[s.W*s.H+cw*ch:], m, w)
}

// affine maps output pixel coordinates to portrait coordinates.
type affine struct{ a, b, c, d, e, f float64 }

func (m affine) apply(x, y float64) (float64, float64) {
	return m.a*x + m.b*y + m.c, m.d*x + m.e*y + m.f
}

// inverse returns the map from output to portrait coordinates: the head
// turns about the neck and shifts, then the picture is zoomed about its
// centre; this undoes both.
func (s *Scene) inverse(p Pose) affine {
	zoom := p.Zoom
	if zoom < 1 {
		zoom = 1
	}
	cx, cy := float64(s.W)/2, float64(s.H)/2
	nx, ny := s.g.neckX, s.g.neckY
	cos, sin := math.Cos(-p.Angle), math.Sin(-p.Angle)
	// q = C + (out - C)/zoom; src = N + R(-θ)(q - N - t)
	// src = R(-θ)/zoom · out + [N + R(-θ)(C - C/zoom - N - t)]
	ox, oy := cx-cx/zoom-nx-p.ShiftX, cy-cy/zoom-ny-p.NodY
	return affine{
		a: cos / zoom, b: -sin / zoom, c: nx + cos*ox - sin*oy,
		d: sin / zoom, e: cos / zoom, f: ny + sin*ox + cos*oy,
	}
}

func (s *Scene) renderLuma(dst []byte, m affine, w *warp) {
	W, H := s.W, s.H
	box := s.g.box
	bx0, by0, bx1, by1 := float64(box.Min.X), float64(box.Min.Y), float64(box.Max.X), float64(box.Max.Y)
	for j := 0; j < H; j++ {
		sx, sy := m.apply(0, float64(j))
		row := dst[j*W : (j+1)*W]
		for i := range row {
			if sx >= bx0 && sx < bx1 && sy >= by0 && sy < by1 && w.active {
				row[i] = w.luma(s, sx, sy)
			} else {
				row[i] = bilinear(s.y, W, H, sx, sy)
			}
			sx += m.a
			sy += m.d
		}
	}
}

func (s *Scene) renderChroma(dcb, dcr []byte, m affine, w *warp) {
	cw, ch := s.W/2, s.H/2
	box := s.g.box
	bx0, by0, bx1, by1 := float64(box.Min.X), float64(box.Min.Y), float64(box.Max.X), float64(box.Max.Y)
	for j := 0; j < ch; j++ {
		// The chroma sample (i, j) sits at luma position (2i+0.5, 2j+0.5).
		sx, sy := m.apply(0.5, 2*float64(j)+0.5)
		for i := 0; i < cw; i++ {
			k := j*cw + i
			if sx >= bx0 && sx < bx1 && sy >= by0 && sy < by1 && w.active {
				dcb[k], dcr[k] = w.chroma(s, sx, sy)
			} else {
				dcb[k] = bilinear(s.cb, cw, ch, (sx-0.5)/2, (sy-0.5)/2)
				dcr[k] = bilinear(s.cr, cw, ch, (sx-0.5)/2, (sy-0.5)/2)
			}
			sx += 2 * m.a
			sy += 2 * m.d
		}
	}
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
