package media

import (
	"encoding/binary"
	"image"
	"image/color"
	"image/draw"
	"io"
)

// decodeCost is an upper bound of the bytes Go's decoder allocates for an
// image, read from its header: the pixel buffer in the decoder's own
// layout, plus what the decoder needs besides (interlaced PNG passes,
// progressive JPEG coefficients, the lossless WebP pixel array).
func decodeCost(format string, cfg image.Config, f io.ReaderAt, head []byte) int64 {
	px := float64(cfg.Width) * float64(cfg.Height)
	perPixel := 4.0
	switch format {
	case "png":
		perPixel = pngBytesPerPixel(cfg.ColorModel)
		if len(head) > 28 && head[28] == 1 { // Adam7: each pass is decoded apart, then merged
			perPixel *= 2
		}
	case "jpeg":
		samples, progressive := jpegLayout(f)
		perPixel = samples
		if samples > 3 { // CMYK: the planes, then an RGBA-sized CMYK image
			perPixel += 4
		}
		if progressive { // one 32-bit coefficient per sample, kept to the end
			perPixel += 4 * samples
		}
	case "webp":
		switch cfg.ColorModel {
		case color.YCbCrModel:
			perPixel = 1.5
		case color.NYCbCrAModel:
			perPixel = 2.5
		default: // lossless: an ARGB array, then NRGBA
			perPixel = 8
		}
	}
	return int64(px * perPixel)
}

func pngBytesPerPixel(m color.Model) float64 {
	switch m {
	case color.GrayModel:
		return 1
	case color.Gray16Model:
		return 2
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	}
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	return 4
}

// jpegLayout reads a JPEG's frame header: how many samples each pixel has
// in all (3 for 4:4:4 colour, 1.5 for 4:2:0, 1 for grey) and whether it is
// progressive. Unreadable headers give the worst case.
func jpegLayout(f io.ReaderAt) (samples float64, progressive bool) {
	samples, progressive = 4, true
	walkJPEG(f, func(marker byte, seg []byte) bool {
		if marker < 0xC0 || marker > 0xCF || marker == 0xC4 || marker == 0xC8 || marker == 0xCC {
			return true
		}
		// SOFn: precision, height, width, components, then per component
		// an id, sampling factors (h<<4|v) and a table.
		if len(seg) < 6 {
			return false
		}
		n := int(seg[5])
		if n < 1 || len(seg) < 6+3*n {
			return false
		}
		hmax, vmax := 1, 1
		for i := range n {
			s := seg[6+3*i+1]
			hmax, vmax = max(hmax, int(s>>4)), max(vmax, int(s&15))
		}
		total := 0.0
		for i := range n {
			s := seg[6+3*i+1]
			total += float64(max(int(s>>4), 1)*max(int(s&15), 1)) / float64(hmax*vmax)
		}
		samples, progressive = total, marker == 0xC2
		return false
	})
	return samples, progressive
}

// jpegOrientation is the EXIF orientation of a JPEG (1 to 8; 1 is upright),
// from its APP1 Exif segment; 1 when there is none.
func jpegOrientation(f io.ReaderAt) int {
	o := 1
	walkJPEG(f, func(marker byte, seg []byte) bool {
		if marker == 0xE1 && len(seg) > 6 && string(seg[:6]) == "Exif\x00\x00" {
			o = exifOrientation(seg[6:])
			return false
		}
		return marker != 0xDA && (marker < 0xC0 || marker > 0xCF || marker == 0xC4 || marker == 0xCC)
	})
	return o
}

// walkJPEG calls fn with each marker segment before the image data, until
// fn returns false. Segments longer than 64 KiB cannot exist.
func walkJPEG(f io.ReaderAt, fn func(marker byte, seg []byte) bool) {
	off := int64(2) // after SOI
	hdr := make([]byte, 4)
	for range 512 {
		if _, err := f.ReadAt(hdr, off); err != nil || hdr[0] != 0xFF {
			return
		}
		if hdr[1] == 0xFF { // fill byte
			off++
			continue
		}
		n := int(binary.BigEndian.Uint16(hdr[2:]))
		if n < 2 {
			return
		}
		seg := make([]byte, n-2)
		if _, err := f.ReadAt(seg, off+4); err != nil {
			return
		}
		if !fn(hdr[1], seg) {
			return
		}
		off += 2 + int64(n)
	}
}

// exifOrientation reads tag 0x0112 of IFD0 of a TIFF block.
func exifOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	ifd := int(bo.Uint32(t[4:]))
	if ifd < 8 || ifd+2 > len(t) {
		return 1
	}
	n := int(bo.Uint16(t[ifd:]))
	for i := range n {
		e := ifd + 2 + 12*i
		if e+12 > len(t) {
			return 1
		}
		if bo.Uint16(t[e:]) == 0x0112 && bo.Uint16(t[e+2:]) == 3 {
			if v := int(bo.Uint16(t[e+8:])); v >= 1 && v <= 8 {
				return v
			}
			return 1
		}
	}
	return 1
}

// canonicalPixels is img as it is stored: at 8 bits per channel, as
// *image.RGBA, *image.NRGBA or *image.Gray (the types Go's PNG decoder
// gives back, so the worker decodes exactly these pixels), turned upright
// by its EXIF orientation. Conversions use typed loops, not a call per
// pixel; each makes one copy, which canonicalCost accounts for.
func canonicalPixels(img image.Image, orientation int) image.Image {
	img = eightBit(img)
	if orientation > 1 && orientation <= 8 {
		img = upright(img, orientation)
	}
	return img
}

// needsEightBit reports whether an image of model decodes to a type that
// canonicalPixels must convert (with a copy).
func needsEightBit(m color.Model) bool {
	return m != color.RGBAModel && m != color.NRGBAModel && m != color.GrayModel
}

// canonicalCost is the memory the canonical pixels take beyond the
// decoder's own: an 8-bit copy and an upright copy, when they are needed.
func canonicalCost(cfg image.Config, orientation int) int64 {
	var n int64
	copies := 0
	if needsEightBit(cfg.ColorModel) {
		copies++
	}
	if orientation > 1 {
		copies++
	}
	bpp := int64(4)
	if cfg.ColorModel == color.GrayModel || cfg.ColorModel == color.Gray16Model {
		bpp = 1
	}
	n = int64(copies) * bpp * int64(cfg.Width) * int64(cfg.Height)
	return n
}

func eightBit(img image.Image) image.Image {
	b := img.Bounds()
	switch src := img.(type) {
	case *image.RGBA, *image.NRGBA, *image.Gray:
		return img
	case *image.RGBA64:
		dst := image.NewRGBA(b)
		highBytes(dst.Pix, dst.Stride, src.Pix, src.Stride, b.Dx()*4, b.Dy())
		return dst
	case *image.NRGBA64:
		dst := image.NewNRGBA(b)
		highBytes(dst.Pix, dst.Stride, src.Pix, src.Stride, b.Dx()*4, b.Dy())
		return dst
	case *image.Gray16:
		dst := image.NewGray(b)
		highBytes(dst.Pix, dst.Stride, src.Pix, src.Stride, b.Dx(), b.Dy())
		return dst
	case *image.Paletted:
		dst := image.NewNRGBA(b)
		pal := make([]color.NRGBA, 256)
		for i, c := range src.Palette {
			pal[i] = color.NRGBAModel.Convert(c).(color.NRGBA)
		}
		for y := range b.Dy() {
			row := dst.Pix[y*dst.Stride:]
			for x, idx := range src.Pix[y*src.Stride : y*src.Stride+b.Dx()] {
				c := pal[idx]
				row[4*x], row[4*x+1], row[4*x+2], row[4*x+3] = c.R, c.G, c.B, c.A
			}
		}
		return dst
	case *image.YCbCr, *image.CMYK:
		dst := image.NewRGBA(b) // image/draw converts these on typed paths
		draw.Draw(dst, b, img, b.Min, draw.Src)
		return dst
	}
	dst := image.NewNRGBA(b) // NYCbCrA and the rare rest: one call per pixel
	draw.Draw(dst, b, img, b.Min, draw.Src)
	return dst
}

// highBytes keeps the high byte of each big-endian 16-bit sample.
func highBytes(dst []byte, dstStride int, src []byte, srcStride, samples, rows int) {
	for y := range rows {
		d, s := dst[y*dstStride:y*dstStride+samples], src[y*srcStride:]
		for i := range d {
			d[i] = s[2*i]
		}
	}
}

// upright applies an EXIF orientation (2 to 8) to an 8-bit image (EXIF
// 2.32, tag 0x0112: 2 mirrored, 3 rotated 180°, 4 flipped, 5 transposed,
// 6 rotated 90° clockwise to view, 7 transversed, 8 rotated 90°
// anticlockwise). For each pixel of the upright picture it finds the
// stored one.
func upright(img image.Image, o int) image.Image {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	w, h := sw, sh
	if o >= 5 { // the transposing ones swap the sides
		w, h = sh, sw
	}
	var srcPix, dstPix []byte
	var srcStride, dstStride, bpp int
	var out image.Image
	switch src := img.(type) {
	case *image.RGBA:
		dst := image.NewRGBA(image.Rect(0, 0, w, h))
		srcPix, srcStride, dstPix, dstStride, bpp, out = src.Pix, src.Stride, dst.Pix, dst.Stride, 4, dst
	case *image.NRGBA:
		dst := image.NewNRGBA(image.Rect(0, 0, w, h))
		srcPix, srcStride, dstPix, dstStride, bpp, out = src.Pix, src.Stride, dst.Pix, dst.Stride, 4, dst
	case *image.Gray:
		dst := image.NewGray(image.Rect(0, 0, w, h))
		srcPix, srcStride, dstPix, dstStride, bpp, out = src.Pix, src.Stride, dst.Pix, dst.Stride, 1, dst
	default:
		return img
	}
	for y := range h {
		for x := range w {
			sx, sy := x, y
			switch o {
			case 2:
				sx = w - 1 - x
			case 3:
				sx, sy = w-1-x, h-1-y
			case 4:
				sy = h - 1 - y
			case 5:
				sx, sy = y, x
			case 6:
				sx, sy = y, w-1-x
			case 7:
				sx, sy = h-1-y, w-1-x
			case 8:
				sx, sy = h-1-y, x
			}
			copy(dstPix[y*dstStride+x*bpp:y*dstStride+x*bpp+bpp], srcPix[sy*srcStride+sx*bpp:])
		}
	}
	return out
}
