package media

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/image/webp"
	"golang.org/x/sync/semaphore"

	"github.com/avatar-api/avatar-api/internal/refusal"
)

// Image describes an accepted portrait and its canonical form.
type Image struct {
	Format      string // the upload's: "png", "jpeg" or "webp"
	ContentType string // the canonical form's: "image/png"
	Ext         string // the canonical form's: ".png"
	Width       int    // of the canonical form (after EXIF orientation)
	Height      int
}

// imageCodec is one accepted image format: how to recognise it and decode it.
type imageCodec struct {
	format       string
	match        func([]byte) bool
	decodeConfig func(io.Reader) (image.Config, error)
	decode       func(io.Reader) (image.Image, error)
}

var imageCodecs = []imageCodec{
	{"png", isPNG, png.DecodeConfig, png.Decode},
	{"jpeg", isJPEG, jpeg.DecodeConfig, jpeg.Decode},
	{"webp", func(b []byte) bool { return isRIFF(b, "WEBP") }, webp.DecodeConfig, webp.Decode},
}

// ErrBusy means the images being decoded already hold the memory budget
// and the upload waited too long for its share: the service is busy, the
// upload was not at fault.
var ErrBusy = errors.New("every image decoding slot is taken")

// ImageDecoder decodes uploaded images within one memory budget shared by
// every upload of the process. The memory an image's pixels need is worked
// out from its header before any pixel is decoded; an image needing more
// than the per-image cap is refused, and the others wait until their share
// of the budget is free. So concurrent uploads of decompression bombs (a
// 130 KB PNG of 4096x4096 at 16 bits per channel decodes to 128 MiB) cannot
// drive the process's memory past the budget.
type ImageDecoder struct {
	sem      *semaphore.Weighted
	budget   int64
	perImage int64
	// Wait is how long an upload waits for its share before ErrBusy.
	Wait time.Duration
}

// NewImageDecoder returns a decoder with a budget of bytes for all the
// images decoded at once and a cap of perImage bytes for one image.
func NewImageDecoder(budget, perImage int64) *ImageDecoder {
	perImage = min(perImage, budget)
	return &ImageDecoder{sem: semaphore.NewWeighted(budget), budget: budget, perImage: perImage, Wait: 30 * time.Second}
}

// ErrOverBudget means work needs more memory than the whole budget.
var ErrOverBudget = errors.New("needs more memory than the image decoding budget")

// Reserve takes n bytes of the budget, for other work on decoded pixels
// (the face check decodes the canonical image again). release gives them
// back.
func (d *ImageDecoder) Reserve(ctx context.Context, n int64) (release func(), err error) {
	if n > d.budget {
		return nil, ErrOverBudget
	}
	n = max(n, 1)
	wctx, cancel := context.WithTimeout(ctx, d.Wait)
	defer cancel()
	if err := d.sem.Acquire(wctx, n); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, ErrBusy
	}
	return func() {
		if n >= collectAbove {
			// The pixels are garbage now; collect them before the next
			// image allocates its own, or the heap grows to twice the
			// budget before the collector runs (four 16-bit 4096² uploads at
			// once: 690 MiB resident for a 256 MiB budget without this, 305
			// MiB with it). Pixel buffers hold no pointers, so the
			// collection is quick.
			runtime.GC()
		}
		d.sem.Release(n)
	}, nil
}

// encoderBytes is what the PNG encoder allocates besides the pixels
// (zlib's state and its row buffers, measured under 2 MiB at BestSpeed).
const encoderBytes = 2 << 20

// collectAbove is the share of the budget above which giving it back
// collects the garbage first.
const collectAbove = 16 << 20

// RGBABytes is the memory of w×h pixels at 8 bits per channel with alpha.
func RGBABytes(w, h int) int64 { return 4 * int64(w) * int64(h) }

// CanonicalImage checks that the upload at src is a PNG, JPEG or WebP
// image within lim that decodes completely, and writes its canonical form
// to dst: a PNG at 8 bits per channel, turned upright as its EXIF
// orientation says, and nothing else — no EXIF (GPS positions, camera
// serial numbers), no text chunks, no trailing bytes. The dimensions and
// the decoding memory are checked from the header before any pixel is
// decoded, so a small file claiming an enormous image costs nothing. Bad
// input yields a *refusal.Error; a busy budget ErrBusy; I/O failures ordinary
// errors. On any error dst does not exist.
func (d *ImageDecoder) CanonicalImage(ctx context.Context, src, dst string, lim Limits) (Image, error) {
	img, _, err := d.CanonicalImageThen(ctx, src, dst, lim, nil, nil)
	return img, err
}

// CanonicalImageThen is CanonicalImage, then check on the canonical pixels
// while they are still in memory, so that a check of the portrait (the
// face check) need not decode dst again: its reservation is grown by
// extra(w, h), what check allocates besides the pixels. checked is false
// when check did not run: the pixels are not exactly what decoding dst
// would give (see decodesAsIs), or the two reservations together would
// pass the budget; the caller then checks dst itself, as before.
func (d *ImageDecoder) CanonicalImageThen(ctx context.Context, src, dst string, lim Limits,
	extra func(w, h int) int64, check func(image.Image) error) (_ Image, checked bool, _ error) {
	lim = lim.withDefaults()
	f, head, err := openHead(src)
	if err != nil {
		return Image{}, false, err
	}
	defer f.Close()
	codec, err := sniffImage(head)
	if err != nil {
		return Image{}, false, err
	}
	cfg, err := codec.decodeConfig(fromStart(f))
	if err != nil {
		return Image{}, false, refusal.New(refusal.CodeInvalidImage, "the image header could not be read").WithDetail(decodeReason(err))
	}
	if err := checkDimensions(cfg.Width, cfg.Height, lim); err != nil {
		return Image{}, false, err
	}
	orientation := 1
	if codec.format == "jpeg" {
		orientation = jpegOrientation(f)
	}
	pixels, tables := imageCost(codec.format, cfg, f, head, orientation)
	if pixels > d.perImage {
		return Image{}, false, refusal.New(CodeImageTooLarge, "the image is %dx%d pixels%s: decoding it would take %s of memory, and at most %s is allowed; send it smaller or at 8 bits per channel",
			cfg.Width, cfg.Height, depthNote(cfg), mib(pixels), mib(d.perImage))
	}
	need := pixels + tables + encoderBytes
	if need > d.budget {
		return Image{}, false, refusal.New(CodeImageTooLarge, "the image is %dx%d pixels: its decoder may need %s of memory, more than this service allows; send it smaller, or as PNG",
			cfg.Width, cfg.Height, mib(need))
	}
	more := int64(0)
	if check != nil {
		w, h := cfg.Width, cfg.Height
		if orientation >= 5 && orientation <= 8 {
			w, h = h, w
		}
		more = max(0, extra(w, h))
		if need+more > d.budget {
			check, more = nil, 0
		}
	}
	release, err := d.Reserve(ctx, need+more)
	if err != nil {
		return Image{}, false, err
	}
	defer release()
	canon, err := decodeToPNG(f, codec, orientation, dst)
	if err != nil {
		return Image{}, false, err
	}
	b := canon.Bounds()
	img := Image{Format: codec.format, ContentType: "image/png", Ext: ".png", Width: b.Dx(), Height: b.Dy()}
	if check == nil || !decodesAsIs(canon) {
		return img, false, nil
	}
	if err := check(canon); err != nil {
		os.Remove(dst)
		return Image{}, true, err
	}
	return img, true, nil
}

// decodesAsIs reports whether decoding the PNG that img was written as
// gives back the same pixel values in a type the checks read alike: grey
// stays grey, non-premultiplied stays so, and opaque premultiplied pixels
// equal their non-premultiplied values. (YCbCr pixels, a photo turned
// upright, are converted to RGB by the encoder with its own rounding, and
// a translucent premultiplied image is un-premultiplied: those are checked
// from the file.)
func decodesAsIs(img image.Image) bool {
	switch m := img.(type) {
	case *image.Gray, *image.NRGBA:
		return true
	case *image.RGBA:
		return m.Opaque()
	}
	return false
}

// decodeToPNG decodes f, writes its canonical pixels to dst and returns
// them.
func decodeToPNG(f io.ReaderAt, codec imageCodec, orientation int, dst string) (image.Image, error) {
	img, err := codec.decode(fromStart(f))
	if err != nil {
		return nil, refusal.New(refusal.CodeInvalidImage, "the image is truncated or corrupt").WithDetail(decodeReason(err))
	}
	canon := canonicalPixels(img, orientation)
	if err := writePNG(dst, canon); err != nil {
		return nil, err
	}
	return canon, nil
}

// writePNG encodes img to path through a temporary file, so that path
// holds a whole image or nothing.
func writePNG(path string, img image.Image) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".image-*.png")
	if err != nil {
		return fmt.Errorf("creating canonical image: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	w := bufio.NewWriterSize(tmp, 256<<10)
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	err = enc.Encode(w, img)
	if err == nil {
		err = w.Flush()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("writing canonical image: %w", err)
	}
	return nil
}

func sniffImage(head []byte) (imageCodec, error) {
	for _, c := range imageCodecs {
		if c.match(head) {
			return c, nil
		}
	}
	if len(head) == 0 {
		return imageCodec{}, refusal.New(CodeUnsupportedImageType, "the image file is empty; upload a PNG, JPEG or WebP image")
	}
	if what := describe(head); what != "" {
		return imageCodec{}, refusal.New(CodeUnsupportedImageType,
			"the file looks like %s, which is not supported; upload a PNG, JPEG or WebP image", what)
	}
	return imageCodec{}, refusal.New(CodeUnsupportedImageType, "the file is not a PNG, JPEG or WebP image")
}

// checkDimensions applies lim to a width and height read from a header.
// The product is computed in int64 so that a hostile header cannot overflow it.
func checkDimensions(w, h int, lim Limits) error {
	switch {
	case w > lim.MaxImageDimension || h > lim.MaxImageDimension:
		return refusal.New(CodeImageTooLarge, "the image is %dx%d pixels; each side may be at most %d pixels",
			w, h, lim.MaxImageDimension)
	case int64(w)*int64(h) > int64(lim.MaxImagePixels):
		return refusal.New(CodeImageTooLarge, "the image is %dx%d pixels (%d in all); at most %d pixels are allowed",
			w, h, int64(w)*int64(h), lim.MaxImagePixels)
	case w < lim.MinImageDimension || h < lim.MinImageDimension:
		return refusal.New(CodeImageTooSmall, "the image is %dx%d pixels; each side must be at least %d pixels",
			w, h, lim.MinImageDimension)
	}
	return nil
}

// decodeReason turns a decoder error into a phrase for the log, without
// the Go package prefix ("png: ", "jpeg: ").
func decodeReason(err error) string {
	msg := err.Error()
	for _, p := range []string{"png: ", "jpeg: ", "webp: ", "vp8: ", "vp8l: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return msg
}

func depthNote(cfg image.Config) string {
	switch cfg.ColorModel {
	case color.RGBA64Model, color.NRGBA64Model, color.Gray16Model:
		return " at 16 bits per channel"
	}
	return ""
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", math.Ceil(float64(n)/(1<<20))) }

// fromStart reads f from its first byte, independent of earlier reads.
func fromStart(f io.ReaderAt) io.Reader {
	return bufio.NewReader(io.NewSectionReader(f, 0, math.MaxInt64))
}
