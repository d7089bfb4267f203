package testkit

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/ffmpeg"
)

// Media is ffprobe's view of a file: its streams' codecs, the picture's
// size and frame rate, and the duration in seconds.
type Media struct {
	VideoCodec, AudioCodec string
	Width, Height          int
	FPS                    string // r_frame_rate, e.g. "25/1"
	Duration               float64
}

// Probe runs ffprobe on path through package ffmpeg (its format named
// from the extension: .mp4 and .mov as mov, .wav, .mp3 …), as every run of
// the service is.
func Probe(t testing.TB, path string) Media {
	t.Helper()
	format := strings.TrimPrefix(filepath.Ext(path), ".")
	if format == "mp4" || format == "m4a" {
		format = "mov"
	}
	cmd, err := ffmpeg.Probe(context.Background(), "ffprobe", time.Minute, ffmpeg.Input{Format: format, Path: path},
		"-v", "error", "-of", "json", "-show_streams", "-show_format")
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p struct {
		Streams []struct {
			CodecType  string `json:"codec_type"`
			CodecName  string `json:"codec_name"`
			Width      int    `json:"width"`
			Height     int    `json:"height"`
			RFrameRate string `json:"r_frame_rate"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	var m Media
	for _, s := range p.Streams {
		switch s.CodecType {
		case "video":
			m.VideoCodec, m.Width, m.Height, m.FPS = s.CodecName, s.Width, s.Height, s.RFrameRate
		case "audio":
			m.AudioCodec = s.CodecName
		}
	}
	m.Duration, _ = strconv.ParseFloat(p.Format.Duration, 64)
	return m
}
