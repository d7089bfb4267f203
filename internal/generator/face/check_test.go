package face

import (
	"context"
	"errors"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/refusal"
)

// TestCheck: the check made before a job is queued refuses a portrait with
// no face, unless face_fallback asks for an estimated one, and lets a
// portrait through. It is its own component: no generator is involved.
func TestCheck(t *testing.T) {
	t.Parallel()
	fixture := func(name string) string { return filepath.Join("..", "..", "..", "testdata", name) }
	c := NewChecker()
	req := generator.Request{ImagePath: fixture("coffee.png"), Width: 512, Height: 512, FPS: 25}
	var re *refusal.Error
	if err := c.Check(context.Background(), req); !errors.As(err, &re) || re.Code != CodeNoFace {
		t.Fatalf("Check(coffee) = %v, want %s", err, CodeNoFace)
	}
	req.FaceFallback = true
	if err := c.Check(context.Background(), req); err != nil {
		t.Fatalf("Check(coffee) with fallback = %v", err)
	}
	req = generator.Request{ImagePath: fixture("astronaut.png"), Width: 512, Height: 512, FPS: 25}
	if err := c.Check(context.Background(), req); err != nil {
		t.Fatalf("Check(astronaut) = %v: the portrait is refused", err)
	}
	req.ImagePath = fixture("truncated.jpg")
	if err := c.Check(context.Background(), req); !errors.As(err, &re) || re.Code != refusal.CodeInvalidImage || re.Detail == "" {
		t.Fatalf("Check(truncated) = %v, want %s with the decoder's words in the detail", err, refusal.CodeInvalidImage)
	}
}

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
		reserved := NewChecker().CheckMemory(c.W, c.H)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if err := NewChecker().Check(context.Background(), req); err != nil {
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
