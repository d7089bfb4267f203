package builtin

import (
	"context"
	"fmt"
	"io"
	"os"
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
//	c: the same encoder fed the generator's own frames, rendered before
//	   the clock starts: what encoding a moving picture costs;
//
// and reports their medians, a/b, c/b, and a's real-time factor. a−c is
// what planning and rendering add to the wall time, c−b what x264 spends
// on the motion. Targets at 512x512: a under 2 s, a/b under 1.5. Run: make
// bench-generator (or make bench, which reports it in docs/PERFORMANCE.md).
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
	frames, frameSize := renderAll(b, g, req)
	var full, floor, encoded []time.Duration
	var video time.Duration
	for i := 0; b.Loop(); i++ {
		req.OutputPath = filepath.Join(dir, "floor.mp4")
		start := time.Now()
		n, err := encodeStill(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		floor = append(floor, time.Since(start))

		req.OutputPath = filepath.Join(dir, "encoded.mp4")
		start = time.Now()
		if err := encodeFrames(context.Background(), req, frames, frameSize); err != nil {
			b.Fatal(err)
		}
		encoded = append(encoded, time.Since(start))

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
	a, f, c := median(full), median(floor), median(encoded)
	b.ReportMetric(a.Seconds(), "a_s")
	b.ReportMetric(f.Seconds(), "b_floor_s")
	b.ReportMetric(c.Seconds(), "c_encode_s")
	b.ReportMetric(a.Seconds()/f.Seconds(), "a/b")
	b.ReportMetric(c.Seconds()/f.Seconds(), "c/b")
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

// renderAll renders every frame the generator would into one raw file,
// so that the frames are not held in memory while the generator is timed.
func renderAll(b *testing.B, g *Generator, req generator.Request) (path string, frameSize int) {
	scene, poses, err := g.plan(context.Background(), req)
	if err != nil {
		b.Fatal(err)
	}
	path = filepath.Join(b.TempDir(), "frames.yuv")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	frame := make([]byte, scene.FrameSize())
	for _, p := range poses {
		scene.Render(frame, p)
		if _, err := f.Write(frame); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path, len(frame)
}

// encodeFrames encodes the frames of a raw file, one at a time, with the
// generator's encoder settings.
func encodeFrames(ctx context.Context, req generator.Request, path string, frameSize int) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	enc, err := encode.Start(ctx, encode.Options{Width: req.Width, Height: req.Height, FPS: req.FPS, AudioPath: req.AudioPath, Output: req.OutputPath, Timeout: time.Minute})
	if err != nil {
		return err
	}
	frame := make([]byte, frameSize)
	for {
		if _, err := io.ReadFull(f, frame); err == io.EOF {
			break
		} else if err != nil {
			enc.Abort()
			return err
		}
		if err := enc.WriteFrame(frame); err != nil {
			enc.Abort()
			return err
		}
	}
	return enc.Finish()
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func fixture(name string) string { return filepath.Join("..", "..", "..", "testdata", name) }
