package builtin

import (
	"context"
	"image"
	"math"
	"os/exec"
	"testing"

	"github.com/avatar-api/avatar-api/internal/generator/audio"
)

// mouthChange generates the video for sound and returns, per frame, the
// mean luma change in the mouth box that the mouth causes — the encoded
// frame against the same frame drawn with the same head pose but the mouth
// shut — and the recording's loudness per frame.
func mouthChange(t *testing.T, sound string) (change, level []float64) {
	t.Helper()
	req := request(t, "astronaut.png", sound)
	g := New("")
	if _, err := g.Generate(context.Background(), req, nil); err != nil {
		t.Fatal(err)
	}
	scene, poses, err := g.plan(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	box := scene.Face().MouthBox().Inset(-3).Intersect(image.Rect(0, 0, req.Width, req.Height))
	shut := make([]byte, scene.FrameSize())

	// The luma plane of every frame, as encoded (no range conversion).
	raw, err := exec.Command("ffmpeg", "-v", "error", "-i", req.OutputPath, "-f", "rawvideo", "-pix_fmt", "yuv420p", "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	size := scene.FrameSize()
	for off, i := 0, 0; off+size <= len(raw) && i < len(poses); off, i = off+size, i+1 {
		p := poses[i]
		p.Open, p.Round = 0, 0
		scene.Render(shut, p)
		var sum float64
		for y := box.Min.Y; y < box.Max.Y; y++ {
			for x := box.Min.X; x < box.Max.X; x++ {
				k := y*req.Width + x
				sum += math.Abs(float64(raw[off+k]) - float64(shut[k]))
			}
		}
		change = append(change, sum/float64(box.Dx()*box.Dy()))
	}
	pcm, err := audio.Decode(context.Background(), "", audio.Input{Path: req.AudioPath, Format: req.Demuxer()})
	if err != nil {
		t.Fatal(err)
	}
	for _, fr := range audio.Analyze(pcm, req.FPS, len(change), audio.DefaultStyle()) {
		level = append(level, fr.Level)
	}
	return change, level
}

// TestSilenceKeepsMouthClosed: with silence the mouth box differs from the
// shut mouth by encoding noise only.
func TestSilenceKeepsMouthClosed(t *testing.T) {
	t.Parallel()
	change, _ := mouthChange(t, "silence_3s.wav")
	_, speechMax := minMax(t, "speech_en_4s.wav")
	_, silentMax := minMaxOf(change)
	t.Logf("mouth-box change: silence max %.2f, speech max %.2f (luma levels)", silentMax, speechMax)
	if silentMax > 5 || silentMax > 0.25*speechMax {
		t.Fatalf("silence changes the mouth box by up to %.2f, speech by %.2f: the mouth opens in silence", silentMax, speechMax)
	}
}

// TestMouthFollowsLoudness: the mouth box's change follows the loudness.
func TestMouthFollowsLoudness(t *testing.T) {
	t.Parallel()
	for _, sound := range []string{"speech_en_4s.wav", "speech_en_12s.wav"} {
		change, level := mouthChange(t, sound)
		r := pearson(change, level)
		t.Logf("%s: correlation of mouth-box change with loudness r = %.3f over %d frames", sound, r, len(change))
		if r < 0.6 {
			t.Errorf("%s: r = %.3f, want ≥ 0.6", sound, r)
		}
	}
}

func minMax(t *testing.T, sound string) (float64, float64) {
	change, _ := mouthChange(t, sound)
	return minMaxOf(change)
}

func minMaxOf(v []float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, x := range v {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	return lo, hi
}

func pearson(a, b []float64) float64 {
	n := float64(min(len(a), len(b)))
	var sa, sb, saa, sbb, sab float64
	for i := 0; i < int(n); i++ {
		sa, sb = sa+a[i], sb+b[i]
		saa, sbb, sab = saa+a[i]*a[i], sbb+b[i]*b[i], sab+a[i]*b[i]
	}
	return (n*sab - sa*sb) / math.Sqrt((n*saa-sa*sa)*(n*sbb-sb*sb))
}
