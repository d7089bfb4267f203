package media

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/media/mediatest"
)

// TestCanonicalImageStripsWhatRidesAlong: EXIF (GPS positions), text
// chunks and trailing bytes (a playlist) are not in the canonical form.
func TestCanonicalImageStripsWhatRidesAlong(t *testing.T) {
	t.Parallel()
	mp3, _ := os.ReadFile(filepath.Join(fixtures, "speech_en_12s.mp3"))
	wav, _ := os.ReadFile(filepath.Join(fixtures, "speech_en_4s.wav"))
	for _, c := range mediatest.Corpus(mp3, wav) {
		if c.Part != "image" || c.Refused != "" || c.Slow {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			src := filepath.Join(fixtures, "hostile", c.Name)
			dst := filepath.Join(t.TempDir(), "image.png")
			if _, err := testDecoder().CanonicalImage(context.Background(), src, dst, Limits{}); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(dst)
			for _, bad := range []string{mediatest.Canary, "Exif", "eXIf", "tEXt", "iTXt", "#EXTM3U"} {
				if bytes.Contains(b, []byte(bad)) {
					t.Errorf("canonical image holds %q", bad)
				}
			}
			img := decodePNG(t, dst)
			switch img.(type) {
			case *image.RGBA, *image.NRGBA, *image.Gray, *image.Paletted:
			default:
				t.Errorf("canonical image decodes as %T, want 8 bits per channel", img)
			}
		})
	}
}

func TestCanonicalImageIsEightBit(t *testing.T) {
	t.Parallel()
	src := writeFile(t, "deep.png", mediatest.Bomb16(256))
	dst := filepath.Join(t.TempDir(), "image.png")
	if _, err := testDecoder().CanonicalImage(context.Background(), src, dst, Limits{}); err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, dst)
	c, ok := img.At(10, 10).(color.RGBA)
	if !ok {
		t.Fatalf("pixel is %T, want 8-bit RGBA", img.At(10, 10))
	}
	if c != (color.RGBA{0x80, 0x40, 0x20, 0xFF}) {
		t.Errorf("pixel %v, want the 16-bit colour's high bytes", c)
	}
}

// TestCanonicalImageMemoryCap: the memory an image needs is known from its
// header, and one needing more than the cap is refused before any pixel is
// decoded.
func TestCanonicalImageMemoryCap(t *testing.T) {
	t.Parallel()
	src := writeFile(t, "deep.png", mediatest.Bomb16(1024)) // 8 MiB decoded
	dst := filepath.Join(t.TempDir(), "image.png")
	_, err := NewImageDecoder(64<<20, 4<<20).CanonicalImage(context.Background(), src, dst, Limits{})
	if codeOf(err) != CodeImageTooLarge || !strings.Contains(err.Error(), "16 bits per channel") {
		t.Fatalf("err = %v, want image_dimensions_too_large naming the depth", err)
	}
	if _, err := NewImageDecoder(64<<20, 9<<20).CanonicalImage(context.Background(), src, dst, Limits{}); err != nil {
		t.Fatalf("within the cap: %v", err)
	}
}

// TestCanonicalImageWaitsForTheBudget: while other uploads hold the
// budget, an image waits for its share, then the upload is told the
// service is busy (not that the image is bad).
func TestCanonicalImageWaitsForTheBudget(t *testing.T) {
	t.Parallel()
	d := NewImageDecoder(16<<20, 16<<20)
	d.Wait = 100 * time.Millisecond
	release, err := d.Reserve(context.Background(), 12<<20)
	if err != nil {
		t.Fatal(err)
	}
	src := writeFile(t, "deep.png", mediatest.Bomb16(1024))
	dst := filepath.Join(t.TempDir(), "image.png")
	if _, err := d.CanonicalImage(context.Background(), src, dst, Limits{}); !errors.Is(err, ErrBusy) {
		t.Fatalf("with the budget taken: %v, want ErrBusy", err)
	}
	if _, err := os.Stat(dst); err == nil {
		t.Error("a busy refusal left a file")
	}
	done := make(chan error, 1)
	d.Wait = time.Minute
	go func() { _, err := d.CanonicalImage(context.Background(), src, dst, Limits{}); done <- err }()
	release()
	if err := <-done; err != nil {
		t.Fatalf("once the budget is free: %v", err)
	}
}

func TestDecodeCost(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewYCbCr(image.Rect(0, 0, 400, 200), image.YCbCrSubsampleRatio420), nil); err != nil {
		t.Fatal(err)
	}
	baseline := b.Bytes()
	if _, s, prog := jpegLayout(bytes.NewReader(baseline)); s != 1.5 || prog {
		t.Errorf("4:2:0 baseline: %v samples, progressive %v", s, prog)
	}
	progressive := bytes.Replace(baseline, []byte{0xFF, 0xC0}, []byte{0xFF, 0xC2}, 1)
	if _, s, prog := jpegLayout(bytes.NewReader(progressive)); s != 1.5 || !prog {
		t.Errorf("4:2:0 progressive: %v samples, progressive %v", s, prog)
	}
	cfg := image.Config{Width: 4096, Height: 4096, ColorModel: color.NRGBA64Model}
	if got, tables := imageCost("png", cfg, bytes.NewReader(nil), nil, 1); got != 128<<20 || tables != 0 {
		t.Errorf("16-bit 4096² PNG costs %d", got)
	}
}

// TestCanonicalImageTurnsPhotosUpright: a phone stores a portrait sideways
// and says so in EXIF; the canonical form is upright, since the EXIF that
// said so is dropped.
func TestCanonicalImageTurnsPhotosUpright(t *testing.T) {
	t.Parallel()
	img := image.NewRGBA(image.Rect(0, 0, 64, 128)) // stored: red on top, blue below
	for y := range 128 {
		for x := range 64 {
			c := color.RGBA{255, 0, 0, 255}
			if y >= 64 {
				c = color.RGBA{0, 0, 255, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	src := writeFile(t, "phone.jpg", mediatest.JPEGWithExif(img, mediatest.ExifOrientation(6)))
	dst := filepath.Join(t.TempDir(), "image.png")
	got, err := testDecoder().CanonicalImage(context.Background(), src, dst, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Width != 128 || got.Height != 64 {
		t.Fatalf("upright size %dx%d, want 128x64", got.Width, got.Height)
	}
	up := decodePNG(t, dst)
	r, _, b, _ := up.At(110, 32).RGBA()
	r2, _, b2, _ := up.At(16, 32).RGBA()
	if r < 0xC000 || b > 0x4000 || b2 < 0xC000 || r2 > 0x4000 {
		t.Errorf("rotated 90° clockwise, the top (red) should be on the right: right %x/%x, left %x/%x", r, b, r2, b2)
	}
}

// TestOrientations holds upright to the EXIF definitions, written
// here the other way round: where each stored pixel lands.
func TestOrientations(t *testing.T) {
	t.Parallel()
	const w, h = 3, 2
	src := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			src.SetNRGBA(x, y, color.NRGBA{uint8(x), uint8(y), 0, 255})
		}
	}
	land := map[int]func(x, y int) (int, int){
		2: func(x, y int) (int, int) { return w - 1 - x, y },
		3: func(x, y int) (int, int) { return w - 1 - x, h - 1 - y },
		4: func(x, y int) (int, int) { return x, h - 1 - y },
		5: func(x, y int) (int, int) { return y, x },
		6: func(x, y int) (int, int) { return h - 1 - y, x },
		7: func(x, y int) (int, int) { return h - 1 - y, w - 1 - x },
		8: func(x, y int) (int, int) { return y, w - 1 - x },
	}
	for o, f := range land {
		v := upright(src, o)
		for y := range h {
			for x := range w {
				dx, dy := f(x, y)
				if got := v.At(dx, dy).(color.NRGBA); got.R != uint8(x) || got.G != uint8(y) {
					t.Errorf("orientation %d: stored (%d,%d) should show at (%d,%d), found (%d,%d)", o, x, y, dx, dy, got.R, got.G)
				}
			}
		}
	}
}

// TestDecoderTricksRefusedFirst: images that make Go's decoders allocate
// far more than their header seems to say (a frame header hidden from a
// naive walk, tRNS, interlacing, lossless WebP's Huffman groups) are
// measured as Go will decode them, and refused before anything is decoded.
// Not parallel, so that the allocation count it reads is its own.
func TestDecoderTricksRefusedFirst(t *testing.T) {
	mp3, _ := os.ReadFile(filepath.Join(fixtures, "speech_en_12s.mp3"))
	wav, _ := os.ReadFile(filepath.Join(fixtures, "speech_en_4s.wav"))
	d := testDecoder()
	for _, c := range mediatest.Corpus(mp3, wav) {
		if c.Part != "image" || c.Refused != CodeImageTooLarge {
			continue
		}
		src := filepath.Join(fixtures, "hostile", c.Name)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := d.CanonicalImage(context.Background(), src, filepath.Join(t.TempDir(), "x.png"), Limits{})
		runtime.ReadMemStats(&after)
		if codeOf(err) != CodeImageTooLarge {
			t.Errorf("%s: %v, want %s", c.Name, err, CodeImageTooLarge)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 2<<20 {
			t.Errorf("%s: allocated %d bytes before refusing", c.Name, n)
		}
	}
}

// TestDecodeCostIsAnUpperBound: for images the service accepts, what the
// decoder and the canonical conversion allocate stays within what was
// reserved for them. Not parallel, for the same reason.
func TestDecodeCostIsAnUpperBound(t *testing.T) {
	lossless := ffmpegMake(t, "-i", filepath.Join(fixtures, "astronaut.png"), "-c:v", "libwebp", "-lossless", "1", "-f", "webp")
	lossy := ffmpegMake(t, "-i", filepath.Join(fixtures, "astronaut.png"), "-c:v", "libwebp", "-f", "webp")
	// A lossy WebP with alpha: libwebp compresses the alpha plane losslessly.
	alpha := ffmpegMake(t, "-f", "lavfi", "-i", "testsrc=size=512x512:rate=1,format=rgba,colorchannelmixer=aa=0.5",
		"-frames:v", "1", "-c:v", "libwebp", "-f", "webp")
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	lossy208 := ffmpegMake(t, "-i", filepath.Join(fixtures, "astronaut.png"), "-vf", "scale=208:208", "-c:v", "libwebp", "-f", "webp")
	groups := mediatest.WebPChunk(mediatest.WebPHuffmanGroups(208, 208, 2600), "VP8L")
	ex6 := mediatest.ExifOrientation(6)
	rgb := []byte{'R', 'G', 'B'}
	jpeg := func(name string, j mediatest.JPEG) string { return writeFile(t, name, j.Bytes()) }
	png := func(name string, p mediatest.RawPNG) string { return writeFile(t, name, p.Bytes()) }
	cases := map[string]string{
		// Found by the second review:
		"rgb jpeg (adobe 0)":           jpeg("a.jpg", mediatest.JPEG{W: 1024, H: 1024, Sampling: []byte{0x11, 0x11, 0x11}, Adobe: 0}),
		"rgb jpeg (ids) sideways":      jpeg("b.jpg", mediatest.JPEG{W: 1024, H: 768, Sampling: []byte{0x11, 0x11, 0x11}, IDs: rgb, Adobe: -1, Exif: ex6}),
		"rgb jpeg progressive":         jpeg("c.jpg", mediatest.JPEG{W: 1000, H: 1000, Sampling: []byte{0x11, 0x11, 0x11}, IDs: rgb, Adobe: -1, Progressive: true}),
		"ycc 4:2:0 jpeg sideways":      jpeg("d.jpg", mediatest.JPEG{W: 1001, H: 777, Sampling: []byte{0x22, 0x11, 0x11}, Adobe: -1, Exif: ex6}),
		"ycc 4:1:0 progressive 65":     jpeg("e.jpg", mediatest.JPEG{W: 65, H: 65, Sampling: []byte{0x42, 0x11, 0x11}, Adobe: -1, Progressive: true}),
		"ycck 2,1,1,2 sideways":        jpeg("f.jpg", mediatest.JPEG{W: 1000, H: 1000, Sampling: []byte{0x22, 0x11, 0x11, 0x22}, Adobe: 2, Exif: ex6}),
		"cmyk progressive sideways":    jpeg("g.jpg", mediatest.JPEG{W: 1000, H: 1000, Sampling: []byte{0x11, 0x11, 0x11, 0x11}, Adobe: 0, Progressive: true, Exif: ex6}),
		"grey jpeg progressive turned": jpeg("h.jpg", mediatest.JPEG{W: 1000, H: 1000, Sampling: []byte{0x11}, Adobe: -1, Progressive: true, Exif: ex6}),
		"1-bit palette interlaced":     png("a.png", mediatest.RawPNG{W: 1024, H: 1024, Depth: 1, ColorType: 3, Interlaced: true, PLTE: []byte{0, 0, 0, 255, 255, 255}, TRNS: []byte{0}}),
		"8-bit palette tRNS":           png("b.png", mediatest.RawPNG{W: 1024, H: 1024, Depth: 8, ColorType: 3, PLTE: make([]byte, 768), TRNS: make([]byte, 256)}),
		"2-bit grey tRNS interlaced":   png("c.png", mediatest.RawPNG{W: 1024, H: 1024, Depth: 2, ColorType: 0, Interlaced: true, TRNS: []byte{0, 1}}),
		"16-bit rgb tRNS interlaced":   png("d.png", mediatest.RawPNG{W: 512, H: 512, Depth: 16, ColorType: 2, Interlaced: true, TRNS: make([]byte, 6)}),
		"16-bit grey+alpha interlaced": png("e.png", mediatest.RawPNG{W: 512, H: 512, Depth: 16, ColorType: 4, Interlaced: true}),
		"webp: vp8x + groups":          writeFile(t, "a.webp", mediatest.WebP(mediatest.VP8X(208, 208, false), mediatest.RIFFChunk("VP8L", groups))),
		"webp: vp8x(alpha) + groups":   writeFile(t, "b.webp", mediatest.WebP(mediatest.VP8X(208, 208, true), mediatest.RIFFChunk("VP8L", groups))),
		"webp: alpha groups + vp8": writeFile(t, "c.webp", mediatest.WebP(mediatest.VP8X(208, 208, true),
			mediatest.RIFFChunk("ALPH", append([]byte{1}, groups[5:]...)), mediatest.RIFFChunk("VP8 ", mediatest.WebPChunk(read(lossy208), "VP8 ")))),
		"webp: vp8x + real lossless": writeFile(t, "d.webp", mediatest.WebP(mediatest.VP8X(512, 512, false),
			mediatest.RIFFChunk("VP8L", mediatest.WebPChunk(read(lossless), "VP8L")))),
		"lossy webp with alpha": alpha,
		// Found by the first review and before:
		"png":                   filepath.Join(fixtures, "astronaut.png"),
		"grey png":              filepath.Join(fixtures, "camera.png"),
		"16-bit png":            writeFile(t, "deep.png", mediatest.Bomb16(1024)),
		"interlaced tRNS png":   writeFile(t, "i.png", mediatest.Gray16TRNSInterlaced(512)),
		"baseline jpeg":         jpegFile(t),
		"progressive ycc jpeg":  writeFile(t, "p.jpg", mediatest.HandmadeJPEG(512, 512, 3, true, false)),
		"progressive cmyk jpeg": writeFile(t, "c.jpg", mediatest.HandmadeJPEG(512, 512, 4, true, false)),
		"sideways jpeg":         writeFile(t, "r.jpg", mediatest.JPEGWithExif(mediatest.Portrait(300), mediatest.ExifOrientation(6))),
		"lossy webp":            lossy,
		"lossless webp":         lossless,
		"webp groups":           writeFile(t, "g.webp", mediatest.WebPHuffmanGroups(64, 64, 256)),
	}
	for name, path := range cases {
		f, head, err := openHead(path)
		if err != nil {
			t.Fatal(err)
		}
		codec, _ := sniffImage(head)
		cfg, _ := codec.decodeConfig(fromStart(f))
		orientation := 1
		if codec.format == "jpeg" {
			orientation = jpegOrientation(f)
		}
		pixels, tables := imageCost(codec.format, cfg, f, head, orientation)
		reserved := pixels + tables + encoderBytes
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, derr := decodeToPNG(f, codec, orientation, filepath.Join(t.TempDir(), "x.png"))
		runtime.ReadMemStats(&after)
		f.Close()
		used := int64(after.TotalAlloc - before.TotalAlloc)
		t.Logf("%s %dx%d: allocated %d KiB, reserved %d KiB (%v)", name, cfg.Width, cfg.Height, used>>10, reserved>>10, derr)
		if used > reserved {
			t.Errorf("%s: allocated %d bytes, reserved %d", name, used, reserved)
		}
	}
}

// TestLosslessWebPWithinTheBudget: a lossless WebP may need 200 MiB of
// Huffman tables whatever its size; one whose pixels do not fit beside
// them is refused as too large (not a 500), one that fits is accepted.
func TestLosslessWebPWithinTheBudget(t *testing.T) {
	t.Parallel()
	for size, want := range map[string]string{"1024x1024": "", "1400x1400": CodeImageTooLarge} {
		src := ffmpegMake(t, "-f", "lavfi", "-i", "testsrc=size="+size+":rate=1", "-frames:v", "1", "-c:v", "libwebp", "-lossless", "1", "-f", "webp")
		_, err := testDecoder().CanonicalImage(context.Background(), src, filepath.Join(t.TempDir(), "x.png"), Limits{})
		if codeOf(err) != want {
			t.Errorf("%s lossless WebP: %v, want %q", size, err, want)
		}
	}
}

// TestCanonicalImageThenHandsTheSamePixels: the pixels a check is handed
// read, pixel for pixel, as the canonical PNG decodes (a photo's YCbCr
// included: its canonical pixels are RGBA already). A refusal by the
// check leaves no file.
func TestCanonicalImageThenHandsTheSamePixels(t *testing.T) {
	t.Parallel()
	var photo bytes.Buffer
	if err := jpeg.Encode(&photo, mediatest.Portrait(300), nil); err != nil {
		t.Fatal(err)
	}
	gray := image.NewGray(image.Rect(0, 0, 96, 80))
	translucent := image.NewNRGBA(image.Rect(0, 0, 90, 70))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i * 7)
	}
	for i := range translucent.Pix {
		translucent.Pix[i] = uint8(i * 13)
	}
	for name, tt := range map[string]struct {
		data    []byte
		checked bool
	}{
		"astronaut":         {mustRead(t, filepath.Join(fixtures, "astronaut.png")), true},
		"portrait png":      {mediatest.PNG(mediatest.Portrait(300)), true},
		"gray png":          {mediatest.PNG(gray), true},
		"translucent nrgba": {mediatest.PNG(translucent), true},
		"jpeg":              {photo.Bytes(), true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src := writeFile(t, "upload", tt.data)
			dst := filepath.Join(t.TempDir(), "image.png")
			var seen image.Image
			_, checked, err := NewImageDecoder(1<<30, 1<<30).CanonicalImageThen(context.Background(), src, dst, Limits{},
				func(w, h int) int64 { return int64(w * h) }, func(img image.Image) error { seen = img; return nil })
			if err != nil || checked != tt.checked {
				t.Fatalf("checked %v, err %v; want checked %v", checked, err, tt.checked)
			}
			if !checked {
				return
			}
			f, err := os.Open(dst)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			back, err := png.Decode(f)
			if err != nil {
				t.Fatal(err)
			}
			if seen.Bounds() != back.Bounds() {
				t.Fatalf("bounds %v, the file's %v", seen.Bounds(), back.Bounds())
			}
			b := back.Bounds()
			for y := b.Min.Y; y < b.Max.Y; y++ {
				for x := b.Min.X; x < b.Max.X; x++ {
					r1, g1, b1, a1 := seen.At(x, y).RGBA()
					r2, g2, b2, a2 := back.At(x, y).RGBA()
					if r1 != r2 || g1 != g2 || b1 != b2 || a1 != a2 {
						t.Fatalf("pixel (%d, %d): handed %v, the file decodes as %v", x, y, seen.At(x, y), back.At(x, y))
					}
				}
			}
		})
	}
	t.Run("refused by the check", func(t *testing.T) {
		t.Parallel()
		dst := filepath.Join(t.TempDir(), "image.png")
		no := errors.New("no face")
		_, checked, err := NewImageDecoder(1<<30, 1<<30).CanonicalImageThen(context.Background(),
			writeFile(t, "upload", mediatest.PNG(mediatest.Portrait(100))), dst, Limits{},
			func(w, h int) int64 { return 0 }, func(image.Image) error { return no })
		if !checked || !errors.Is(err, no) {
			t.Fatalf("checked %v, err %v", checked, err)
		}
		if _, err := os.Stat(dst); err == nil {
			t.Error("the refused image's canonical file is left")
		}
	})
}
