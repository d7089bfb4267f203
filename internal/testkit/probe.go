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
// size, frame rate, pixel format and frames, and the durations in seconds.
type Media struct {
	VideoCodec, AudioCodec string
	Width, Height          int
	FPS                    string // r_frame_rate, e.g. "25/1"
	PixFmt                 string // e.g. yuv420p
	// Frames is the video's frame count: as the container states it, or
	// with ProbeFrames as ffprobe counted them by decoding.
	Frames        int
	Duration      float64 // the file's
	AudioDuration float64 // the audio stream's
}

// Probe runs ffprobe on path through package ffmpeg (its format named
// from the extension: .mp4 and .mov as mov, .wav, .mp3 …), as every run of
// the service is.
func Probe(t testing.TB, path string) Media {
	t.Helper()
	return probe(t, path, false)
}

// ProbeFrames is Probe that decodes the video to count its frames.
func ProbeFrames(t testing.TB, path string) Media {
	t.Helper()
	return probe(t, path, true)
}

func probe(t testing.TB, path string, count bool) Media {
	t.Helper()
	args := []string{"-v", "error", "-of", "json", "-show_streams", "-show_format"}
	if count {
		args = append(args, "-count_frames")
	}
	format := strings.TrimPrefix(filepath.Ext(path), ".")
	if format == "mp4" || format == "m4a" {
		format = "mov"
	}
	cmd, err := ffmpeg.Probe(context.Background(), "ffprobe", time.Minute, ffmpeg.Input{Format: format, Path: path}, args...)
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
			PixFmt     string `json:"pix_fmt"`
			NbFrames   string `json:"nb_frames"`
			NbRead     string `json:"nb_read_frames"`
			Duration   string `json:"duration"`
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
			m.VideoCodec, m.Width, m.Height, m.FPS, m.PixFmt = s.CodecName, s.Width, s.Height, s.RFrameRate, s.PixFmt
			m.Frames, _ = strconv.Atoi(s.NbFrames)
			if count {
				m.Frames, _ = strconv.Atoi(s.NbRead)
			}
		case "audio":
			m.AudioCodec = s.CodecName
			m.AudioDuration, _ = strconv.ParseFloat(s.Duration, 64)
		}
	}
	m.Duration, _ = strconv.ParseFloat(p.Format.Duration, 64)
	return m
}
