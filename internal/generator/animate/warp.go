package animate

import "math"

// warp is the face's local deformation for one pose, in portrait
// coordinates: the jaw and lower lip move down, the upper lip a little up,
// the opening between them shows the mouth's inside, and the upper lids
// slide down over the eyes.
type warp struct {
	mouth, lids bool // whether each warp does anything in this pose
	g           *geometry
	lower       float64 // lower lip drop at the mouth's centre, pixels
	upper       float64 // upper lip lift, pixels
	mouthHalfW  float64 // half-width of the opening (narrower when rounded)
	teeth       float64 // how much teeth show, 0..1
	blink       float64
	eyes        [2][2]float64 // pupil positions
	transitionH float64       // over how many pixels the lip profile widens into the jaw's
	opening     table         // ellipse(dx / mouthHalfW) across the mouth
	jaw         table         // bell(dx / jawHalfW)
	eyeBell     table         // bell(dx / eyeHalfW)
	lid         table         // t^(1+3·blink) for t in [0, 1]
}

// table samples a function of one variable at 8 points a unit, for the
// per-pixel loop: sqrt, cos and pow would cost more than the pixel itself.
type table struct {
	lo, perUnit float64 // the first point, and the points per unit (a power of 2: x·perUnit is exact)
	v           []float64
}

func tabulate(lo, hi float64, f func(float64) float64) table {
	t := table{lo: lo, perUnit: 8}
	n := int((hi-lo)*t.perUnit) + 2
	t.v = make([]float64, n)
	for i := range t.v {
		t.v[i] = f(lo + float64(i)/t.perUnit)
	}
	return t
}

// at interpolates linearly; outside the sampled range it holds the ends.
func (t table) at(x float64) float64 {
	u := (x - t.lo) * t.perUnit
	if u <= 0 {
		return t.v[0]
	}
	i := int(u)
	if i >= len(t.v)-1 {
		return t.v[len(t.v)-1]
	}
	f := u - float64(i)
	return t.v[i] + (t.v[i+1]-t.v[i])*f
}

func newWarp(s *Scene, p Pose) *warp {
	g := &s.g
	open := clamp01(p.Open) * g.maxOpen
	w := &warp{
		g:           g,
		lower:       0.78 * open,
		upper:       0.22 * open,
		mouthHalfW:  g.mouthHalfW * (1 - 0.3*clamp01(p.Round)),
		teeth:       smoothstep(0.25, 0.6, clamp01(p.Open)),
		blink:       clamp01(p.Blink),
		eyes:        [2][2]float64{{s.face.LeftEye.X, s.face.LeftEye.Y}, {s.face.RightEye.X, s.face.RightEye.Y}},
		transitionH: 0.18 * s.face.Size,
	}
	w.mouth, w.lids = open > 0.05, w.blink > 0.01
	if !w.mouth && !w.lids {
		return w
	}
	hw := w.mouthHalfW
	w.opening = tabulate(-g.jawHalfW-1, g.jawHalfW+1, func(dx float64) float64 { return ellipse(dx / hw) })
	w.jaw = tabulate(-g.jawHalfW-1, g.jawHalfW+1, func(dx float64) float64 { return bell(dx / g.jawHalfW) })
	w.eyeBell = tabulate(-g.eyeHalfW-1, g.eyeHalfW+1, func(dx float64) float64 { return bell(dx / g.eyeHalfW) })
	if w.lids {
		w.lid = table{perUnit: 1024, v: make([]float64, 1025)}
		for i := range w.lid.v {
			w.lid.v[i] = math.Pow(float64(i)/1024, 1+3*w.blink)
		}
	}
	return w
}

// inside is the colour of the mouth's inside at a point, and how much of it
// covers the warped portrait there (0 outside the opening).
type inside struct{ alpha, y, cb, cr float64 }

// covers reports whether the warp may move the portrait point (x, y).
func (w *warp) covers(x, y int) bool {
	g := w.g
	return (w.mouth && x >= g.jawBox.Min.X && x < g.jawBox.Max.X && y >= g.jawBox.Min.Y && y < g.jawBox.Max.Y) ||
		(w.lids && x >= g.eyeBox.Min.X && x < g.eyeBox.Max.X && y >= g.eyeBox.Min.Y && y < g.eyeBox.Max.Y)
}

// coversRows reports whether the warp may move a point of a row y0…y1.
func (w *warp) coversRows(y0, y1 int) bool {
	g := w.g
	return (w.mouth && y1 >= g.jawBox.Min.Y && y0 < g.jawBox.Max.Y) ||
		(w.lids && y1 >= g.eyeBox.Min.Y && y0 < g.eyeBox.Max.Y)
}

// at returns where the portrait point (x, y) of the output takes its colour
// from, and the mouth's inside over it.
func (w *warp) at(x, y float64) (sx, sy float64, in inside) {
	sx, sy = x, y
	y = w.eyelids(x, y)
	sy = y
	g := w.g
	dx := x - g.mouthX
	if !w.mouth || math.Abs(dx) >= g.jawHalfW {
		return sx, sy, in
	}
	po := w.opening.at(dx) // the opening's profile: 0 at the corners
	pj := w.jaw.at(dx)     // the jaw's, wider and softer
	lowEdge := g.mouthY + w.lower*po
	highEdge := g.mouthY - w.upper*po
	switch {
	case y >= lowEdge:
		blend := smoothstep(0, w.transitionH, y-g.mouthY)
		prof := po + (pj-po)*blend
		fade := 1 - smoothstep(g.chinY, g.chinY+g.jawFade, y)
		sy = y - w.lower*prof*fade
	case y <= highEdge:
		fade := 1 - smoothstep(0, g.upperFade, g.mouthY-y)
		sy = y + w.upper*po*fade
	default:
		// Inside the opening, feathered over a pixel and a half at the lips.
		sy = g.mouthY
		in = w.inside((y-highEdge)/(lowEdge-highEdge), dx/w.mouthHalfW)
		in.alpha = clamp01(math.Min(y-highEdge, lowEdge-y) / 1.5)
	}
	return sx, sy, in
}

// inside shades the mouth's inside at height t (0 upper lip … 1 lower lip)
// and across u (−1 … 1 corner to corner): darker in the middle and deep in,
// a hint of upper teeth and, low in a wide opening, of the tongue.
func (w *warp) inside(t, u float64) inside {
	depth := clamp01(2*math.Min(t, 1-t)) * (1 - 0.5*math.Abs(u))
	c := inside{y: cavityY + 26*(1-depth), cb: cavityCb, cr: cavityCr + 6*(1-depth)}
	tongue := w.teeth * smoothstep(0.55, 0.9, t) * (1 - smoothstep(0.4, 0.8, math.Abs(u)))
	c.y += 22 * tongue
	c.cr += 10 * tongue
	teeth := w.teeth * (1 - smoothstep(0.16, 0.3, t)) * (1 - smoothstep(0.5, 0.75, math.Abs(u)))
	c.y += (teethY - c.y) * teeth
	c.cb += (teethCb - c.cb) * teeth
	c.cr += (teethCr - c.cr) * teeth
	return c
}

// eyelids returns the row an eye-region point samples: while blinking, the
// skin above the eye is stretched down over it (t → t^(1+3b), which keeps
// the lid fold and the lower lid in place, so nothing tears).
func (w *warp) eyelids(x, y float64) float64 {
	if !w.lids {
		return y
	}
	g := w.g
	for _, e := range w.eyes {
		dx := x - e[0]
		top, bottom := e[1]-g.eyeTop, e[1]+g.eyeBottom
		if math.Abs(dx) >= g.eyeHalfW || y <= top || y >= bottom {
			continue
		}
		t := (y - top) / (bottom - top)
		closed := w.lid.at(t)
		t += (closed - t) * w.eyeBell.at(dx)
		return top + t*(bottom-top)
	}
	return y
}

func (w *warp) luma(s *Scene, x, y float64) uint8 {
	sx, sy, in := w.at(x, y)
	v := sample(s.y, s.W, s.H, sx, sy)
	if in.alpha == 0 {
		return v
	}
	return clamp8(float64(v) + (in.y-float64(v))*in.alpha)
}

func (w *warp) chroma(s *Scene, x, y float64) (uint8, uint8) {
	sx, sy, in := w.at(x, y)
	cw, ch := s.W/2, s.H/2
	cb := sample(s.cb, cw, ch, (sx-0.5)/2, (sy-0.5)/2)
	cr := sample(s.cr, cw, ch, (sx-0.5)/2, (sy-0.5)/2)
	if in.alpha == 0 {
		return cb, cr
	}
	return clamp8(float64(cb) + (in.cb-float64(cb))*in.alpha), clamp8(float64(cr) + (in.cr-float64(cr))*in.alpha)
}

// sample is bilinear without its clamps where the point's 2×2 pixels are
// all inside the plane, as they are but at the frame's edge.
func sample(p []uint8, w, h int, x, y float64) uint8 {
	if x >= 0 && y >= 0 {
		xf, yf := int(x*256), int(y*256)
		if xi, yi := xf>>8, yf>>8; xi < w-1 && yi < h-1 {
			return interp(p, yi*w+xi, w, xf&255, yf&255)
		}
	}
	return bilinear(p, w, h, x, y)
}

// ellipse is √(1−u²) inside |u| < 1, else 0: the opening's outline.
func ellipse(u float64) float64 {
	if u <= -1 || u >= 1 {
		return 0
	}
	return math.Sqrt(1 - u*u)
}

// bell is cos²(πu/2) inside |u| < 1, else 0: a soft falloff.
func bell(u float64) float64 {
	if u <= -1 || u >= 1 {
		return 0
	}
	c := math.Cos(math.Pi / 2 * u)
	return c * c
}

func smoothstep(e0, e1, x float64) float64 {
	t := clamp01((x - e0) / (e1 - e0))
	return t * t * (3 - 2*t)
}

// clamp01 limits v to [0, 1] (NaN stays NaN). Comparisons, not math.Max
// and math.Min, which are calls: this runs several times a warped pixel.
func clamp01(v float64) float64 {
	if v < 0 {
		return 0
	}
	if v > 1 {
		return 1
	}
	return v
}
