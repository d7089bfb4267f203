package mediatest

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
)

// Images that make Go's decoders allocate far more than their header
// seems to say (found by an independent review of the decoding budget).

// JPEG describes a handmade JPEG whose blocks are all zero: a few hundred
// bytes per megapixel, however large.
type JPEG struct {
	W, H        int
	Sampling    []byte // per component, h<<4|v: {0x22, 0x11, 0x11} is 4:2:0
	IDs         []byte // per component; nil: 1, 2, 3, 4 ('R', 'G', 'B' make Go read RGB)
	Adobe       int    // the APP14 transform (0: RGB or CMYK, 2: YCCK); -1: no APP14
	Progressive bool
	Exif        []byte // an APP1 Exif TIFF block, or nil
	// HideFrame puts, right after SOI, a restart marker (which Go skips
	// without a length) and then an APP1 segment inside which sits a fake
	// one-component baseline frame header: a walker reading a length after
	// every marker lands on the fake, while Go skips the APP1 and decodes
	// the real frame.
	HideFrame bool
}

// Bytes builds the file.
func (j JPEG) Bytes() []byte {
	seg := func(marker byte, data []byte) []byte {
		b := []byte{0xFF, marker, 0, 0}
		binary.BigEndian.PutUint16(b[2:], uint16(len(data)+2))
		return append(b, data...)
	}
	comps := len(j.Sampling)
	ids := j.IDs
	if ids == nil {
		ids = []byte{1, 2, 3, 4}
	}
	out := []byte{0xFF, 0xD8}
	if j.Exif != nil {
		out = append(out, seg(0xE1, append([]byte("Exif\x00\x00"), j.Exif...))...)
	}
	if j.Adobe >= 0 {
		out = append(out, seg(0xEE, []byte{'A', 'd', 'o', 'b', 'e', 0, 0x64, 0, 0, 0, 0, byte(j.Adobe)})...)
	}
	if j.HideFrame {
		payload := make([]byte, 65533)
		fake := []byte{0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x10, 0x00, 0x10, 0x00, 0x01, 0x01, 0x11, 0x00}
		copy(payload[65509-8:], fake)
		out = append(out, 0xFF, 0xD0, 0xFF, 0xE1, 0xFF, 0xFF)
		out = append(out, payload...)
	}
	out = append(out, seg(0xDB, append([]byte{0}, bytes.Repeat([]byte{1}, 64)...))...)
	sof := []byte{8, byte(j.H >> 8), byte(j.H), byte(j.W >> 8), byte(j.W), byte(comps)}
	hmax, vmax, per := 1, 1, 0
	for i, hv := range j.Sampling {
		sof = append(sof, ids[i], hv, 0)
		hmax, vmax = max(hmax, int(hv>>4)), max(vmax, int(hv&15))
		per += int(hv>>4) * int(hv&15)
	}
	frame := byte(0xC0)
	if j.Progressive {
		frame = 0xC2
	}
	out = append(out, seg(frame, sof)...)
	oneCode := append(append([]byte{}, 1), make([]byte, 15)...) // one code of length 1
	out = append(out, seg(0xC4, append(append([]byte{0x00}, oneCode...), 0))...)
	if !j.Progressive {
		out = append(out, seg(0xC4, append(append([]byte{0x10}, oneCode...), 0))...)
	}
	sos := []byte{byte(comps)}
	for i := range comps {
		sos = append(sos, ids[i], 0)
	}
	if j.Progressive {
		sos = append(sos, 0, 0, 0) // DC only
	} else {
		sos = append(sos, 0, 63, 0)
	}
	out = append(out, seg(0xDA, sos)...)
	blocks := ((j.W + 8*hmax - 1) / (8 * hmax)) * ((j.H + 8*vmax - 1) / (8 * vmax)) * per
	if comps == 1 {
		blocks = ((j.W + 7) / 8) * ((j.H + 7) / 8)
	}
	bits := blocks
	if !j.Progressive {
		bits *= 2
	}
	out = append(out, make([]byte, (bits+7)/8)...)
	return append(out, 0xFF, 0xD9)
}

// HandmadeJPEG is a w×h JPEG of comps components at full resolution (4:
// CMYK, with Adobe's APP14) whose blocks are all zero. Progressive, Go's
// decoder keeps a 32-bit coefficient per sample until the end.
func HandmadeJPEG(w, h, comps int, progressive, hideFrame bool) []byte {
	j := JPEG{W: w, H: h, Sampling: bytes.Repeat([]byte{0x11}, comps), Adobe: -1, Progressive: progressive, HideFrame: hideFrame}
	if comps == 4 {
		j.Adobe = 0
	}
	return j.Bytes()
}

// RawPNG describes a PNG whose pixels are all zero, of any depth and colour
// type, with optional interlacing, palette and tRNS chunk.
type RawPNG struct {
	W, H       int
	Depth      byte
	ColorType  byte // 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA
	Interlaced bool
	PLTE, TRNS []byte
}

// Bytes builds the file.
func (p RawPNG) Bytes() []byte {
	chunk := func(typ string, data []byte) []byte {
		b := make([]byte, 4, 12+len(data))
		binary.BigEndian.PutUint32(b, uint32(len(data)))
		b = append(append(b, typ...), data...)
		return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(p.W))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(p.H))
	ihdr[8], ihdr[9] = p.Depth, p.ColorType
	passes := [][4]int{{0, 0, 1, 1}}
	if p.Interlaced {
		ihdr[12] = 1
		passes = [][4]int{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}}
	}
	bits := int(p.Depth) * map[byte]int{0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[p.ColorType]
	var raw bytes.Buffer
	z, _ := zlib.NewWriterLevel(&raw, zlib.BestCompression)
	for _, ps := range passes { // start and step in x and y
		pw, ph := (p.W-ps[0]+ps[2]-1)/ps[2], (p.H-ps[1]+ps[3]-1)/ps[3]
		if pw <= 0 || ph <= 0 {
			continue
		}
		row := make([]byte, 1+(bits*pw+7)/8) // filter byte 0, then zero samples
		for range ph {
			_, _ = z.Write(row)
		}
	}
	_ = z.Close()
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, chunk("IHDR", ihdr)...)
	if p.PLTE != nil {
		out = append(out, chunk("PLTE", p.PLTE)...)
	}
	if p.TRNS != nil {
		out = append(out, chunk("tRNS", p.TRNS)...)
	}
	out = append(out, chunk("IDAT", raw.Bytes())...)
	return append(out, chunk("IEND", nil)...)
}

// Gray16TRNSInterlaced is a size×size PNG, 16-bit grey, Adam7-interlaced,
// with a tRNS chunk: png.DecodeConfig says Gray16 (2 bytes a pixel), but
// the transparency makes Go decode to NRGBA64 (8), and interlacing
// decodes each pass apart before merging them (twice that).
func Gray16TRNSInterlaced(size int) []byte {
	return RawPNG{W: size, H: size, Depth: 16, ColorType: 0, Interlaced: true, TRNS: []byte{0, 1}}.Bytes()
}

// RIFFChunk is a chunk of a RIFF file, padded to an even length.
func RIFFChunk(id string, data []byte) []byte {
	b := append([]byte(id), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	b = append(b, data...)
	if len(data)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

// WebP is a RIFF WEBP file of chunks.
func WebP(chunks ...[]byte) []byte {
	body := []byte("WEBP")
	for _, c := range chunks {
		body = append(body, c...)
	}
	return append(append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...), body...)
}

// VP8X is the chunk that makes a WebP extended: webp.DecodeConfig then
// reports YCbCr (NYCbCrA with alpha) whatever chunks follow.
func VP8X(w, h int, alpha bool) []byte {
	d := make([]byte, 10)
	if alpha {
		d[0] = 1 << 4
	}
	w, h = w-1, h-1
	d[4], d[5], d[6] = byte(w), byte(w>>8), byte(w>>16)
	d[7], d[8], d[9] = byte(h), byte(h>>8), byte(h>>16)
	return RIFFChunk("VP8X", d)
}

// WebPChunk is the payload of the first chunk id of a WebP file.
func WebPChunk(b []byte, id string) []byte {
	off := 12
	for off+8 <= len(b) {
		n := int(binary.LittleEndian.Uint32(b[off+4:]))
		if string(b[off:off+4]) == id {
			return b[off+8 : min(off+8+n, len(b))]
		}
		off += 8 + n + n&1
	}
	return nil
}

// WebPHuffmanGroups is a w×h lossless WebP whose entropy image gives every
// 4x4 tile its own group of Huffman trees, up to groups of them, each with
// a complete green tree of 2328 symbols (a 2^11 colour cache): x/image's
// decoder builds every tree (tens of kilobytes each) before it reads a
// pixel, whatever the image's size. The file holds no pixels, so decoding
// fails, after the allocation.
func WebPHuffmanGroups(w, h, groups int) []byte {
	var bw bitWriter
	order := []int{17, 18, 0, 1, 2, 3, 4, 5, 16, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	header := func(lens map[int]int) { // a normal tree: code-length-code lengths
		n := 0
		for i, s := range order {
			if _, ok := lens[s]; ok {
				n = max(n, i+1)
			}
		}
		bw.bits(0, 1)
		bw.bits(n-4, 4)
		for i := range n {
			bw.bits(lens[order[i]], 3)
		}
		bw.bits(0, 1) // no max_symbol
	}
	repeat := func(count, code, length int) { // code 16: repeat the previous length 3 to 6 times
		for count > 0 {
			r := min(6, count)
			if count-r == 1 || count-r == 2 {
				r = count - 3
			}
			bw.code(code, length)
			bw.bits(r-3, 2)
			count -= r
		}
	}
	tree256 := func() { header(map[int]int{16: 1}); repeat(256, 0, 0) } // 256 symbols of the implicit length 8
	literals280 := func() {                                             // 256 of length 8, then 24 zeros
		header(map[int]int{16: 1, 18: 1})
		repeat(256, 0, 1)
		bw.code(1, 1)
		bw.bits(24-11, 7)
	}
	bigGreen := func() { // 2328 symbols: 1768 of length 11, 560 of 12
		header(map[int]int{16: 1, 11: 2, 12: 2})
		bw.code(0b10, 2)
		repeat(1767, 0, 1)
		bw.code(0b11, 2)
		repeat(559, 0, 1)
	}
	simple := func() { bw.bits(1, 1); bw.bits(0, 1); bw.bits(0, 1); bw.bits(0, 1) } // one symbol, 0-bit code

	bw.bits(0x2f, 8)
	bw.bits(w-1, 14)
	bw.bits(h-1, 14)
	bw.bits(0, 1)
	bw.bits(0, 3)
	bw.bits(0, 1) // no transform
	bw.bits(1, 1) // a colour cache of 2^11
	bw.bits(11, 4)
	bw.bits(1, 1) // meta prefix codes, 4x4 tiles
	bw.bits(0, 3)
	bw.bits(0, 1) // the entropy image: no colour cache
	literals280()
	tree256()
	simple()
	simple()
	simple()
	tiles := ((w + 3) / 4) * ((h + 3) / 4)
	for i := range tiles {
		g := min(i, groups-1)
		bw.code(g&255, 8)
		bw.code(g>>8, 8)
	}
	for range groups {
		bigGreen()
		tree256()
		tree256()
		tree256()
		simple()
	}
	data := bw.done()
	if len(data)%2 == 1 {
		data = append(data, 0)
	}
	riff := append([]byte("WEBPVP8L"), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	riff = append(riff, data...)
	return append(append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(riff)))...), riff...)
}

// bitWriter writes bits least significant first, as VP8L reads them.
type bitWriter struct {
	out []byte
	acc byte
	n   uint
}

func (w *bitWriter) bits(v, n int) {
	for i := range n {
		w.acc |= byte((v>>i)&1) << w.n
		if w.n++; w.n == 8 {
			w.out = append(w.out, w.acc)
			w.acc, w.n = 0, 0
		}
	}
}

// code writes a Huffman code, its most significant bit first.
func (w *bitWriter) code(c, length int) {
	for i := length - 1; i >= 0; i-- {
		w.bits((c>>i)&1, 1)
	}
}

func (w *bitWriter) done() []byte {
	if w.n > 0 {
		w.out = append(w.out, w.acc)
	}
	return w.out
}
