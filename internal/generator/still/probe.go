package still

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/avatar-api/avatar-api/internal/ffmpeg"
	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/refusal"
)

// probeOutput is the part of ffprobe's JSON that this package reads.
type probeOutput struct {
	Streams []struct {
		CodecType string `json:"codec_type"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
		Duration  string `json:"duration"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

// probeTimeout bounds ffprobe, which reads headers only.
const probeTimeout = 15 * time.Second

// probe describes the file at path, read with the demuxer format (forced).
func (g *Generator) probe(ctx context.Context, path, format string, names map[string]string) (probeOutput, error) {
	cmd, err := ffmpeg.Probe(ctx, g.ffprobe, probeTimeout, ffmpeg.Input{Format: format, Path: path},
		"-v", "error", "-of", "json", "-show_format", "-show_streams")
	if err != nil {
		return probeOutput{}, err
	}
	stdout, err := cmd.Output()
	if err != nil {
		return probeOutput{}, commandError(ctx, "ffprobe", err, cmd.Stderr.String(), names)
	}
	var p probeOutput
	if err := json.Unmarshal(stdout, &p); err != nil {
		return probeOutput{}, fmt.Errorf("parse ffprobe output: %w", err)
	}
	return p, nil
}

// audioDuration is the length of the audio's first audio stream (or of the
// file, if the stream does not say).
func (g *Generator) audioDuration(ctx context.Context, path, format string) (time.Duration, error) {
	names := map[string]string{path: "the audio"}
	p, err := g.probe(ctx, path, format, names)
	if err != nil {
		return 0, fmt.Errorf("probe audio: %w", blameInput(err, refusal.CodeInvalidAudio, "the audio could not be read"))
	}
	for _, s := range p.Streams {
		if s.CodecType != "audio" {
			continue
		}
		if d := seconds(s.Duration); d > 0 {
			return d, nil
		}
		if d := seconds(p.Format.Duration); d > 0 {
			return d, nil
		}
		return 0, &refusal.Error{Code: refusal.CodeInvalidAudio, Message: "the audio's length could not be determined"}
	}
	return 0, &refusal.Error{Code: refusal.CodeInvalidAudio, Message: "the audio file contains no audio stream"}
}

// describeOutput measures the finished video at path.
func (g *Generator) describeOutput(ctx context.Context, path string) (generator.Result, error) {
	p, err := g.probe(ctx, path, "mov", map[string]string{path: "the output"})
	if err != nil {
		return generator.Result{}, fmt.Errorf("probe output: %w", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return generator.Result{}, fmt.Errorf("stat output: %w", err)
	}
	res := generator.Result{Duration: seconds(p.Format.Duration), Size: info.Size()}
	for _, s := range p.Streams {
		if s.CodecType == "video" {
			res.Width, res.Height = s.Width, s.Height
			return res, nil
		}
	}
	return generator.Result{}, fmt.Errorf("probe output: ffmpeg wrote no video stream")
}

// seconds parses ffprobe's decimal seconds; "N/A" or "" give 0.
func seconds(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || f > 1e7 {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}
