package media

import (
	"encoding/binary"
	"image"
	"image/color"
	"image/draw"
	"io"
)

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
// by its EXIF orientation. 16-bit images are narrowed in their own buffer;
// a conversion or a turn makes one copy, both at once from YCbCr (JPEG);
// imageCost accounts for the copies.
func canonicalPixels(img image.Image, orientation int) image.Image {
	turn := orientation > 1 && orientation <= 8
	if src, ok := img.(*image.YCbCr); ok && turn {
		return upright(src, orientation)
	}
	img = eightBit(img)
	if turn {
		img = upright(img, orientation)
	}
	return img
}

func eightBit(img image.Image) image.Image {
	b := img.Bounds()
	switch src := img.(type) {
	case *image.RGBA, *image.NRGBA, *image.Gray:
		return img
	case *image.RGBA64:
		return &image.RGBA{Pix: narrow(src.Pix, src.Stride, b.Dx()*4, b.Dy()), Stride: b.Dx() * 4, Rect: b}
	case *image.NRGBA64:
		return &image.NRGBA{Pix: narrow(src.Pix, src.Stride, b.Dx()*4, b.Dy()), Stride: b.Dx() * 4, Rect: b}
	case *image.Gray16:
		return &image.Gray{Pix: narrow(src.Pix, src.Stride, b.Dx(), b.Dy()), Stride: b.Dx(), Rect: b}
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
	if src, ok := img.(*image.NYCbCrA); ok { // WebP with alpha: colours on draw's typed path, then alpha
		dst := image.NewNRGBA(b)
		draw.Draw(&image.RGBA{Pix: dst.Pix, Stride: dst.Stride, Rect: b}, b, &src.YCbCr, b.Min, draw.Src)
		for y := range b.Dy() {
			row, a := dst.Pix[y*dst.Stride:], src.A[src.AOffset(b.Min.X, b.Min.Y+y):]
			for x := range b.Dx() {
				row[4*x+3] = a[x]
			}
		}
		return dst
	}
	dst := image.NewNRGBA(b) // the rare rest: one call per pixel
	draw.Draw(dst, b, img, b.Min, draw.Src)
	return dst
}

// narrow keeps the high byte of each big-endian 16-bit sample, writing
// the 8-bit rows packed at the start of pix itself (byte i is read from
// byte 2i or later, so nothing is overwritten before it is read), and
// returns them.
func narrow(pix []byte, stride, samples, rows int) []byte {
	for y := range rows {
		d, s := y*samples, y*stride
		for i := range samples {
			pix[d+i] = pix[s+2*i]
		}
	}
	return pix[: samples*rows : samples*rows]
}

// upright applies an EXIF orientation (2 to 8) to an 8-bit image or a
// YCbCr one (converting it to RGBA on the way), in one copy (EXIF 2.32,
// tag 0x0112: 2 mirrored, 3 rotated 180°, 4 flipped, 5 transposed, 6
// rotated 90° clockwise to view, 7 transversed, 8 rotated 90°
// anticlockwise). For each pixel of the upright picture it finds the
// stored one.
func upright(img image.Image, o int) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if o >= 5 { // the transposing ones swap the sides
		w, h = h, w
	}
	var dstPix []byte
	var dstStride, bpp int
	var out image.Image
	switch img.(type) {
	case *image.Gray:
		dst := image.NewGray(image.Rect(0, 0, w, h))
		dstPix, dstStride, bpp, out = dst.Pix, dst.Stride, 1, dst
	case *image.NRGBA:
		dst := image.NewNRGBA(image.Rect(0, 0, w, h))
		dstPix, dstStride, bpp, out = dst.Pix, dst.Stride, 4, dst
	case *image.RGBA, *image.YCbCr:
		dst := image.NewRGBA(image.Rect(0, 0, w, h))
		dstPix, dstStride, bpp, out = dst.Pix, dst.Stride, 4, dst
	default:
		return img
	}
	get := pixelReader(img)
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
			get(dstPix[y*dstStride+x*bpp:y*dstStride+x*bpp+bpp], b.Min.X+sx, b.Min.Y+sy)
		}
	}
	return out
}

// pixelReader copies the pixel at (x, y) of img into dst, in img's own
// 8-bit layout (RGBA for YCbCr).
func pixelReader(img image.Image) func(dst []byte, x, y int) {
	switch src := img.(type) {
	case *image.Gray:
		return func(dst []byte, x, y int) { dst[0] = src.Pix[src.PixOffset(x, y)] }
	case *image.RGBA:
		return func(dst []byte, x, y int) { copy(dst, src.Pix[src.PixOffset(x, y):]) }
	case *image.NRGBA:
		return func(dst []byte, x, y int) { copy(dst, src.Pix[src.PixOffset(x, y):]) }
	case *image.YCbCr:
		return func(dst []byte, x, y int) {
			ci := src.COffset(x, y)
			dst[0], dst[1], dst[2] = color.YCbCrToRGB(src.Y[src.YOffset(x, y)], src.Cb[ci], src.Cr[ci])
			dst[3] = 0xFF
		}
	}
	return func([]byte, int, int) {}
}
