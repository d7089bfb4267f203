package media

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/avatar-api/avatar-api/internal/ffmpeg"
	"github.com/avatar-api/avatar-api/internal/refusal"
)

// probeResult is the part of ffprobe's JSON that CanonicalAudio uses.
type probeResult struct {
	Streams []probeStream `json:"streams"`
	Format  struct {
		Duration string `json:"duration"`
	} `json:"format"`

	// estimated is set when ffprobe guessed the duration from the bit rate
	// (ADTS AAC, MP3 without a Xing header): such a guess can be several
	// per cent off and must not be mistaken for a truncated file.
	estimated bool
}

type probeStream struct {
	CodecType   string `json:"codec_type"`
	CodecName   string `json:"codec_name"`
	SampleRate  string `json:"sample_rate"`
	Channels    int    `json:"channels"`
	Duration    string `json:"duration"`
	Disposition struct {
		AttachedPic int `json:"attached_pic"`
	} `json:"disposition"`
}

func (p Prober) ffprobe() string {
	if p.FFprobe == "" {
		return "ffprobe"
	}
	return p.FFprobe
}

// probe runs ffprobe on path with the demuxer fixed to the sniffed format
// and only the file protocol allowed. It logs at warning level (not error)
// only to learn whether the duration was estimated; the warnings are
// otherwise ignored.
func (p Prober) probe(ctx context.Context, path, demuxer string) (probeResult, error) {
	cmd, err := ffmpeg.Probe(ctx, p.ffprobe(), probeTimeout, ffmpeg.Input{Format: demuxer, Path: path},
		"-v", "warning", "-of", "json", "-show_format", "-show_streams")
	if err != nil {
		return probeResult{}, err
	}
	stdout, err := cmd.Output()
	if err != nil {
		return probeResult{}, runError(err, cmd, path, refusal.CodeInvalidAudio, "the audio could not be read", "probe audio")
	}
	var r probeResult
	if err := json.Unmarshal(stdout, &r); err != nil {
		return probeResult{}, fmt.Errorf("parse ffprobe output: %w", err)
	}
	r.estimated = strings.Contains(cmd.Stderr.String(), "Estimating duration from bitrate")
	return r, nil
}

// audioStream returns the file's one audio stream. Cover art (an attached
// picture) is allowed; a real video stream is not.
func (r probeResult) audioStream() (probeStream, error) {
	var audio []probeStream
	for _, s := range r.Streams {
		switch {
		case s.CodecType == "audio":
			audio = append(audio, s)
		case s.CodecType == "video" && s.Disposition.AttachedPic == 0:
			return probeStream{}, refusal.New(CodeUnsupportedAudioType, "the file contains video; upload an audio file")
		}
	}
	switch len(audio) {
	case 0:
		return probeStream{}, refusal.New(refusal.CodeInvalidAudio, "the file contains no audio stream")
	case 1:
		return audio[0], nil
	}
	return probeStream{}, refusal.New(refusal.CodeInvalidAudio, "the file contains %d audio streams; upload a file with exactly one", len(audio))
}

// claimedDuration is the length the file's headers declare, and whether it
// can be held against the decoded length (it was read, not estimated).
func (r probeResult) claimedDuration(s probeStream) (time.Duration, bool) {
	d := parseSeconds(s.Duration)
	if d <= 0 {
		d = parseSeconds(r.Format.Duration)
	}
	return d, d > 0 && !r.estimated
}

// parseSeconds parses ffprobe's decimal seconds; "N/A", "", "nan" and
// anything not within (0, 1e7] give 0. The test is written so that NaN,
// for which every comparison is false, fails it too: converted to a
// Duration it would be 292 years negative.
func parseSeconds(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f > 0 && f <= 1e7) {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

// AudioLength is the length the audio file at path states, read with the
// demuxer forced (one of ffmpeg.Demuxers): for a generator whose request
// does not carry it (jobs accepted before lengths were recorded). A file
// ffprobe cannot read, or with no one audio stream or no length, is
// refused with a *refusal.Error of refusal.CodeInvalidAudio.
func (p Prober) AudioLength(ctx context.Context, path, demuxer string) (time.Duration, error) {
	r, err := p.probe(ctx, path, demuxer)
	if err != nil {
		return 0, err
	}
	s, err := r.audioStream()
	if err != nil {
		return 0, err
	}
	d, _ := r.claimedDuration(s)
	if d <= 0 {
		return 0, refusal.New(refusal.CodeInvalidAudio, "the audio's length could not be determined")
	}
	return d, nil
}
