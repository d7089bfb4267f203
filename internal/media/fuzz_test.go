package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/avatar-api/avatar-api/internal/refusal"
)

// fuzzLimits keep fuzzed images small, so that each input decodes fast.
var fuzzLimits = Limits{MaxImageDimension: 512, MaxImagePixels: 512 * 512, MinImageDimension: 1}

// FuzzCanonicalImage runs whole uploads through CanonicalImage: it never
// panics; a refusal is a *refusal.Error with an image code and leaves no
// file; an accepted image's canonical PNG decodes, at 8 bits per channel,
// to the size reported, within the limits.
func FuzzCanonicalImage(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x08, 'E', 'x', 'i', 'f', 0, 0})
	f.Add([]byte("RIFF\x00\x00\x00\x00WEBPVP8L"))
	f.Add([]byte("<svg xmlns='http://www.w3.org/2000/svg'/>"))
	dec := NewImageDecoder(64<<20, 16<<20)
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		src, dst := filepath.Join(dir, "upload"), filepath.Join(dir, "canonical.png")
		if err := os.WriteFile(src, data, 0o600); err != nil {
			t.Fatal(err)
		}
		img, err := dec.CanonicalImage(context.Background(), src, dst, fuzzLimits)
		if err != nil {
			var re *refusal.Error
			if !errors.As(err, &re) || !imageCodes[re.Code] || re.Message == "" {
				t.Fatalf("refused with %v; want a refusal with an image code", err)
			}
			if _, serr := os.Stat(dst); serr == nil {
				t.Fatalf("refused (%v), but %s exists", err, dst)
			}
			return
		}
		out, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		canon, err := png.Decode(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("the canonical PNG does not decode: %v", err)
		}
		b := canon.Bounds()
		if b.Dx() != img.Width || b.Dy() != img.Height || img.Width > fuzzLimits.MaxImageDimension ||
			img.Height > fuzzLimits.MaxImageDimension || img.Width < 1 || img.Height < 1 {
			t.Fatalf("accepted %+v, canonical PNG %v", img, b)
		}
		switch canon.(type) {
		case *image.RGBA, *image.NRGBA, *image.Gray:
		default:
			t.Fatalf("the canonical PNG decodes to %T, not 8 bits per channel", canon)
		}
	})
}

var imageCodes = map[string]bool{
	CodeUnsupportedImageType: true, CodeImageTooLarge: true, CodeImageTooSmall: true, refusal.CodeInvalidImage: true,
}

// FuzzJPEGHeader walks hostile JPEG headers as the decoding cost and the
// EXIF orientation are read from them: no panic, an orientation in 1–8
// (from the file, and from its bytes read as a bare TIFF block), a frame
// layout Go's decoder could have, and segments that lie within the file.
// An orientation written into a real Exif segment, in either byte order,
// is the one read back.
func FuzzJPEGHeader(f *testing.F) {
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x08, 'E', 'x', 'i', 'f', 0, 0}, uint16(1), false)
	f.Add(jpegWithOrientation(binary.BigEndian, 6), uint16(6), false)
	f.Add(jpegWithOrientation(binary.LittleEndian, 8), uint16(9), true)
	f.Add([]byte("II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00\x00\x00"), uint16(3), true)
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xC2, 0x00, 0x11, 8, 0, 16, 0, 16, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1}, uint16(0), false)
	f.Fuzz(func(t *testing.T, data []byte, o uint16, little bool) {
		r := bytes.NewReader(data)
		if got := jpegOrientation(r); got < 1 || got > 8 {
			t.Fatalf("orientation %d", got)
		}
		if got := exifOrientation(data); got < 1 || got > 8 {
			t.Fatalf("orientation %d from the bytes as TIFF", got)
		}
		comps, samples, _ := jpegLayout(r)
		if comps < 1 || comps > 4 || samples <= 0 || samples > 4 {
			t.Fatalf("layout: %d components, %g samples a pixel", comps, samples)
		}
		total := 0
		walkJPEG(r, func(_ byte, seg []byte) bool {
			total += 4 + len(seg)
			if 2+total > len(data) {
				t.Fatalf("segments of %d bytes in a file of %d", total, len(data))
			}
			return true
		})
		pixels, tables := imageCost("jpeg", image.Config{Width: 512, Height: 512}, r, data[:min(len(data), sniffLen)], 1)
		if pixels < 512*512 || tables != 0 {
			t.Fatalf("cost %d + %d bytes, below one byte a pixel", pixels, tables)
		}

		var bo binary.AppendByteOrder = binary.BigEndian
		if little {
			bo = binary.LittleEndian
		}
		want := int(o)
		if want < 1 || want > 8 {
			want = 1
		}
		if got := jpegOrientation(bytes.NewReader(jpegWithOrientation(bo, o))); got != want {
			t.Fatalf("wrote orientation %d, read %d", o, got)
		}
	})
}

// jpegWithOrientation is the head of a JPEG whose APP1 Exif segment has
// one IFD0 entry: orientation o.
func jpegWithOrientation(bo binary.AppendByteOrder, o uint16) []byte {
	tiff := []byte("MM\x00*")
	if bo == binary.AppendByteOrder(binary.LittleEndian) {
		tiff = []byte("II*\x00")
	}
	tiff = bo.AppendUint32(tiff, 8)
	tiff = bo.AppendUint16(tiff, 1)
	tiff = bo.AppendUint16(tiff, 0x0112)
	tiff = bo.AppendUint16(tiff, 3) // SHORT
	tiff = bo.AppendUint32(tiff, 1)
	tiff = bo.AppendUint16(tiff, o)
	tiff = bo.AppendUint16(tiff, 0)
	seg := append([]byte("Exif\x00\x00"), tiff...)
	b := []byte{0xFF, 0xD8, 0xFF, 0xE1}
	b = binary.BigEndian.AppendUint16(b, uint16(2+len(seg)))
	return append(b, seg...)
}

// FuzzUpright turns small images of every pixel type by every orientation:
// the sides swap for the transposing ones, and turning the result by the
// inverse orientation gives back the stored pixels.
func FuzzUpright(f *testing.F) {
	f.Add(uint8(3), uint8(2), uint8(6), uint8(0), []byte("abcdefghijklmnopqrstuvwx"))
	f.Add(uint8(1), uint8(5), uint8(7), uint8(1), []byte{1, 2, 3, 4, 5})
	f.Add(uint8(4), uint8(4), uint8(5), uint8(2), []byte{0xFF})
	inverse := [9]int{0, 1, 2, 3, 4, 5, 8, 7, 6}
	f.Fuzz(func(t *testing.T, w, h, o, kind uint8, pix []byte) {
		wi, hi, oi := int(w%16)+1, int(h%16)+1, int(o%8)+1
		img := fuzzImage(kind, wi, hi, pix)
		turned := canonicalPixels(img, oi)
		tw, th := wi, hi
		if oi >= 5 {
			tw, th = hi, wi
		}
		if b := turned.Bounds(); b.Dx() != tw || b.Dy() != th {
			t.Fatalf("%dx%d turned by %d: %v", wi, hi, oi, b)
		}
		back := canonicalPixels(turned, inverse[oi])
		want := canonicalPixels(img, 1)
		bm, wm := back.Bounds().Min, want.Bounds().Min
		for y := range hi {
			for x := range wi {
				if back.At(bm.X+x, bm.Y+y) != want.At(wm.X+x, wm.Y+y) {
					t.Fatalf("orientation %d then %d moved pixel (%d,%d)", oi, inverse[oi], x, y)
				}
			}
		}
	})
}

// fuzzImage builds a w×h image of one of canonicalPixels's input types,
// its pixels from pix (repeated), at an offset origin.
func fuzzImage(kind uint8, w, h int, pix []byte) image.Image {
	r := image.Rect(3, 5, 3+w, 5+h)
	fill := func(b []byte) {
		for i := range b {
			if len(pix) > 0 {
				b[i] = pix[i%len(pix)]
			}
		}
	}
	switch kind % 4 {
	case 0:
		m := image.NewRGBA(r)
		fill(m.Pix)
		for i := 3; i < len(m.Pix); i += 4 { // premultiplied: alpha bounds the colours
			m.Pix[i] = 0xFF
		}
		return m
	case 1:
		m := image.NewNRGBA(r)
		fill(m.Pix)
		return m
	case 2:
		m := image.NewGray(r)
		fill(m.Pix)
		return m
	}
	m := image.NewYCbCr(r, image.YCbCrSubsampleRatio444)
	fill(m.Y)
	fill(m.Cb)
	fill(m.Cr)
	return m
}

// FuzzSniff names uploads from their first bytes: no panic; an image is
// accepted as one of the three codecs or refused as an unsupported type;
// an audio file gets one of the accepted formats or is refused the same
// way; and neither reads beyond the file.
func FuzzSniff(f *testing.F) {
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEfmt "))
	f.Add([]byte("ID3\x04\x00\x10\x00\x00\x00\x14" + string(make([]byte, 30)) + "fLaC"))
	f.Add([]byte("\x00\x00\x00\x1cftypM4A \x00\x00\x00\x00M4A mp42isom"))
	f.Add([]byte("\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm"))
	f.Add([]byte{0xFF, 0xF1, 0x50, 0x80})
	f.Add([]byte("\xef\xbb\xbf  <!DOCTYPE html>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		head := data[:min(len(data), sniffLen)]
		_ = describe(head)
		if c, err := sniffImage(head); err != nil {
			var re *refusal.Error
			if !errors.As(err, &re) || re.Code != CodeUnsupportedImageType {
				t.Fatalf("image refused with %v", err)
			}
		} else if !c.match(head) {
			t.Fatalf("sniffed as %s, which does not match", c.format)
		}
		format, err := sniffAudio(bytes.NewReader(data), head)
		if err != nil {
			var re *refusal.Error
			if !errors.As(err, &re) || re.Code != CodeUnsupportedAudioType {
				t.Fatalf("audio refused with %v", err)
			}
			return
		}
		if _, ok := audioFormats[format]; !ok {
			t.Fatalf("sniffed audio format %q, which is not accepted", format)
		}
	})
}
