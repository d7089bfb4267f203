package face

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// landmarkCascade is a pigo pupil/landmark ("puploc" format) cascade.
//
// pigo's own PuplocCascade.RunDetector jitters its start window with the
// global math/rand source, so the same portrait gives slightly different
// points on every call. The animator needs one repeatable geometry per job,
// so the (small) regression loop is run here with a seeded generator; the
// file format and the arithmetic follow pigo v1.4.6 core/puploc.go.
type landmarkCascade struct {
	stages    int
	scaleMul  float32 // window scale multiplier applied after each stage
	trees     int
	levels    int // tree depth
	depth     int // leaves per tree (2^levels)
	treeCodes []int8
	treePreds []float32
}

// window is a square search region: centre (row, col) and side scale.
type window struct {
	row, col, scale float64
}

// parseLandmarkCascade decodes a puploc-format cascade file.
func parseLandmarkCascade(b []byte) (*landmarkCascade, error) {
	if len(b) < 16 {
		return nil, errors.New("cascade header truncated")
	}
	c := &landmarkCascade{
		stages:   int(binary.LittleEndian.Uint32(b[0:])),
		scaleMul: math.Float32frombits(binary.LittleEndian.Uint32(b[4:])),
		trees:    int(binary.LittleEndian.Uint32(b[8:])),
	}
	treeDepth := int(binary.LittleEndian.Uint32(b[12:]))
	if c.stages <= 0 || c.trees <= 0 || treeDepth <= 0 || treeDepth > 16 {
		return nil, fmt.Errorf("implausible cascade header: %d stages, %d trees, depth %d", c.stages, c.trees, treeDepth)
	}
	c.levels = treeDepth
	c.depth = 1 << treeDepth
	codeLen := 4*c.depth - 4
	treeLen := codeLen + 8*c.depth
	n := c.stages * c.trees
	if want := 16 + n*treeLen; len(b) != want {
		return nil, fmt.Errorf("cascade is %d bytes, header implies %d", len(b), want)
	}
	c.treeCodes = make([]int8, 0, n*codeLen)
	c.treePreds = make([]float32, 0, n*2*c.depth)
	pos := 16
	for range n {
		for _, v := range b[pos : pos+codeLen] {
			c.treeCodes = append(c.treeCodes, int8(v))
		}
		pos += codeLen
		for range 2 * c.depth {
			c.treePreds = append(c.treePreds, math.Float32frombits(binary.LittleEndian.Uint32(b[pos:])))
			pos += 4
		}
	}
	return c, nil
}

// regress runs every stage once from w and returns where the cascade ends.
// mirror runs the cascade as if the image were flipped left-right, which is
// how pigo finds the symmetric landmark (the other mouth corner).
func (c *landmarkCascade) regress(g *grayImage, r, col, s float32, mirror bool) (float32, float32, float32) {
	root := 0
	sign := int8(1)
	if mirror {
		sign = -1
	}
	for i := range c.stages {
		var dr, dc float32
		si := int(math.Round(float64(s)))
		ri, ci := 256*int(r), 256*int(col)
		for j := range c.trees {
			idx := 0
			for range c.levels {
				code := c.treeCodes[root+4*idx : root+4*idx+4]
				r1 := clampInt((ri+int(code[0])*si)>>8, 0, g.h-1)
				c1 := clampInt((ci+int(sign*code[1])*si)>>8, 0, g.w-1)
				r2 := clampInt((ri+int(code[2])*si)>>8, 0, g.h-1)
				c2 := clampInt((ci+int(sign*code[3])*si)>>8, 0, g.w-1)
				bit := 0
				if g.pix[r1*g.w+c1] > g.pix[r2*g.w+c2] {
					bit = 1
				}
				idx = 2*idx + 1 + bit
			}
			lut := 2 * (c.trees*c.depth*i + c.depth*j + idx - (c.depth - 1))
			dr += c.treePreds[lut]
			dc += float32(sign) * c.treePreds[lut+1]
			root += 4*c.depth - 4
		}
		r += dr * s
		col += dc * s
		s *= c.scaleMul
	}
	return r, col, s
}

// locate refines w into a landmark position: the cascade is run from
// perturbs jittered copies of w and the per-axis median is returned, as
// pigo does. The jitter comes from a fixed seed so results are repeatable.
func (c *landmarkCascade) locate(g *grayImage, w window, perturbs int, mirror bool) window {
	rng := rand.New(rand.NewPCG(0x5eed, uint64(perturbs)))
	rows := make([]float64, perturbs)
	cols := make([]float64, perturbs)
	scales := make([]float64, perturbs)
	for i := range perturbs {
		r := float32(w.row + w.scale*0.15*(0.5-rng.Float64()))
		col := float32(w.col + w.scale*0.15*(0.5-rng.Float64()))
		s := float32(w.scale * (0.925 + 0.15*rng.Float64()))
		r, col, s = c.regress(g, r, col, s, mirror)
		rows[i], cols[i], scales[i] = float64(r), float64(col), float64(s)
	}
	slices.Sort(rows)
	slices.Sort(cols)
	slices.Sort(scales)
	m := perturbs / 2
	return window{row: rows[m], col: cols[m], scale: scales[m]}
}

func clampInt(v, lo, hi int) int {
	return max(lo, min(v, hi))
}
