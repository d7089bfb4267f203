package face

import (
	"image"
	"image/color"
)

// grayImage is an 8-bit luma raster laid out the way pigo expects
// (row-major, stride == width).
type grayImage struct {
	pix  []uint8
	w, h int
}

// toGray converts img to luma with pigo's weights (0.299, 0.587, 0.114).
// Common decoder outputs take a fast path; anything else goes through At.
func toGray(img image.Image) *grayImage {
	b := img.Bounds()
	g := &grayImage{pix: make([]uint8, b.Dx()*b.Dy()), w: b.Dx(), h: b.Dy()}
	switch src := img.(type) {
	case *image.Gray:
		for y := range g.h {
			o := src.PixOffset(b.Min.X, b.Min.Y+y)
			copy(g.pix[y*g.w:(y+1)*g.w], src.Pix[o:o+g.w])
		}
	case *image.YCbCr:
		for y := range g.h {
			o := src.YOffset(b.Min.X, b.Min.Y+y)
			copy(g.pix[y*g.w:(y+1)*g.w], src.Y[o:o+g.w])
		}
	case *image.RGBA:
		g.fromRGB(src.Pix, src.Stride, src.PixOffset(b.Min.X, b.Min.Y))
	case *image.NRGBA:
		g.fromRGB(src.Pix, src.Stride, src.PixOffset(b.Min.X, b.Min.Y))
	default:
		for y := range g.h {
			for x := range g.w {
				c := color.GrayModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.Gray)
				g.pix[y*g.w+x] = c.Y
			}
		}
	}
	return g
}

// fromRGB fills g from 4-byte-per-pixel RGB(A) data; alpha is ignored, as a
// portrait's transparent background carries no face.
func (g *grayImage) fromRGB(pix []uint8, stride, off int) {
	for y := range g.h {
		row := pix[off+y*stride:]
		for x := range g.w {
			r, gr, bl := uint32(row[4*x]), uint32(row[4*x+1]), uint32(row[4*x+2])
			g.pix[y*g.w+x] = uint8((19595*r + 38470*gr + 7471*bl + 1<<15) >> 16)
		}
	}
}

// shrink returns g reduced by an integer factor k with a box filter.
func (g *grayImage) shrink(k int) *grayImage {
	if k <= 1 {
		return g
	}
	out := &grayImage{w: g.w / k, h: g.h / k}
	out.pix = make([]uint8, out.w*out.h)
	area := k * k
	for y := range out.h {
		for x := range out.w {
			sum := 0
			for dy := range k {
				row := g.pix[(y*k+dy)*g.w+x*k:]
				for dx := range k {
					sum += int(row[dx])
				}
			}
			out.pix[y*out.w+x] = uint8((sum + area/2) / area)
		}
	}
	return out
}
