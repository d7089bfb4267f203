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
// layout (model, from decodedModel), plus what the decoder needs besides
// (interlaced PNG passes, progressive JPEG coefficients, the lossless WebP
// pixel array and Huffman tables). Where the header cannot be read the way
// Go's decoder will read it, the worst case is assumed. pixels is what the
// decoded image and its working buffers take; tables what the decoder
// needs besides, whatever the image's size.
func decodeCost(format string, cfg image.Config, model color.Model, f io.ReaderAt, head []byte) (pixels, tables int64) {
	px := float64(cfg.Width) * float64(cfg.Height)
	perPixel, extra := 4.0, 0.0
	switch format {
	case "png":
		perPixel = bytesPerPixel(model)
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
		default:
			// Lossless: an ARGB array, then NRGBA; and up to one group of
			// five Huffman trees per 4x4 tile, 2600 at most (the limit of
			// x/image's decoder and libwebp's encoder), each up to about 80
			// KB whatever the image's size: a 200x200 file can ask for 200
			// MiB of tables.
			perPixel = 8
			tiles := float64((cfg.Width+3)/4) * float64((cfg.Height+3)/4)
			extra = min(tiles, 2600) * webpGroupBytes
		}
	}
	return int64(px * perPixel), int64(extra)
}

// webpGroupBytes bounds one lossless WebP Huffman group in x/image's
// decoder: the nodes of a green tree of 2328 symbols (a 2^11 colour cache)
// and four smaller ones, their look-up tables, and the code-length slices
// built while reading them (measured: 2600 groups allocate 201 MiB).
const webpGroupBytes = 96 << 10

// decodedModel is the colour model Go's decoder returns: the header's,
// except for a PNG with a tRNS chunk, which decodes to NRGBA (NRGBA64 at 16
// bits) although png.DecodeConfig reports Gray or RGBA.
func decodedModel(format string, cfg image.Config, f io.ReaderAt) color.Model {
	if format != "png" || !pngHasTRNS(f) {
		return cfg.ColorModel
	}
	switch cfg.ColorModel {
	case color.GrayModel, color.RGBAModel:
		return color.NRGBAModel
	case color.Gray16Model, color.RGBA64Model:
		return color.NRGBA64Model
	}
	return cfg.ColorModel
}

// pngHasTRNS reports whether a tRNS chunk comes before the image data. A
// chunk list that cannot be walked says yes: the worst case.
func pngHasTRNS(f io.ReaderAt) bool {
	off := int64(8)
	hdr := make([]byte, 8)
	for range 1024 {
		if _, err := f.ReadAt(hdr, off); err != nil {
			return true
		}
		switch string(hdr[4:]) {
		case "tRNS":
			return true
		case "IDAT", "IEND":
			return false
		}
		off += 12 + int64(binary.BigEndian.Uint32(hdr))
	}
	return true
}

func bytesPerPixel(m color.Model) float64 {
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
// progressive. A header it cannot walk exactly as Go's decoder does — a
// restart marker, stuffing or junk between segments, which Go skips —
// gives the worst case: a frame hidden from this walk could be the one Go
// decodes.
func jpegLayout(f io.ReaderAt) (samples float64, progressive bool) {
	samples, progressive = 4, true
	walkJPEG(f, func(marker byte, seg []byte) bool {
		if marker == 0xDA { // the scan, and no frame header before it: Go refuses the file
			return false
		}
		if marker < 0xC0 || marker > 0xCF || marker == 0xC4 || marker == 0xC8 || marker == 0xCC {
			return true
		}
		// SOFn: precision, height, width, components, then per component
		// an id, sampling factors (h<<4|v) and a table.
		if len(seg) < 6 {
			return false
		}
		n := int(seg[5])
		if n < 1 || n > 4 || len(seg) < 6+3*n {
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
// fn returns false. It stops at anything but a plain sequence of marker
// segments (FF, a marker that has a length, the length, the segment), so
// that it never sees a segment Go's decoder would not.
func walkJPEG(f io.ReaderAt, fn func(marker byte, seg []byte) bool) {
	off := int64(2) // after SOI
	hdr := make([]byte, 4)
	for range 512 {
		if _, err := f.ReadAt(hdr, off); err != nil || hdr[0] != 0xFF {
			return
		}
		marker := hdr[1]
		switch {
		case marker == 0xFF, marker == 0x00, marker >= 0xD0 && marker <= 0xD9, marker == 0x01:
			return // fill, stuffing, restart, SOI/EOI, TEM: no length; Go skips them
		}
		n := int(binary.BigEndian.Uint16(hdr[2:]))
		if n < 2 {
			return
		}
		seg := make([]byte, n-2)
		if _, err := f.ReadAt(seg, off+4); err != nil {
			return
		}
		if !fn(marker, seg) {
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
// by its EXIF orientation. 16-bit images are narrowed in their own buffer;
// a conversion or a turn makes one copy, both at once from YCbCr (JPEG);
// canonicalCost accounts for the copies.
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

// canonicalCost is the memory canonicalPixels takes beyond the decoder's
// own, for an image decoding to model: a copy for each conversion and
// each turn it makes.
func canonicalCost(cfg image.Config, model color.Model, orientation int) int64 {
	convert := true
	switch model {
	case color.RGBAModel, color.NRGBAModel, color.GrayModel, // already 8-bit
		color.RGBA64Model, color.NRGBA64Model, color.Gray16Model: // narrowed in place
		convert = false
	}
	turn := orientation > 1 && orientation <= 8
	copies := 0
	switch {
	case model == color.YCbCrModel && turn: // converted while turned
		copies = 1
	case convert && turn:
		copies = 2
	case convert || turn:
		copies = 1
	}
	bpp := int64(4)
	if model == color.GrayModel || model == color.Gray16Model {
		bpp = 1
	}
	return int64(copies) * bpp * int64(cfg.Width) * int64(cfg.Height)
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
	dst := image.NewNRGBA(b) // NYCbCrA and the rare rest: one call per pixel
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
