package media

import (
	"encoding/binary"
	"image"
	"image/color"
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

// canonicalView is img as it is stored: turned upright by its EXIF
// orientation and at 8 bits per channel. The PNG encoder reads it pixel by
// pixel, so no second copy of the pixels is made. Images already in an
// 8-bit layout the encoder knows are returned as they are.
func canonicalView(img image.Image, orientation int) image.Image {
	if orientation == 1 {
		switch img.(type) {
		case *image.RGBA, *image.NRGBA, *image.Gray:
			return img
		}
	}
	model := color.NRGBAModel
	if _, ok := img.(*image.Gray16); ok {
		model = color.GrayModel
	} else if _, ok := img.(*image.Gray); ok {
		model = color.GrayModel
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if orientation >= 5 { // the transposing ones swap the sides
		w, h = h, w
	}
	return &oriented{src: img, o: orientation, w: w, h: h, model: model}
}

type oriented struct {
	src   image.Image
	o     int
	w, h  int
	model color.Model
}

func (v *oriented) ColorModel() color.Model { return v.model }
func (v *oriented) Bounds() image.Rectangle { return image.Rect(0, 0, v.w, v.h) }

// At maps a pixel of the upright picture to the stored one (EXIF 2.32,
// tag 0x0112: 2 mirrored, 3 rotated 180°, 4 flipped, 5 transposed, 6
// rotated 90° clockwise to view, 7 transversed, 8 rotated 90° anticlockwise).
func (v *oriented) At(x, y int) color.Color {
	sx, sy := x, y
	switch v.o {
	case 2:
		sx = v.w - 1 - x
	case 3:
		sx, sy = v.w-1-x, v.h-1-y
	case 4:
		sy = v.h - 1 - y
	case 5:
		sx, sy = y, x
	case 6:
		sx, sy = y, v.w-1-x
	case 7:
		sx, sy = v.h-1-y, v.w-1-x
	case 8:
		sx, sy = v.h-1-y, x
	}
	b := v.src.Bounds()
	return v.model.Convert(v.src.At(b.Min.X+sx, b.Min.Y+sy))
}
