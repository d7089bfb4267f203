package job_test

import (
	"context"
	"image"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/generator/face"
	"github.com/avatar-api/avatar-api/internal/media"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

// BenchmarkSubmitChecks is what a POST /generate of the fixtures costs in
// the API process, step by step (make bench reports it in
// docs/PERFORMANCE.md):
//
//	image: the astronaut made canonical (decoded, encoded as PNG);
//	image+face: the same with the face check on the pixels in memory,
//	  as a submission now does;
//	face-decode: decoding the canonical PNG again, what the face check
//	  did before (the repeat removed);
//	face-find: looking for the face;
//	audio-wav: the 4.7 s recording made canonical in Go (a plain WAV);
//	audio-ffmpeg: the same recording in 24-bit samples, which ffprobe
//	  and then ffmpeg make canonical, as every upload was before (and
//	  every other format still is).
func BenchmarkSubmitChecks(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	img, aud := filepath.Join(dir, "image.png"), filepath.Join(dir, "audio.wav")
	dec := media.NewImageDecoder(1<<30, 1<<30)
	req := generator.Request{ImagePath: img, Width: 512, Height: 512, FPS: 25}
	portrait := testkit.Fixture("astronaut.png")
	b.Run("image", func(b *testing.B) {
		for b.Loop() {
			if _, err := dec.CanonicalImage(ctx, portrait, img, media.Limits{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	checker := face.NewChecker()
	b.Run("image+face", func(b *testing.B) {
		for b.Loop() {
			_, checked, err := dec.CanonicalImageThen(ctx, portrait, img, media.Limits{}, checker.CheckMemory,
				func(pix image.Image) error { return checker.CheckPixels(ctx, pix, req) })
			if err != nil || !checked {
				b.Fatal(checked, err)
			}
		}
	})
	b.Run("face-decode", func(b *testing.B) {
		for b.Loop() {
			if _, err := face.Load(img); err != nil {
				b.Fatal(err)
			}
		}
	})
	pix, err := face.Load(img)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("face-find", func(b *testing.B) {
		for b.Loop() {
			if _, err := face.Find(pix, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	p := media.Prober{}
	speech := testkit.Fixture("speech_en_4s.wav")
	b.Run("audio-wav", func(b *testing.B) {
		for b.Loop() {
			if _, err := p.CanonicalAudio(ctx, speech, aud, media.Limits{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	s24 := filepath.Join(dir, "speech-s24.wav")
	if out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", speech, "-c:a", "pcm_s24le", "-y", s24).CombinedOutput(); err != nil {
		b.Fatalf("%v: %s", err, out)
	}
	b.Run("audio-ffmpeg", func(b *testing.B) {
		for b.Loop() {
			if _, err := p.CanonicalAudio(ctx, s24, aud, media.Limits{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
