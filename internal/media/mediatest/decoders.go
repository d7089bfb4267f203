package mediatest

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
)

// Images that make Go's decoders allocate far more than their header
// seems to say (found by an independent review of the decoding budget).

// HandmadeJPEG is a w×h JPEG of comps components (4: CMYK, with Adobe's
// APP14 segment) whose blocks are all zero, a few hundred bytes per
// megapixel. Progressive, Go's decoder keeps a 32-bit coefficient per
// sample until the end. With hideFrame, a restart marker after SOI (which
// Go skips without a length) is followed by an APP1 segment inside which
// sits a fake one-component baseline frame header: a walker reading a
// length after every marker lands on the fake, while Go skips the APP1
// and decodes the real frame.
func HandmadeJPEG(w, h, comps int, progressive, hideFrame bool) []byte {
	seg := func(marker byte, data []byte) []byte {
		b := []byte{0xFF, marker, 0, 0}
		binary.BigEndian.PutUint16(b[2:], uint16(len(data)+2))
		return append(b, data...)
	}
	out := []byte{0xFF, 0xD8}
	if comps == 4 {
		out = append(out, seg(0xEE, []byte("Adobe\x00\x64\x00\x00\x00\x00\x00"))...)
	}
	if hideFrame {
		payload := make([]byte, 65533)
		fake := []byte{0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x10, 0x00, 0x10, 0x00, 0x01, 0x01, 0x11, 0x00}
		copy(payload[65509-8:], fake)
		out = append(out, 0xFF, 0xD0, 0xFF, 0xE1, 0xFF, 0xFF)
		out = append(out, payload...)
	}
	out = append(out, seg(0xDB, append([]byte{0}, bytes.Repeat([]byte{1}, 64)...))...)
	sof := []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), byte(comps)}
	for i := range comps {
		sof = append(sof, byte(i+1), 0x11, 0)
	}
	frame := byte(0xC0)
	if progressive {
		frame = 0xC2
	}
	out = append(out, seg(frame, sof)...)
	oneCode := append(append([]byte{}, 1), make([]byte, 15)...) // one code of length 1
	out = append(out, seg(0xC4, append(append([]byte{0x00}, oneCode...), 0))...)
	if !progressive {
		out = append(out, seg(0xC4, append(append([]byte{0x10}, oneCode...), 0))...)
	}
	sos := []byte{byte(comps)}
	for i := range comps {
		sos = append(sos, byte(i+1), 0)
	}
	if progressive {
		sos = append(sos, 0, 0, 0) // DC only
	} else {
		sos = append(sos, 0, 63, 0)
	}
	out = append(out, seg(0xDA, sos)...)
	blocks := ((w + 7) / 8) * ((h + 7) / 8) * comps
	bits := blocks
	if !progressive {
		bits *= 2
	}
	out = append(out, make([]byte, (bits+7)/8)...)
	return append(out, 0xFF, 0xD9)
}

// Gray16TRNSInterlaced is a size×size PNG, 16-bit grey, Adam7-interlaced,
// with a tRNS chunk: png.DecodeConfig says Gray16 (2 bytes a pixel), but
// the transparency makes Go decode to NRGBA64 (8), and interlacing
// decodes each pass apart before merging them (twice that).
func Gray16TRNSInterlaced(size int) []byte {
	chunk := func(typ string, data []byte) []byte {
		b := make([]byte, 4, 12+len(data))
		binary.BigEndian.PutUint32(b, uint32(len(data)))
		b = append(append(b, typ...), data...)
		return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(size))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(size))
	ihdr[8], ihdr[9], ihdr[12] = 16, 0, 1 // 16-bit grey, Adam7
	var raw bytes.Buffer
	z, _ := zlib.NewWriterLevel(&raw, zlib.BestCompression)
	// Adam7's seven passes: start and step in x and y.
	for _, p := range [7][4]int{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}} {
		pw, ph := (size-p[0]+p[2]-1)/p[2], (size-p[1]+p[3]-1)/p[3]
		if pw <= 0 || ph <= 0 {
			continue
		}
		row := make([]byte, 1+2*pw) // filter byte 0, then zero samples
		for range ph {
			_, _ = z.Write(row)
		}
	}
	_ = z.Close()
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, chunk("IHDR", ihdr)...)
	out = append(out, chunk("tRNS", []byte{0, 1})...)
	out = append(out, chunk("IDAT", raw.Bytes())...)
	return append(out, chunk("IEND", nil)...)
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
