package media

import (
	"encoding/binary"
	"image"
	"image/color"
	"io"
)

// imageCost is an upper bound of the bytes checking an image allocates,
// read from its file before any pixel is decoded: Go's decoder's pixel
// buffers in its own layout, its working buffers (interlaced PNG passes,
// progressive JPEG coefficients, the lossless WebP pixel array, the CMYK
// and RGB conversions Go's JPEG decoder makes) and the copies made for the
// canonical PNG. Where the file cannot be read the way Go's decoder reads
// it, the worst case is assumed. pixels grows with the image; tables is
// what lossless WebP's decoder needs besides, whatever the image's size.
// Two independent reviews each found a way past an earlier estimate; the
// files they made are in testdata/hostile, and TestDecodeCostIsAnUpperBound
// holds this to what the decoders allocate.
func imageCost(format string, cfg image.Config, f io.ReaderAt, head []byte, orientation int) (pixels, tables int64) {
	px := float64(cfg.Width) * float64(cfg.Height)
	turn := 0.0
	if orientation > 1 && orientation <= 8 {
		turn = 1
	}
	var perPixel, extra float64
	switch format {
	case "png":
		model := pngModel(cfg, f)
		perPixel = bytesPerPixel(model)
		if len(head) > 28 && head[28] == 1 { // Adam7: each pass is decoded apart, then merged
			perPixel *= 2
		}
		copyBytes := 4.0
		if model == color.GrayModel || model == color.Gray16Model {
			copyBytes = 1
		}
		switch model {
		case color.RGBAModel, color.NRGBAModel, color.GrayModel, // 8-bit already
			color.RGBA64Model, color.NRGBA64Model, color.Gray16Model: // narrowed in place
		default: // paletted: a copy
			perPixel += copyBytes
		}
		perPixel += turn * copyBytes // PNGs carry no orientation, but be safe
	case "jpeg":
		comps, samples, progressive := jpegLayout(f)
		perPixel = samples
		if progressive { // one 32-bit coefficient per sample, kept to the end
			perPixel += 4 * samples
		}
		switch comps {
		case 1: // grey: Go's *image.Gray is kept; a turn copies it
			perPixel += turn
		case 3: // YCbCr, or RGB which Go converts itself: an RGBA copy either way
			perPixel += 4 + 4*turn
		default: // CMYK or YCCK: Go's CMYK image, then our RGBA
			perPixel += 4 + 4 + 4*turn
		}
	case "webp":
		p, lossless := webpLayout(f)
		perPixel = p
		if lossless {
			// Up to one group of five Huffman trees per 4x4 tile, 2600 at
			// most (the limit of x/image's decoder and libwebp's encoder),
			// each up to about 80 KB whatever the image's size: a 200x200
			// file can ask for 200 MiB of tables.
			tiles := float64((cfg.Width+3)/4) * float64((cfg.Height+3)/4)
			extra = min(tiles, 2600) * webpGroupBytes
		}
	default:
		perPixel = 24
	}
	return int64(px * perPixel), int64(extra)
}

// webpGroupBytes bounds one lossless WebP Huffman group in x/image's
// decoder: the nodes of a green tree of 2328 symbols (a 2^11 colour cache)
// and four smaller ones, their look-up tables, and the code-length slices
// built while reading them (measured: 2600 groups allocate 201 MiB).
const webpGroupBytes = 96 << 10

// webpLayout reads a WebP's chunks: the bytes a pixel takes to decode and
// convert to the canonical 8-bit form, and whether a lossless bitstream
// (the image, or its alpha plane) is decoded, with its Huffman tables.
// webp.DecodeConfig does not tell: for an extended (VP8X) file it reports
// YCbCr whatever follows. A file whose chunks cannot be walked is the worst
// case.
func webpLayout(f io.ReaderAt) (perPixel float64, lossless bool) {
	const worst = 2.5 + 4 + 4 + 1 // NYCbCrA, a lossless alpha plane decoded as ARGB, the NRGBA copy, slack
	var hdr [9]byte
	var alphaLossless, vp8, vp8l, alpha bool
	off := int64(12)
	for range 64 {
		n, err := f.ReadAt(hdr[:], off)
		if n < 8 {
			if err == nil || err == io.EOF {
				break
			}
			return worst, true
		}
		size := int64(binary.LittleEndian.Uint32(hdr[4:8]))
		switch string(hdr[:4]) {
		case "VP8 ":
			vp8 = true
		case "VP8L":
			vp8l = true
		case "ALPH":
			alpha = true
			alphaLossless = n < 9 || hdr[8]&3 != 0
		}
		off += 8 + size + size&1
	}
	switch {
	case vp8l && !vp8 && !alpha: // lossless: an ARGB array, then NRGBA
		return 8, true
	case vp8 && !vp8l && !alpha: // lossy: YCbCr 4:2:0, then an RGBA copy
		return 1.5 + 4, false
	case vp8 && !vp8l && !alphaLossless: // lossy with raw alpha: NYCbCrA, then NRGBA
		return 2.5 + 4, false
	}
	return worst, true
}

// pngModel is the colour model Go's PNG decoder returns: the header's,
// except that a tRNS chunk makes it decode grey and RGB to NRGBA (NRGBA64
// at 16 bits) although png.DecodeConfig reports Gray or RGBA.
func pngModel(cfg image.Config, f io.ReaderAt) color.Model {
	if !pngHasTRNS(f) {
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

// jpegLayout reads a JPEG's frame header: its components, how many samples
// each pixel has in all (3 for 4:4:4 colour, 1.5 for 4:2:0, 1 for grey) and
// whether it is progressive. A header it cannot walk exactly as Go's
// decoder does — a restart marker, stuffing or junk between segments, which
// Go skips — gives the worst case: a frame hidden from this walk could be
// the one Go decodes.
func jpegLayout(f io.ReaderAt) (comps int, samples float64, progressive bool) {
	comps, samples, progressive = 4, 4, true
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
		comps, samples, progressive = n, total, marker == 0xC2
		return false
	})
	return comps, samples, progressive
}

// walkJPEG calls fn with each marker segment before the image data, until
// fn returns false. It stops at anything but a plain sequence of marker
// segments (FF, a marker that has a length, the length, the segment), so
// that it never sees a segment Go's decoder would not. One buffer serves
// every segment.
func walkJPEG(f io.ReaderAt, fn func(marker byte, seg []byte) bool) {
	off := int64(2) // after SOI
	hdr := make([]byte, 4)
	buf := make([]byte, 0, 1<<16)
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
		seg := buf[:n-2]
		if _, err := f.ReadAt(seg, off+4); err != nil {
			return
		}
		if !fn(marker, seg) {
			return
		}
		off += 2 + int64(n)
	}
}
