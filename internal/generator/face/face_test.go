package face

import (
	"errors"
	"image"
	"image/draw"
	_ "image/png"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	xdraw "golang.org/x/image/draw"
)

// loadImage decodes a fixture from the project's testdata/.
func loadImage(t testing.TB, name string) image.Image {
	t.Helper()
	path := filepath.Join("..", "..", "..", "testdata", name)
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open fixture: %v", err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	return img
}

// checkGeometry asserts what every Face promises, detected or estimated.
func checkGeometry(t *testing.T, f Face) {
	t.Helper()
	half := f.Size / 2
	for name, p := range map[string]Point{
		"LeftEye": f.LeftEye, "RightEye": f.RightEye,
		"MouthLeft": f.MouthLeft, "MouthRight": f.MouthRight,
		"UpperLip": f.UpperLip, "LowerLip": f.LowerLip,
	} {
		if math.Abs(p.X-f.Center.X) > half || math.Abs(p.Y-f.Center.Y) > half {
			t.Errorf("%s %v is outside the face box (centre %v, size %.1f)", name, p, f.Center, f.Size)
		}
	}
	if f.LeftEye.X >= f.RightEye.X {
		t.Errorf("eyes out of order: left %v, right %v", f.LeftEye, f.RightEye)
	}
	if f.MouthLeft.X >= f.MouthRight.X {
		t.Errorf("mouth corners out of order: left %v, right %v", f.MouthLeft, f.MouthRight)
	}
	if f.UpperLip.Y >= f.LowerLip.Y {
		t.Errorf("upper lip %v is not above lower lip %v", f.UpperLip, f.LowerLip)
	}
	eyesLow := math.Max(f.LeftEye.Y, f.RightEye.Y)
	for name, p := range map[string]Point{
		"MouthLeft": f.MouthLeft, "MouthRight": f.MouthRight, "UpperLip": f.UpperLip, "LowerLip": f.LowerLip,
	} {
		if p.Y <= f.Center.Y {
			t.Errorf("%s %v is not in the lower half of the face box (centre %v)", name, p, f.Center)
		}
		if p.Y <= eyesLow {
			t.Errorf("%s %v is not below the eyes (lowest eye y %.1f)", name, p, eyesLow)
		}
	}
	mb := f.MouthBox()
	for name, p := range map[string]Point{
		"MouthLeft": f.MouthLeft, "MouthRight": f.MouthRight, "UpperLip": f.UpperLip, "LowerLip": f.LowerLip,
	} {
		if !image.Pt(int(p.X), int(p.Y)).In(mb) {
			t.Errorf("MouthBox %v does not contain %s %v", mb, name, p)
		}
	}
	if float64(mb.Max.Y) < f.Center.Y+half {
		t.Errorf("MouthBox %v stops above the face box bottom %.1f (the chin)", mb, f.Center.Y+half)
	}
}

func near(t *testing.T, name string, got, want Point, tol float64) {
	t.Helper()
	if d := math.Hypot(got.X-want.X, got.Y-want.Y); d > tol {
		t.Errorf("%s = (%.1f, %.1f), want within %.1f px of (%.1f, %.1f); off by %.1f", name, got.X, got.Y, tol, want.X, want.Y, d)
	}
}

// astronautLandmarks are the positions checked by eye on a FACE_DEBUG_DIR
// image: pupils on the pupils, corners at the ends of the smile, lip points
// on the middle of each lip.
var astronautLandmarks = Face{
	LeftEye:    Point{204, 101},
	RightEye:   Point{247, 103},
	MouthLeft:  Point{203, 139},
	MouthRight: Point{244, 140},
	UpperLip:   Point{224, 139},
	LowerLip:   Point{223, 154},
}

// checkAstronaut compares f, found in the astronaut portrait scaled by k,
// with the landmarks checked by eye at 512x512.
func checkAstronaut(t *testing.T, f Face, k float64) {
	t.Helper()
	const tol = 6 // px at 512x512, about 5% of the face box
	sc := func(p Point) Point { return Point{p.X * k, p.Y * k} }
	want := astronautLandmarks
	near(t, "LeftEye", f.LeftEye, sc(want.LeftEye), tol*k)
	near(t, "RightEye", f.RightEye, sc(want.RightEye), tol*k)
	near(t, "MouthLeft", f.MouthLeft, sc(want.MouthLeft), tol*k)
	near(t, "MouthRight", f.MouthRight, sc(want.MouthRight), tol*k)
	near(t, "UpperLip", f.UpperLip, sc(want.UpperLip), tol*k)
	near(t, "LowerLip", f.LowerLip, sc(want.LowerLip), tol*k)
}

func TestDetectAstronaut(t *testing.T) {
	t.Parallel()
	img := loadImage(t, "astronaut.png")

	f, err := Detect(img)
	if err != nil {
		t.Fatalf("Detect: %v", err)
	}
	t.Logf("centre (%.1f, %.1f), size %.1f, Q %.2f, estimated %v", f.Center.X, f.Center.Y, f.Size, f.Score, f.Estimated)
	t.Logf("eyes %v %v, mouth corners %v %v, lips %v %v, mouth box %v",
		f.LeftEye, f.RightEye, f.MouthLeft, f.MouthRight, f.UpperLip, f.LowerLip, f.MouthBox())
	writeDebugPNG(t, img, f, "astronaut")

	// The face spans roughly x 170-280, y 55-180 (hairline to chin).
	if f.Center.X < 190 || f.Center.X > 250 || f.Center.Y < 85 || f.Center.Y > 135 {
		t.Errorf("centre %v is not on the face", f.Center)
	}
	if f.Size < 80 || f.Size > 160 {
		t.Errorf("size %.1f is implausible for this face", f.Size)
	}
	if f.Score < minQ {
		t.Errorf("Score %.2f below threshold %v", f.Score, minQ)
	}
	if f.Estimated {
		t.Error("landmarks were estimated; the cascades should find them on this portrait")
	}
	checkGeometry(t, f)
	checkAstronaut(t, f, 1)
}

// TestDetectAstronautVariants feeds the portrait at other sizes, as a
// sub-image with a non-zero origin, and as YCbCr and gray, the forms
// decoders and callers produce.
func TestDetectAstronautVariants(t *testing.T) {
	t.Parallel()
	src := loadImage(t, "astronaut.png")

	scaled := func(side int) image.Image {
		dst := image.NewRGBA(image.Rect(0, 0, side, side))
		xdraw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
		return dst
	}
	// Pad the portrait so the sub-image's bounds start at (40, 30).
	padded := image.NewNRGBA(image.Rect(0, 0, 600, 600))
	draw.Draw(padded, src.Bounds().Add(image.Pt(40, 30)), src, image.Point{}, draw.Src)
	gray := image.NewGray(src.Bounds())
	draw.Draw(gray, gray.Bounds(), src, image.Point{}, draw.Src)
	ycc := image.NewYCbCr(src.Bounds(), image.YCbCrSubsampleRatio420)
	for y := range 512 {
		for x := range 512 {
			c := gray.GrayAt(x, y)
			ycc.Y[ycc.YOffset(x, y)] = c.Y
		}
	}

	for _, tc := range []struct {
		name  string
		img   image.Image
		scale float64
		shift Point
	}{
		{"256", scaled(256), 0.5, Point{}},
		{"1024", scaled(1024), 2, Point{}},
		{"2048", scaled(2048), 4, Point{}},
		{"subimage", padded.SubImage(image.Rect(40, 30, 552, 542)), 1, Point{40, 30}},
		{"gray", gray, 1, Point{}},
		{"ycbcr", ycc, 1, Point{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, err := Detect(tc.img)
			if err != nil {
				t.Fatalf("Detect: %v", err)
			}
			t.Logf("centre %v, size %.1f, Q %.2f, estimated %v", f.Center, f.Size, f.Score, f.Estimated)
			checkGeometry(t, f)
			unshift := func(p Point) Point { return Point{p.X - tc.shift.X, p.Y - tc.shift.Y} }
			f.LeftEye, f.RightEye = unshift(f.LeftEye), unshift(f.RightEye)
			f.MouthLeft, f.MouthRight = unshift(f.MouthLeft), unshift(f.MouthRight)
			f.UpperLip, f.LowerLip = unshift(f.UpperLip), unshift(f.LowerLip)
			checkAstronaut(t, f, tc.scale)
		})
	}
}

func TestDetectRefusesNonFaces(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"chelsea.png", "coffee.png"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f, err := Detect(loadImage(t, name))
			if !errors.Is(err, ErrNoFace) {
				t.Fatalf("Detect = %+v, %v; want ErrNoFace", f, err)
			}
		})
	}
}

// TestDetectCamera records what happens on the cameraman: his face is small,
// partly turned and shaded, and the frontal detector does not find it. Either
// outcome is acceptable; a face, if found, must still be well formed.
func TestDetectCamera(t *testing.T) {
	t.Parallel()
	img := loadImage(t, "camera.png")
	f, err := Detect(img)
	switch {
	case errors.Is(err, ErrNoFace):
		t.Log("camera.png: no face detected")
	case err != nil:
		t.Fatalf("Detect: %v", err)
	default:
		t.Logf("camera.png: face at %v, size %.1f, Q %.2f, estimated %v", f.Center, f.Size, f.Score, f.Estimated)
		writeDebugPNG(t, img, f, "camera")
		checkGeometry(t, f)
	}
}

func TestDetectTinyOrBlankImage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		img  image.Image
	}{
		{"empty", image.NewRGBA(image.Rectangle{})},
		{"10x10", image.NewRGBA(image.Rect(0, 0, 10, 10))},
		{"blank 512", image.NewGray(image.Rect(0, 0, 512, 512))},
		{"thin strip", image.NewGray(image.Rect(0, 0, 2000, 20))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := Detect(tc.img); !errors.Is(err, ErrNoFace) {
				t.Fatalf("Detect error = %v, want ErrNoFace", err)
			}
		})
	}
}

// TestDetectDeterministic runs Detect repeatedly, also concurrently (so the
// race detector sees the shared cascades), and expects identical results.
func TestDetectDeterministic(t *testing.T) {
	t.Parallel()
	img := loadImage(t, "astronaut.png")
	first, err := Detect(img)
	if err != nil {
		t.Fatalf("Detect: %v", err)
	}
	var wg sync.WaitGroup
	results := make([]Face, 4)
	for i := range results {
		wg.Go(func() {
			f, err := Detect(img)
			if err != nil {
				t.Errorf("Detect: %v", err)
			}
			results[i] = f
		})
	}
	wg.Wait()
	for i, f := range results {
		if f != first {
			t.Errorf("run %d = %+v, first run %+v", i, f, first)
		}
	}
}

// TestImplausibleLandmarksAreReplaced runs the landmark stage on a face box
// over a featureless image, where the cascades have nothing to find, and
// checks the geometry checks themselves on hand-made broken faces.
func TestImplausibleLandmarksAreReplaced(t *testing.T) {
	t.Parallel()
	m, err := loadModels()
	if err != nil {
		t.Fatalf("load models: %v", err)
	}
	noise := &grayImage{w: 256, h: 256, pix: make([]uint8, 256*256)}
	for i := range noise.pix {
		noise.pix[i] = uint8(i * 7919 % 251)
	}
	f := locateLandmarks(m, noise, faceBox{row: 128, col: 128, size: 120, q: 20})
	t.Logf("on noise: %+v", f)
	checkGeometry(t, f)

	good := Fallback(512, 512)
	for _, tc := range []struct {
		name        string
		edit        func(*Face)
		eyes, mouth bool // expected plausibility after edit
	}{
		{"fallback", func(*Face) {}, true, true},
		{"eyes swapped", func(f *Face) { f.LeftEye, f.RightEye = f.RightEye, f.LeftEye }, false, true},
		// The mouth is judged against the eyes, which Detect settles first.
		{"eye below mouth", func(f *Face) { f.LeftEye.Y = f.LowerLip.Y + 5 }, false, false},
		{"corners swapped", func(f *Face) { f.MouthLeft, f.MouthRight = f.MouthRight, f.MouthLeft }, true, false},
		{"corner outside box", func(f *Face) { f.MouthRight.X = f.Center.X + f.Size }, true, false},
		{"lips inverted", func(f *Face) { f.UpperLip, f.LowerLip = f.LowerLip, f.UpperLip }, true, false},
		{"mouth in upper half", func(f *Face) {
			for _, p := range []*Point{&f.MouthLeft, &f.MouthRight, &f.UpperLip, &f.LowerLip} {
				p.Y -= 0.3 * f.Size
			}
		}, true, false},
		{"NaN", func(f *Face) { f.UpperLip.Y = math.NaN() }, true, false},
	} {
		f := good
		tc.edit(&f)
		if got := f.eyesPlausible(); got != tc.eyes {
			t.Errorf("%s: eyesPlausible = %v, want %v", tc.name, got, tc.eyes)
		}
		if got := f.mouthPlausible(); got != tc.mouth {
			t.Errorf("%s: mouthPlausible = %v, want %v", tc.name, got, tc.mouth)
		}
	}
}

func TestFallback(t *testing.T) {
	t.Parallel()
	for _, size := range []image.Point{{512, 512}, {1920, 1080}, {480, 640}, {64, 48}, {3, 700}, {1, 1}, {0, 0}} {
		f := Fallback(size.X, size.Y)
		if !f.Estimated {
			t.Errorf("%v: Estimated = false", size)
		}
		if !f.eyesPlausible() || !f.mouthPlausible() {
			t.Errorf("%v: fallback fails its own plausibility checks: %+v", size, f)
		}
		if math.Abs(f.Center.X-float64(max(size.X, 1))/2) > 1e-9 || f.Center.Y >= float64(max(size.Y, 1))/2 {
			t.Errorf("%v: centre %v is not centred horizontally in the upper half", size, f.Center)
		}
		bounds := image.Rect(0, 0, max(size.X, 1), max(size.Y, 1))
		if mb := f.MouthBox(); !mb.In(bounds) && size.X >= 64 {
			t.Errorf("%v: MouthBox %v leaves the image", size, mb)
		}
		for _, p := range []Point{f.LeftEye, f.RightEye, f.MouthLeft, f.MouthRight, f.UpperLip, f.LowerLip} {
			if p.X < 0 || p.Y < 0 || p.X > float64(bounds.Dx()) || p.Y > float64(bounds.Dy()) {
				t.Errorf("%v: point %v outside the image", size, p)
			}
		}
		t.Run(size.String(), func(t *testing.T) { checkGeometry(t, f) })
	}
}

func BenchmarkDetect(b *testing.B) {
	img := loadImage(b, "astronaut.png")
	if _, err := Detect(img); err != nil { // parse the cascades outside the timing
		b.Fatalf("Detect: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Detect(img); err != nil {
			b.Fatalf("Detect: %v", err)
		}
	}
}
