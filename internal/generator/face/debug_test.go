package face

import (
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// writeDebugPNG draws f over img into $FACE_DEBUG_DIR/name so a person can
// check the landmarks by eye. It does nothing when the variable is unset.
func writeDebugPNG(t *testing.T, img image.Image, f Face, name string) {
	t.Helper()
	dir := os.Getenv("FACE_DEBUG_DIR")
	if dir == "" {
		return
	}
	out := image.NewRGBA(img.Bounds())
	draw.Draw(out, out.Bounds(), img, img.Bounds().Min, draw.Src)

	half := f.Size / 2
	box := image.Rect(int(f.Center.X-half), int(f.Center.Y-half), int(f.Center.X+half), int(f.Center.Y+half))
	outline(out, box, color.RGBA{255, 255, 0, 255})
	outline(out, f.MouthBox(), color.RGBA{0, 255, 255, 255})
	for _, m := range []struct {
		p Point
		c color.RGBA
	}{
		{f.LeftEye, color.RGBA{255, 0, 0, 255}},
		{f.RightEye, color.RGBA{255, 0, 255, 255}},
		{f.MouthLeft, color.RGBA{0, 255, 0, 255}},
		{f.MouthRight, color.RGBA{0, 128, 0, 255}},
		{f.UpperLip, color.RGBA{0, 0, 255, 255}},
		{f.LowerLip, color.RGBA{255, 128, 0, 255}},
	} {
		cross(out, m.p, m.c)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("create debug dir: %v", err)
	}
	savePNG(t, filepath.Join(dir, name+".png"), out)
	// A close-up of the face, enlarged, is what shows whether a point sits
	// on the lip or a few pixels off it.
	around := box.Inset(-int(f.Size / 4)).Intersect(out.Bounds())
	savePNG(t, filepath.Join(dir, name+"-zoom.png"), zoom(out, around, 4))
}

func savePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	file, err := os.Create(path)
	if err != nil {
		t.Fatalf("create debug image: %v", err)
	}
	defer file.Close()
	if err := png.Encode(file, img); err != nil {
		t.Fatalf("encode debug image: %v", err)
	}
	t.Logf("debug image: %s", path)
}

// zoom enlarges the part r of img k times with nearest-neighbour sampling.
func zoom(img *image.RGBA, r image.Rectangle, k int) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, r.Dx()*k, r.Dy()*k))
	for y := range out.Bounds().Dy() {
		for x := range out.Bounds().Dx() {
			out.Set(x, y, img.At(r.Min.X+x/k, r.Min.Y+y/k))
		}
	}
	return out
}

func outline(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	for x := r.Min.X; x < r.Max.X; x++ {
		img.Set(x, r.Min.Y, c)
		img.Set(x, r.Max.Y-1, c)
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		img.Set(r.Min.X, y, c)
		img.Set(r.Max.X-1, y, c)
	}
}

// cross marks p with a small plus sign, leaving the pixel itself visible.
func cross(img *image.RGBA, p Point, c color.RGBA) {
	x, y := int(p.X+0.5), int(p.Y+0.5)
	for d := 2; d <= 5; d++ {
		img.Set(x-d, y, c)
		img.Set(x+d, y, c)
		img.Set(x, y-d, c)
		img.Set(x, y+d, c)
	}
}
