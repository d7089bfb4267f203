package media

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"time"
)

func (p Prober) ffmpeg() string {
	if p.FFmpeg == "" {
		return "ffmpeg"
	}
	return p.FFmpeg
}

// decode decodes the first audio stream of path to nowhere and returns how
// much audio came out. -xerror makes any decoding error fatal: ffmpeg flags
// the short last packet of a cut-off WAV as corrupt, which is how a
// truncated WAV is caught. At most limit is decoded, so a very long upload
// costs little; capped reports that the limit was reached.
func (p Prober) decode(ctx context.Context, path, demuxer string, limit time.Duration) (d time.Duration, capped bool, err error) {
	stdout, stderr, err := run(ctx, decodeTimeout, p.ffmpeg(),
		"-nostdin", "-v", "error", "-xerror",
		"-f", demuxer, "-i", "file:"+path,
		"-map", "0:a:0", "-t", strconv.FormatFloat(limit.Seconds(), 'f', 3, 64),
		"-f", "null", "-progress", "pipe:1", "-nostats", "-")
	if err != nil {
		if programFailed(err) {
			return 0, false, refuse(CodeInvalidAudio, "the audio is truncated or corrupt: %s", stderrReason(stderr, path))
		}
		return 0, false, fmt.Errorf("decode audio: %w", err)
	}
	d = lastOutTime(stdout)
	return d, d >= limit-50*time.Millisecond, nil
}

// lastOutTime returns the final out_time_us from ffmpeg's -progress output.
func lastOutTime(progress []byte) time.Duration {
	var us int64
	for _, line := range bytes.Split(progress, []byte("\n")) {
		v, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("out_time_us="))
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			us = n
		}
	}
	return time.Duration(us) * time.Microsecond
}
