package animate

import (
	"fmt"
	"image"
	_ "image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/avatar-api/avatar-api/internal/generator/face"
	xdraw "golang.org/x/image/draw"
)

func testScene(tb testing.TB) *Scene { return testSceneAt(tb, 0, 0) }

// testSceneAt is the astronaut scaled to cover w×h and cropped to it (0, 0:
// as it is, 512×512), with its face found in the result.
func testSceneAt(tb testing.TB, w, h int) *Scene {
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
	if w > 0 {
		b := img.Bounds()
		scale := max(float64(w)/float64(b.Dx()), float64(h)/float64(b.Dy()))
		dst := image.NewRGBA(image.Rect(0, 0, w, h))
		sw, sh := int(float64(w)/scale), int(float64(h)/scale)
		xdraw.CatmullRom.Scale(dst, dst.Bounds(), img, image.Rect(0, 0, sw, sh).Add(b.Min), xdraw.Src, nil)
		img = dst
	}
	fc, err := face.Detect(img)
	if err != nil {
		tb.Fatal(err)
	}
	return NewScene(img, fc)
}

// BenchmarkRender is one frame at a time on one core, at the generator's
// two sizes, cycling through the poses of 20 s of lively speech (the head
// swaying, the jaw opening and closing, the lids blinking): the animator's
// cost per frame, for the fixed-point renderer and for the float one it
// replaced (reference_test.go), measured in the same run.
func BenchmarkRender(b *testing.B) {
	for _, size := range []struct{ w, h int }{{0, 0}, {1280, 720}} {
		s := testSceneAt(b, size.w, size.h)
		open := make([]float64, 25*20)
		for i := range open {
			open[i] = 0.5 + 0.5*math.Sin(float64(i)/3)
		}
		poses := s.Plan(25, open, nil, StyleFor("A woman singing"), 1)
		buf := make([]byte, s.FrameSize())
		for _, r := range []struct {
			name   string
			render func([]byte, Pose)
		}{{"fixed", s.Render}, {"float", s.renderFloat}} {
			b.Run(fmt.Sprintf("%dx%d/%s", s.W, s.H, r.name), func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					r.render(buf, poses[i%len(poses)])
				}
			})
		}
	}
}

// TestRestPoseIsThePortrait: with nothing moving, the frame is the portrait.
func TestRestPoseIsThePortrait(t *testing.T) {
	t.Parallel()
	s := testScene(t)
	buf := make([]byte, s.FrameSize())
	s.Render(buf, Pose{})
	if string(buf[:s.W*s.H]) != string(s.y) || string(buf[s.W*s.H:s.W*s.H+len(s.cb)]) != string(s.cb) {
		t.Fatal("the rest pose changes the picture")
	}
}

// TestMouthAndLids: an open jaw darkens the mouth and nothing far from the
// face; a blink changes the eyes and not the mouth.
func TestMouthAndLids(t *testing.T) {
	t.Parallel()
	s := testScene(t)
	rest, open, blink := make([]byte, s.FrameSize()), make([]byte, s.FrameSize()), make([]byte, s.FrameSize())
	s.Render(rest, Pose{})
	s.Render(open, Pose{Open: 1})
	s.Render(blink, Pose{Blink: 1})
	mouth, eyes := s.g.jawBox, s.g.eyeBox
	if d := darker(rest, open, s.W, mouth); d < 30 {
		t.Errorf("an open mouth darkens %d pixels of the mouth box, want many", d)
	}
	if d := changed(rest, open, s.W, s.H, mouth); d != 0 {
		t.Errorf("an open mouth changes %d pixels outside the jaw box", d)
	}
	if d := changed(rest, blink, s.W, s.H, eyes); d != 0 {
		t.Errorf("a blink changes %d pixels outside the eye box", d)
	}
	if d := changed(rest, blink, s.W, s.H, image.Rectangle{}); d < 50 {
		t.Errorf("a blink changes only %d pixels", d)
	}
}

func darker(a, b []byte, w int, r image.Rectangle) (n int) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if int(b[y*w+x]) < int(a[y*w+x])-40 {
				n++
			}
		}
	}
	return n
}

// changed counts luma pixels that differ outside r.
func changed(a, b []byte, w, h int, r image.Rectangle) (n int) {
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if !image.Pt(x, y).In(r) && a[y*w+x] != b[y*w+x] {
				n++
			}
		}
	}
	return n
}

func TestPlan(t *testing.T) {
	t.Parallel()
	s := testScene(t)
	const fps, seconds = 25, 60
	open := make([]float64, fps*seconds)
	a := s.Plan(fps, open, nil, StyleFor(""), 42)
	b := s.Plan(fps, open, nil, StyleFor(""), 42)
	c := s.Plan(fps, open, nil, StyleFor(""), 43)
	blinks := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatal("the same seed gives different motion")
		}
		if a[i].Open != 0 {
			t.Fatal("silence opens the mouth")
		}
		if a[i].Blink == 1 && (i == 0 || a[i-1].Blink < 1) {
			blinks++
		}
		if math.Abs(a[i].Angle) > 0.03 || math.Abs(a[i].ShiftX) > 0.05*s.face.Size || math.Abs(a[i].NodY) > 0.05*s.face.Size {
			t.Fatalf("frame %d moves too much: %+v", i, a[i])
		}
	}
	if blinks < 9 || blinks > 28 {
		t.Errorf("%d blinks in a minute, want a natural 10–25 or so", blinks)
	}
	if a[100] == c[100] {
		t.Error("another seed gives the same motion")
	}
}

func TestStyleFor(t *testing.T) {
	t.Parallel()
	for prompt, want := range map[string]string{
		"A woman singing": "singing", "calm newsreader": "calm", "An EXCITED kid": "lively", "": "neutral", "hello": "neutral",
	} {
		if got := StyleFor(prompt).Name; got != want {
			t.Errorf("StyleFor(%q) = %s, want %s", prompt, got, want)
		}
	}
}
