package animate

import (
	"image"
	_ "image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/avatar-api/avatar-api/internal/generator/face"
)

func testScene(tb testing.TB) *Scene {
	tb.Helper()
	f, err := os.Open(filepath.Join("..", "..", "..", "testdata", "astronaut.png"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		tb.Fatal(err)
	}
	fc, err := face.Detect(img)
	if err != nil {
		tb.Fatal(err)
	}
	return NewScene(img, fc)
}

// BenchmarkRender is one 512x512 frame with the head moving, the mouth
// half open and the eyes half closed: the animator's cost per frame.
func BenchmarkRender(b *testing.B) {
	s := testScene(b)
	buf := make([]byte, s.FrameSize())
	p := Pose{Angle: 0.01, ShiftX: 1.5, NodY: 2, Open: 0.5, Blink: 0.5}
	for b.Loop() {
		s.Render(buf, p)
	}
}
