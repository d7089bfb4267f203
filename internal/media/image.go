package media

import (
	"bufio"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"strings"

	"golang.org/x/image/webp"
)

// Image describes an accepted portrait.
type Image struct {
	Format      string // "png", "jpeg" or "webp"
	ContentType string // e.g. "image/png"
	Ext         string // e.g. ".png"
	Width       int
	Height      int
}

// imageCodec is one accepted image format: how to recognise it and decode it.
type imageCodec struct {
	format, contentType, ext string
	match                    func([]byte) bool
	decodeConfig             func(io.Reader) (image.Config, error)
	decode                   func(io.Reader) (image.Image, error)
}

var imageCodecs = []imageCodec{
	{"png", "image/png", ".png", isPNG, png.DecodeConfig, png.Decode},
	{"jpeg", "image/jpeg", ".jpg", isJPEG, jpeg.DecodeConfig, jpeg.Decode},
	{"webp", "image/webp", ".webp", func(b []byte) bool { return isRIFF(b, "WEBP") }, webp.DecodeConfig, webp.Decode},
}

// InspectImage checks that the file at path is a PNG, JPEG or WebP image
// within lim and that it decodes completely. The dimensions are read from the
// header and checked before any pixel is decoded, so a small file claiming
// an enormous image (a decompression bomb) costs nothing. Bad input yields a
// *Error; I/O failures are returned as ordinary errors.
func InspectImage(path string, lim Limits) (Image, error) {
	lim = lim.withDefaults()
	f, head, err := openHead(path)
	if err != nil {
		return Image{}, err
	}
	defer f.Close()

	codec, err := sniffImage(head)
	if err != nil {
		return Image{}, err
	}
	cfg, err := codec.decodeConfig(fromStart(f))
	if err != nil {
		return Image{}, refuse(CodeInvalidImage, "the image header could not be read: %s", decodeReason(err))
	}
	if err := checkDimensions(cfg.Width, cfg.Height, lim); err != nil {
		return Image{}, err
	}
	if _, err := codec.decode(fromStart(f)); err != nil {
		return Image{}, refuse(CodeInvalidImage, "the image is truncated or corrupt: %s", decodeReason(err))
	}
	return Image{
		Format:      codec.format,
		ContentType: codec.contentType,
		Ext:         codec.ext,
		Width:       cfg.Width,
		Height:      cfg.Height,
	}, nil
}

func sniffImage(head []byte) (imageCodec, error) {
	for _, c := range imageCodecs {
		if c.match(head) {
			return c, nil
		}
	}
	if len(head) == 0 {
		return imageCodec{}, refuse(CodeUnsupportedImageType, "the image file is empty; upload a PNG, JPEG or WebP image")
	}
	if what := describe(head); what != "" {
		return imageCodec{}, refuse(CodeUnsupportedImageType,
			"the file looks like %s, which is not supported; upload a PNG, JPEG or WebP image", what)
	}
	return imageCodec{}, refuse(CodeUnsupportedImageType, "the file is not a PNG, JPEG or WebP image")
}

// checkDimensions applies lim to a width and height read from a header.
// The product is computed in int64 so that a hostile header cannot overflow it.
func checkDimensions(w, h int, lim Limits) error {
	switch {
	case w > lim.MaxImageDimension || h > lim.MaxImageDimension:
		return refuse(CodeImageTooLarge, "the image is %dx%d pixels; each side may be at most %d pixels",
			w, h, lim.MaxImageDimension)
	case int64(w)*int64(h) > int64(lim.MaxImagePixels):
		return refuse(CodeImageTooLarge, "the image is %dx%d pixels (%d in all); at most %d pixels are allowed",
			w, h, int64(w)*int64(h), lim.MaxImagePixels)
	case w < lim.MinImageDimension || h < lim.MinImageDimension:
		return refuse(CodeImageTooSmall, "the image is %dx%d pixels; each side must be at least %d pixels",
			w, h, lim.MinImageDimension)
	}
	return nil
}

// decodeReason turns a decoder error into a phrase for the customer, without
// the Go package prefix ("png: ", "jpeg: ") that means nothing to them.
func decodeReason(err error) string {
	msg := err.Error()
	for _, p := range []string{"png: ", "jpeg: ", "webp: ", "vp8: ", "vp8l: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return msg
}

// fromStart reads f from its first byte, independent of earlier reads.
func fromStart(f io.ReaderAt) io.Reader {
	return bufio.NewReader(io.NewSectionReader(f, 0, math.MaxInt64))
}
