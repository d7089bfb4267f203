package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/generator/builtin"
	"github.com/avatar-api/avatar-api/internal/media"
)

// runGenerate makes one video locally, with no server: the main job from
// the command line.
func runGenerate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	image := fs.String("image", "", "portrait image (PNG, JPEG or WebP)")
	audio := fs.String("audio", "", "speech recording (WAV, MP3, OGG, FLAC, M4A…)")
	prompt := fs.String("prompt", "", `style of the performance, e.g. "A woman singing" or "calm"`)
	out := fs.String("o", "avatar.mp4", "output MP4")
	width := fs.Int("width", 512, "output width, even, 128–1920")
	height := fs.Int("height", 512, "output height, even, 128–1920")
	fps := fs.Int("fps", 25, "frames per second, 10–60")
	seed := fs.Int64("seed", 1, "seed of the random motion (blinks, sway): same seed, same video")
	fallback := fs.Bool("face-fallback", false, "animate an estimated face region if no face is found")
	ffmpegPath := fs.String("ffmpeg", "ffmpeg", "ffmpeg executable")
	ffprobePath := fs.String("ffprobe", "ffprobe", "ffprobe executable")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: avatar-api generate --image PORTRAIT --audio SPEECH [--prompt TEXT] [-o out.mp4]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *image == "" || *audio == "" {
		fs.Usage()
		return errors.New("--image and --audio are required")
	}
	if err := checkOptions(*width, *height, *fps); err != nil {
		return err
	}
	absOut, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	// The same boundary as the API's: only canonical forms reach the
	// generator, so a file from anywhere is as safe here as an upload.
	dir, err := os.MkdirTemp(filepath.Dir(absOut), ".generate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	canonImage, canonAudio := filepath.Join(dir, "image.png"), filepath.Join(dir, "audio.wav")
	lim := media.DefaultLimits()
	if _, err := media.NewImageDecoder(384<<20, 128<<20).CanonicalImage(ctx, *image, canonImage, lim); err != nil {
		return err
	}
	aud, err := media.Prober{FFmpeg: *ffmpegPath, FFprobe: *ffprobePath}.CanonicalAudio(ctx, *audio, canonAudio, lim)
	if err != nil {
		return err
	}
	req := generator.Request{
		ImagePath: canonImage, AudioPath: canonAudio, AudioFormat: "wav", AudioDuration: aud.Duration,
		Prompt: *prompt, Width: *width, Height: *height,
		FPS: *fps, Seed: *seed, OutputPath: absOut, FaceFallback: *fallback,
	}
	bar := newProgressBar(stderr)
	start := time.Now()
	res, err := builtin.New(*ffmpegPath).Generate(ctx, req, bar.update)
	bar.done()
	if err != nil {
		return err
	}
	took := time.Since(start)
	fmt.Fprintf(stdout, "%s: %.2f s of video, %dx%d at %d fps, %s, made in %.2f s (%.1f× real time)%s\n",
		*out, res.Duration.Seconds(), res.Width, res.Height, res.FPS, humanBytes(res.Size),
		took.Seconds(), res.Duration.Seconds()/took.Seconds(), peakMemory())
	return nil
}

// peakMemory reports this process's peak resident memory (Linux), so that
// memory use can be compared across clip lengths; ffmpeg's is its own.
func peakMemory() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return ", peak memory " + strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}

func checkOptions(w, h, fps int) error {
	if w < 128 || w > 1920 || w%2 != 0 || h < 128 || h > 1920 || h%2 != 0 {
		return errors.New("--width and --height must be even numbers from 128 to 1920")
	}
	if fps < 10 || fps > 60 {
		return errors.New("--fps must be from 10 to 60")
	}
	return nil
}

// progressBar draws a bar on a terminal, and a line per tenth otherwise.
type progressBar struct {
	w       io.Writer
	tty     bool
	lastPct int
	drawn   bool
}

func newProgressBar(w io.Writer) *progressBar {
	return &progressBar{w: w, tty: isTerminal(w), lastPct: -1}
}

func (p *progressBar) update(done, total int) {
	pct := done * 100 / max(total, 1)
	if pct == p.lastPct {
		return
	}
	p.lastPct = pct
	if p.tty {
		const width = 30
		fill := pct * width / 100
		fmt.Fprintf(p.w, "\r[%s%s] %3d%%  %d/%d frames", strings.Repeat("#", fill), strings.Repeat(".", width-fill), pct, done, total)
		p.drawn = true
		return
	}
	if pct%10 == 0 {
		fmt.Fprintf(p.w, "progress: %d%% (%d/%d frames)\n", pct, done, total)
	}
}

func (p *progressBar) done() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
