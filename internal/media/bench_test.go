package media

import (
	"bytes"
	"context"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"

	"github.com/avatar-api/avatar-api/internal/media/mediatest"
)

// BenchmarkCanonicalImage measures the boundary's image work: decode,
// convert to 8 bits, encode the PNG.
func BenchmarkCanonicalImage(b *testing.B) {
	var photo bytes.Buffer
	if err := jpeg.Encode(&photo, mediatest.Portrait(3000), nil); err != nil {
		b.Fatal(err)
	}
	inputs := []struct {
		name string
		data []byte
	}{
		{"png8-3000", mediatest.PNG(mediatest.Portrait(3000))},
		{"jpeg-3000", photo.Bytes()},
		{"png16-4096", mediatest.Bomb16(4096)},
	}
	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			src := filepath.Join(b.TempDir(), "upload")
			if err := os.WriteFile(src, in.data, 0o600); err != nil {
				b.Fatal(err)
			}
			d := NewImageDecoder(1<<30, 1<<30)
			dst := filepath.Join(b.TempDir(), "image.png")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.CanonicalImage(context.Background(), src, dst, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
