package still

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/avatar-api/avatar-api/internal/ffmpeg"
	"github.com/avatar-api/avatar-api/internal/generator"
)

// encode runs the one ffmpeg process that writes the video to tmpPath and
// returns how many frames it wrote.
//
// The image input is cut to just under frames/fps (half a frame early, so
// rounding cannot add a frame) instead of using -frames:v: in ffmpeg 5.1,
// reaching -frames:v closes every stream of the output, which cut the audio
// short. The output -t stops audio that runs past the last frame, in case the
// probed length was an underestimate.
func (g *Generator) encode(ctx context.Context, req generator.Request, frames int, tmpPath string, progress generator.ProgressFunc) (int, error) {
	fps := float64(req.FPS)
	vf := fmt.Sprintf("scale=%d:%d:force_original_aspect_ratio=increase,crop=%d:%d,format=yuv420p",
		req.Width, req.Height, req.Width, req.Height)
	image := ffmpeg.Input{Format: "image2", Path: req.ImagePath, Options: []string{
		"-pattern_type", "none", "-loop", "1", "-framerate", strconv.Itoa(req.FPS),
		"-t", secondsArg((float64(frames) - 0.5) / fps),
	}}
	d := time.Duration(frames) * time.Second / time.Duration(req.FPS)
	cmd, err := ffmpeg.Command(ctx, g.ffmpeg, ffmpeg.EncodeDeadline(d, req.Width, req.Height, req.FPS),
		[]ffmpeg.Input{image, {Format: req.Demuxer(), Path: req.AudioPath}},
		"-v", "error", "-xerror", "-y",
		"-map", "0:v:0", "-map", "1:a:0", "-t", secondsArg(float64(frames)/fps),
		"-vf", vf,
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "stillimage", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "128k",
		"-movflags", "+faststart", "-f", "mp4",
		"-progress", "pipe:1", "-nostats",
		"file:"+tmpPath)
	if err != nil {
		return 0, err
	}
	pw := &progressWriter{total: frames, report: progress}
	cmd.Stdout = pw
	if err := cmd.Run(); err != nil {
		return 0, encodeError(ctx, err, cmd.Stderr.String(), req, tmpPath)
	}
	if pw.last == 0 {
		return frames, nil
	}
	return pw.last, nil
}

func secondsArg(s float64) string { return strconv.FormatFloat(s, 'f', 6, 64) }

// progressWriter reads ffmpeg's -progress output and reports each new
// frame count. It is written to by one goroutine of exec.Cmd.
type progressWriter struct {
	total   int
	report  generator.ProgressFunc
	partial []byte
	last    int
}

func (w *progressWriter) Write(p []byte) (int, error) {
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.line(w.partial[:i])
		w.partial = w.partial[i+1:]
	}
	return len(p), nil
}

func (w *progressWriter) line(l []byte) {
	v, ok := bytes.CutPrefix(bytes.TrimSpace(l), []byte("frame="))
	if !ok {
		return
	}
	n, err := strconv.Atoi(string(v))
	if err != nil || n <= w.last {
		return
	}
	w.last = min(n, w.total)
	if w.report != nil {
		w.report(w.last, w.total)
	}
}
