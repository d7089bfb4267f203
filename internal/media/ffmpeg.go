package media

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/avatar-api/avatar-api/internal/ffmpeg"
	"github.com/avatar-api/avatar-api/internal/refusal"
)

func (p Prober) ffmpeg() string {
	if p.FFmpeg == "" {
		return "ffmpeg"
	}
	return p.FFmpeg
}

// Canonical audio: what every later step reads. 16-bit PCM WAV needs no
// demuxer but the simplest, and every model script can read it.
const (
	canonicalFormat = "wav"
	minRate         = 8000
	maxRate         = 48000
)

// canonicalize decodes the first audio stream of src with the sniffed
// demuxer forced and writes it to dst as 16-bit PCM WAV at rate with
// channels, keeping nothing else (no metadata, no cover art, no other
// stream). The upload is fed on stdin under a pipe-only protocol whitelist,
// so no demuxer can open anything; only MP4 audio, whose index may sit at
// the end, is read as a file (file protocol only, external references
// off). -xerror makes any decoding error fatal: ffmpeg flags the short last
// packet of a cut-off WAV as corrupt, which is how a truncated WAV is
// caught. At most limit is decoded, so a very long upload costs little;
// capped reports that the limit was reached. It returns how much audio
// came out.
func (p Prober) canonicalize(ctx context.Context, src, dst string, af audioFormat, rate, channels int, limit time.Duration) (d time.Duration, capped bool, err error) {
	in := ffmpeg.Input{Format: af.demuxer}
	var stdin *os.File
	if af.seekable {
		in.Path = src
	} else {
		if stdin, err = os.Open(src); err != nil {
			return 0, false, fmt.Errorf("open upload: %w", err)
		}
		defer stdin.Close()
	}
	cmd, err := ffmpeg.Command(ctx, p.ffmpeg(), ffmpeg.Deadline(limit, audioSpeed), []ffmpeg.Input{in},
		"-v", "error", "-xerror", "-nostats", "-progress", "pipe:1", "-y",
		"-map", "0:a:0", "-vn", "-sn", "-dn", "-map_metadata", "-1", "-map_chapters", "-1",
		"-t", strconv.FormatFloat(limit.Seconds(), 'f', 3, 64),
		"-ac", strconv.Itoa(channels), "-ar", strconv.Itoa(rate),
		"-c:a", "pcm_s16le", "-bitexact", "-f", canonicalFormat, "file:"+dst)
	if err != nil {
		return 0, false, err
	}
	if stdin != nil {
		cmd.Stdin = stdin
	}
	stdout, err := cmd.Output()
	if err != nil {
		return 0, false, runError(err, cmd, src, refusal.CodeInvalidAudio, "the audio is truncated or corrupt", "decode audio")
	}
	d = lastOutTime(stdout)
	return d, d >= limit-50*time.Millisecond, nil
}

// canonicalRate is the sample rate of the canonical WAV: the upload's own,
// within 8–48 kHz.
func canonicalRate(rate int) int {
	if rate <= 0 {
		return 44100
	}
	return min(max(rate, minRate), maxRate)
}

// canonicalChannels keeps mono or stereo; more channels are mixed to two.
func canonicalChannels(n int) int { return min(max(n, 1), 2) }

// lastOutTime returns the final out_time_us from ffmpeg's -progress output.
// A negative one (older ffmpeg releases print AV_NOPTS_VALUE, -2^63+1,
// while nothing is out yet) means none: 0. Multiplied into a Duration as it
// stands it would wrap, to 1 µs for that value; a huge one saturates.
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
	switch {
	case us < 0:
		return 0
	case us > math.MaxInt64/int64(time.Microsecond):
		return math.MaxInt64
	}
	return time.Duration(us) * time.Microsecond
}
