package builtin

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/generator/animate"
	"github.com/avatar-api/avatar-api/internal/generator/audio"
	"github.com/avatar-api/avatar-api/internal/generator/encode"
)

// BenchmarkGenerator measures, in one run and alternating so that both see
// the same machine, at 512x512 and 25 fps and at 1280x720 and 30 fps:
//
//	a: the whole generator on the 13.7 s recording;
//	b: the floor — the same encoder, same settings, fed the unanimated
//	   portrait frame the same number of times (no analysis, no rendering);
//
// and reports their medians, a/b, and a's real-time factor. Targets at
// 512x512: a under 2 s, a/b under 1.5. Run: make bench-generator (or make
// bench, which reports it in docs/PERFORMANCE.md).
func BenchmarkGenerator(b *testing.B) {
	for _, size := range []struct{ w, h, fps int }{{512, 512, 25}, {1280, 720, 30}} {
		b.Run(fmt.Sprintf("%dx%d@%d", size.w, size.h, size.fps), func(b *testing.B) {
			benchGenerator(b, size.w, size.h, size.fps)
		})
	}
}

func benchGenerator(b *testing.B, w, h, fps int) {
	req := generator.Request{
		ImagePath: fixture("astronaut.png"), AudioPath: fixture("speech_en_12s.wav"), Prompt: "A woman singing",
		Width: w, Height: h, FPS: fps, Seed: 1,
	}
	g := New("")
	dir := b.TempDir()
	var full, floor []time.Duration
	var video time.Duration
	for i := 0; b.Loop(); i++ {
		req.OutputPath = filepath.Join(dir, "floor.mp4")
		start := time.Now()
		n, err := encodeStill(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		floor = append(floor, time.Since(start))

		req.OutputPath = filepath.Join(dir, "full.mp4")
		start = time.Now()
		res, err := g.Generate(context.Background(), req, nil)
		if err != nil {
			b.Fatal(err)
		}
		full = append(full, time.Since(start))
		if res.Frames != n {
			b.Fatalf("%d frames, floor %d", res.Frames, n)
		}
		video = res.Duration
	}
	a, f := median(full), median(floor)
	b.ReportMetric(a.Seconds(), "a_s")
	b.ReportMetric(f.Seconds(), "b_floor_s")
	b.ReportMetric(a.Seconds()/f.Seconds(), "a/b")
	b.ReportMetric(video.Seconds()/a.Seconds(), "x_realtime")
}

// encodeStill encodes the portrait, prepared as the generator prepares it,
// without animation: the encoding floor.
func encodeStill(ctx context.Context, req generator.Request) (int, error) {
	img, f, err := prepare(req)
	if err != nil {
		return 0, err
	}
	pcm, err := audio.Decode(ctx, "", audio.Input{Path: req.AudioPath, Format: req.Demuxer()})
	if err != nil {
		return 0, err
	}
	n := audio.Frames(pcm.Duration(), req.FPS)
	scene := animate.NewScene(img, f)
	frame := make([]byte, scene.FrameSize())
	scene.Render(frame, animate.Pose{})
	enc, err := encode.Start(ctx, encode.Options{Width: scene.W, Height: scene.H, FPS: req.FPS, AudioPath: req.AudioPath, Output: req.OutputPath, Timeout: time.Minute})
	if err != nil {
		return 0, err
	}
	for range n {
		if err := enc.WriteFrame(frame); err != nil {
			return 0, err
		}
	}
	return n, enc.Finish()
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func fixture(name string) string { return filepath.Join("..", "..", "..", "testdata", name) }
