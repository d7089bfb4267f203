package builtin

import (
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/avatar-api/avatar-api/internal/generator"
)

// TestCheckMemory: what Check allocates stays within what the job service
// reserves for it (the decoded portrait, a grey copy, a 2048² working
// copy), whatever the shapes of the portrait and the output. Two reviews
// found 1403 MiB (a 64x4096 portrait for a 1920x128 video, scaled whole to
// cover it) and 152 MiB (a 1919² portrait scaled up with CatmullRom). Not
// parallel, so that the allocation count it reads is its own.
func TestCheckMemory(t *testing.T) {
	for _, c := range []struct{ W, H, w, h int }{
		{64, 4096, 1920, 128}, {4096, 64, 128, 1920}, {1919, 1919, 1920, 1920},
		{1000, 1000, 1920, 1920}, {4096, 4096, 1920, 1920}, {64, 64, 1920, 1920}, {512, 512, 512, 512},
	} {
		path := filepath.Join(t.TempDir(), "p.png")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, image.NewNRGBA(image.Rect(0, 0, c.W, c.H))); err != nil {
			t.Fatal(err)
		}
		f.Close()
		req := generator.Request{ImagePath: path, Width: c.w, Height: c.h, FPS: 25, FaceFallback: true}
		reserved := New("").CheckMemory(c.W, c.H)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if err := New("").Check(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		used := int64(after.TotalAlloc - before.TotalAlloc)
		t.Logf("%dx%d for %dx%d: %d KiB allocated, %d KiB reserved", c.W, c.H, c.w, c.h, used>>10, reserved>>10)
		if used > reserved {
			t.Errorf("%dx%d for %dx%d: allocated %d bytes, reserved %d", c.W, c.H, c.w, c.h, used, reserved)
		}
	}
}
