package media

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// sniffLen is how much of a file the magic-byte checks look at: enough for
// an ISO BMFF brand list and a Matroska DocType.
const sniffLen = 64

// readHead returns up to sniffLen bytes from the start of f.
func readHead(f io.ReaderAt) ([]byte, error) {
	head := make([]byte, sniffLen)
	n, err := f.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("read file header: %w", err)
	}
	return head[:n], nil
}

// openHead opens path and reads its first bytes; the caller closes the file.
func openHead(path string) (*os.File, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open upload: %w", err)
	}
	head, err := readHead(f)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, head, nil
}

func isPNG(b []byte) bool  { return bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) }
func isJPEG(b []byte) bool { return bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}) }
func isGIF(b []byte) bool {
	return bytes.HasPrefix(b, []byte("GIF87a")) || bytes.HasPrefix(b, []byte("GIF89a"))
}

// isRIFF reports whether b is a RIFF container of the given form type.
func isRIFF(b []byte, form string) bool {
	return len(b) >= 12 && string(b[0:4]) == "RIFF" && string(b[8:12]) == form
}

func isOgg(b []byte) bool  { return bytes.HasPrefix(b, []byte("OggS")) }
func isFLAC(b []byte) bool { return bytes.HasPrefix(b, []byte("fLaC")) }
func isEBML(b []byte) bool { return bytes.HasPrefix(b, []byte{0x1A, 0x45, 0xDF, 0xA3}) }
func isID3(b []byte) bool  { return bytes.HasPrefix(b, []byte("ID3")) }

// ebmlDocType returns "webm", "matroska" or "" for an EBML header.
func ebmlDocType(b []byte) string {
	switch {
	case bytes.Contains(b, []byte("webm")):
		return "webm"
	case bytes.Contains(b, []byte("matroska")):
		return "matroska"
	}
	return ""
}

// ftypBrands returns the major and compatible brands of an ISO BMFF file
// (MP4, M4A, HEIC, …), or ok=false if b does not start with an ftyp box.
func ftypBrands(b []byte) (major string, compatible []string, ok bool) {
	if len(b) < 12 || string(b[4:8]) != "ftyp" {
		return "", nil, false
	}
	size := int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3])
	end := min(size, len(b))
	for i := 16; i+4 <= end; i += 4 {
		compatible = append(compatible, string(b[i:i+4]))
	}
	return string(b[8:12]), compatible, true
}

// mpegFrame classifies an MPEG audio frame header: "mp3" for MPEG-1/2/2.5
// Layer III, "aac" for an ADTS header, "" for anything else.
func mpegFrame(b []byte) string {
	if len(b) < 2 || b[0] != 0xFF || b[1]&0xE0 != 0xE0 {
		return ""
	}
	version, layer := (b[1]>>3)&3, (b[1]>>1)&3
	switch {
	case layer == 0 && b[1]&0xF0 == 0xF0:
		return "aac"
	case layer == 1 && version != 1:
		return "mp3"
	}
	return ""
}

// describe names what a file that we do not accept appears to be, so the
// customer can be told more than "unsupported". It returns "" when unknown.
func describe(b []byte) string {
	if major, compat, ok := ftypBrands(b); ok {
		return describeISO(major, compat)
	}
	switch {
	case isPNG(b):
		return "a PNG image"
	case isJPEG(b):
		return "a JPEG image"
	case isRIFF(b, "WEBP"):
		return "a WebP image"
	case isGIF(b):
		return "a GIF image"
	case bytes.HasPrefix(b, []byte("BM")) && len(b) >= 14:
		return "a BMP image"
	case bytes.HasPrefix(b, []byte("II*\x00")), bytes.HasPrefix(b, []byte("MM\x00*")):
		return "a TIFF image"
	case bytes.HasPrefix(b, []byte("%PDF-")):
		return "a PDF document"
	case bytes.HasPrefix(b, []byte("PK\x03\x04")):
		return "a ZIP archive"
	case isRIFF(b, "WAVE"):
		return "a WAV audio file"
	case isRIFF(b, "AVI "):
		return "an AVI video"
	case len(b) >= 12 && string(b[0:4]) == "FORM" && (string(b[8:12]) == "AIFF" || string(b[8:12]) == "AIFC"):
		return "an AIFF audio file"
	case isID3(b), mpegFrame(b) == "mp3":
		return "an MP3 audio file"
	case mpegFrame(b) == "aac":
		return "an AAC audio file"
	case isOgg(b):
		return "an Ogg file"
	case isFLAC(b):
		return "a FLAC audio file"
	case isEBML(b) && ebmlDocType(b) == "webm":
		return "a WebM file"
	case isEBML(b):
		return "a Matroska file"
	}
	return describeText(b)
}

func describeISO(major string, compat []string) string {
	switch major {
	case "heic", "heix", "hevc", "heim", "heis", "mif1", "msf1":
		return "a HEIC image"
	case "avif", "avis":
		return "an AVIF image"
	case "M4A ", "M4B ", "M4P ":
		return "an M4A audio file"
	case "qt  ":
		return "a QuickTime video"
	}
	if len(major) == 4 && major[:3] == "3gp" {
		return "a 3GP video"
	}
	if hasAudioBrand(compat) {
		return "an M4A audio file"
	}
	return "an MP4 file"
}

// describeText recognises markup that is sometimes uploaded by mistake, such
// as an SVG or an HTML error page saved under an image name.
func describeText(b []byte) string {
	t := bytes.ToLower(bytes.TrimLeft(b, " \t\r\n\xef\xbb\xbf"))
	switch {
	case bytes.HasPrefix(t, []byte("<svg")):
		return "an SVG image"
	case bytes.HasPrefix(t, []byte("<!doctype html")), bytes.HasPrefix(t, []byte("<html")):
		return "an HTML page"
	case bytes.HasPrefix(t, []byte("<?xml")):
		return "an XML document"
	}
	return ""
}

// hasAudioBrand reports whether an ISO BMFF brand list names an audio-only
// profile (iTunes M4A, audiobook M4B).
func hasAudioBrand(brands []string) bool {
	for _, b := range brands {
		if b == "M4A " || b == "M4B " {
			return true
		}
	}
	return false
}

// isGenericISOBrand reports whether brand is a general MP4 brand that audio
// recorders also write; whether such a file holds only audio is left to ffprobe.
func isGenericISOBrand(brand string) bool {
	switch brand {
	case "isom", "iso2", "iso4", "iso5", "iso6", "mp41", "mp42", "dash":
		return true
	}
	return false
}

// id3Payload returns the first bytes after an ID3v2 tag, where the audio
// itself starts: an ID3 tag says nothing about the codec beneath it.
func id3Payload(f io.ReaderAt, head []byte) ([]byte, error) {
	if len(head) < 10 {
		return nil, nil
	}
	size := int64(head[6]&0x7F)<<21 | int64(head[7]&0x7F)<<14 | int64(head[8]&0x7F)<<7 | int64(head[9]&0x7F)
	offset := 10 + size
	if head[5]&0x10 != 0 { // a footer repeats the header after the tag
		offset += 10
	}
	b := make([]byte, 4)
	n, err := f.ReadAt(b, offset)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("read past ID3 tag: %w", err)
	}
	return b[:n], nil
}
