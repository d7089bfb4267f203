package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/avatar-api/avatar-api/internal/refusal"
)

func TestCanonicalImage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		path       func(t *testing.T) string
		lim        Limits
		wantCode   string
		wantFormat string
		wantW      int
		wantH      int
		wantInMsg  string
	}{
		{name: "portrait png", path: fixture("astronaut.png"), wantFormat: "png", wantW: 512, wantH: 512},
		{name: "cat png", path: fixture("chelsea.png"), wantFormat: "png", wantW: 451, wantH: 300},
		{name: "coffee png", path: fixture("coffee.png"), wantFormat: "png", wantW: 600, wantH: 400},
		{name: "jpeg", path: jpegFile, wantFormat: "jpeg", wantW: 200, wantH: 100},
		{name: "webp", path: webpFile, wantFormat: "webp", wantW: 512, wantH: 512},
		{name: "truncated jpeg", path: fixture("truncated.jpg"), wantCode: refusal.CodeInvalidImage, wantInMsg: "truncated or corrupt"},
		{name: "truncated png", path: func(t *testing.T) string { return prefixOf(t, "chelsea.png", 50_000) },
			wantCode: refusal.CodeInvalidImage, wantInMsg: "truncated or corrupt"},
		{name: "png with a broken header", path: func(t *testing.T) string {
			return writeFile(t, "x.png", append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 40)...))
		}, wantCode: refusal.CodeInvalidImage, wantInMsg: "header"},
		{name: "gif", path: gifFile, wantCode: CodeUnsupportedImageType, wantInMsg: "GIF"},
		{name: "wav named as an image", path: func(t *testing.T) string {
			b, _ := os.ReadFile(filepath.Join(fixtures, "speech_en_4s.wav"))
			return writeFile(t, "photo.png", b)
		}, wantCode: CodeUnsupportedImageType, wantInMsg: "WAV"},
		{name: "svg", path: func(t *testing.T) string {
			return writeFile(t, "a.png", []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`))
		}, wantCode: CodeUnsupportedImageType, wantInMsg: "SVG"},
		{name: "unknown bytes", path: func(t *testing.T) string { return writeFile(t, "a.jpg", []byte("hello")) },
			wantCode: CodeUnsupportedImageType},
		{name: "empty", path: func(t *testing.T) string { return writeFile(t, "a.png", nil) },
			wantCode: CodeUnsupportedImageType, wantInMsg: "empty"},
		{name: "side over limit", path: fixture("astronaut.png"), lim: Limits{MaxImageDimension: 256},
			wantCode: CodeImageTooLarge, wantInMsg: "512x512"},
		{name: "pixels over limit", path: fixture("coffee.png"), lim: Limits{MaxImagePixels: 200_000},
			wantCode: CodeImageTooLarge, wantInMsg: "240000"},
		{name: "side under limit", path: fixture("chelsea.png"), lim: Limits{MinImageDimension: 400},
			wantCode: CodeImageTooSmall, wantInMsg: "451x300"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dst := filepath.Join(t.TempDir(), "image.png")
			got, err := testDecoder().CanonicalImage(context.Background(), tt.path(t), dst, tt.lim)
			if code := codeOf(err); code != tt.wantCode {
				t.Fatalf("code = %q, want %q (err %v)", code, tt.wantCode, err)
			}
			if err != nil {
				if _, serr := os.Stat(dst); serr == nil {
					t.Error("a refused upload left its canonical file behind")
				}
				t.Logf("refused: %s", err.(*refusal.Error).Message)
				if !strings.Contains(err.(*refusal.Error).Message, tt.wantInMsg) {
					t.Errorf("message %q does not mention %q", err.(*refusal.Error).Message, tt.wantInMsg)
				}
				return
			}
			if got.Format != tt.wantFormat || got.Width != tt.wantW || got.Height != tt.wantH {
				t.Errorf("got %+v, want %s %dx%d", got, tt.wantFormat, tt.wantW, tt.wantH)
			}
			if got.ContentType != "image/png" || got.Ext != ".png" {
				t.Errorf("content type %q, ext %q", got.ContentType, got.Ext)
			}
			canon := decodePNG(t, dst)
			if b := canon.Bounds(); b.Dx() != tt.wantW || b.Dy() != tt.wantH {
				t.Errorf("canonical image is %v", b)
			}
		})
	}
}

// TestCanonicalImageDecompressionBomb is not parallel so that the allocation
// count it reads belongs to it alone.
func TestCanonicalImageDecompressionBomb(t *testing.T) {
	path := writeFile(t, "bomb.png", pngHeader(100_000, 100_000))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := testDecoder().CanonicalImage(context.Background(), path, filepath.Join(t.TempDir(), "x.png"),
		Limits{MaxImageDimension: 200_000, MaxImagePixels: 4096 * 4096})
	runtime.ReadMemStats(&after)
	if code := codeOf(err); code != CodeImageTooLarge {
		t.Fatalf("code = %q, want %q", code, CodeImageTooLarge)
	}
	// Decoding would need 40 GB; refusing from the header needs a few KB.
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("allocated %d bytes while refusing a bomb", n)
	}
}

func fixture(name string) func(*testing.T) string {
	return func(*testing.T) string { return filepath.Join(fixtures, name) }
}

// pngHeader returns a PNG signature and a valid IHDR chunk claiming w×h
// RGBA pixels, with no image data after it.
func pngHeader(w, h uint32) []byte {
	ihdr := make([]byte, 17)
	copy(ihdr, "IHDR")
	binary.BigEndian.PutUint32(ihdr[4:], w)
	binary.BigEndian.PutUint32(ihdr[8:], h)
	ihdr[12], ihdr[13] = 8, 6 // 8-bit RGBA
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	binary.Write(&b, binary.BigEndian, uint32(13))
	b.Write(ihdr)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(ihdr))
	return b.Bytes()
}

func solid(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 0x80
	}
	return img
}

func jpegFile(t *testing.T) string {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, solid(200, 100), nil); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "photo.png", b.Bytes()) // the misleading name must not matter
}

func gifFile(t *testing.T) string {
	var b bytes.Buffer
	img := image.NewPaletted(image.Rect(0, 0, 100, 100), color.Palette{color.Black, color.White})
	if err := gif.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "face.png", b.Bytes())
}

func webpFile(t *testing.T) string {
	return ffmpegMake(t, "-i", filepath.Join(fixtures, "astronaut.png"), "-c:v", "libwebp", "-f", "webp")
}

func testDecoder() *ImageDecoder { return NewImageDecoder(256<<20, 128<<20) }

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("canonical image: %v", err)
	}
	return img
}
