package media

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/avatar-api/avatar-api/internal/ffmpeg"
	"github.com/avatar-api/avatar-api/internal/refusal"
)

// CodeInvalidVideo refuses a video that a generator made elsewhere (a
// RunPod worker, an external model command) and that is not what the
// service promises: an MP4 with H.264 video and AAC audio, as long as the
// speech and of the size asked for. Clients may switch on it.
const CodeInvalidVideo = "invalid_video"

// VideoWant is what a made video must be.
type VideoWant struct {
	// Audio is the input audio's length; the video must last as long,
	// within videoTolerance. Zero: unknown, not checked.
	Audio time.Duration
	// Width and Height are the picture's size in pixels; zero: not checked.
	Width, Height int
}

// VideoFacts is what CheckVideo found in a video that passed.
type VideoFacts struct {
	Duration   time.Duration // the file's: its longest stream
	Width      int
	Height     int
	FPS        float64 // the average frame rate: frames over the video stream's length
	Frames     int
	VideoCodec string // in ffmpeg's words: "h264"
	AudioCodec string // "aac"
	Bytes      int64
}

// videoProbe is the part of ffprobe's JSON (with -count_packets) that
// CheckVideo reads.
type videoProbe struct {
	Streams []struct {
		CodecType     string `json:"codec_type"`
		CodecName     string `json:"codec_name"`
		Width         int    `json:"width"`
		Height        int    `json:"height"`
		AvgFrameRate  string `json:"avg_frame_rate"`
		Duration      string `json:"duration"`
		NbFrames      string `json:"nb_frames"`
		NbReadPackets string `json:"nb_read_packets"`
		Disposition   struct {
			AttachedPic int `json:"attached_pic"`
		} `json:"disposition"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

// CheckVideo checks the video at path, which a generator made, and says
// what it holds. It refuses, with a *refusal.Error of CodeInvalidVideo, a
// file that is not an MP4 (by its ftyp box; QuickTime, 3GP and HEIC are
// not), that ffprobe cannot read, that is cut short (fewer packets than
// its index lists), that has other than exactly one video stream, in
// H.264, and one audio stream, in AAC, or that differs from want. ffprobe
// reads it with the mov demuxer forced and the file protocol alone; it
// demuxes every packet (-count_packets) but decodes nothing. A missing
// ffprobe, I/O failures and ctx ending are ordinary errors.
func (p Prober) CheckVideo(ctx context.Context, path string, want VideoWant) (VideoFacts, error) {
	size, err := sniffVideoFile(path)
	if err != nil {
		return VideoFacts{}, err
	}
	pr, err := p.probeVideo(ctx, path)
	if err != nil {
		return VideoFacts{}, err
	}
	facts, lengths, err := pr.facts()
	if err != nil {
		return VideoFacts{}, err
	}
	facts.Bytes = size
	if err := facts.check(want, lengths); err != nil {
		return VideoFacts{}, err
	}
	return facts, nil
}

// sniffVideoFile refuses a file that does not start as an MP4 does, and
// returns its size.
func sniffVideoFile(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("open video: %w", err)
	}
	defer f.Close()
	head, err := readHead(f)
	if err != nil {
		return 0, err
	}
	info, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat video: %w", err)
	}
	if len(head) == 0 {
		return 0, refusal.New(CodeInvalidVideo, "the generated video is empty")
	}
	if what := describe(head); what != "an MP4 file" {
		if what == "" {
			return 0, refusal.New(CodeInvalidVideo, "the generated video is not an MP4 file")
		}
		return 0, refusal.New(CodeInvalidVideo, "the generated video is not an MP4 file: it looks like %s", what)
	}
	return info.Size(), nil
}

// probeVideo runs ffprobe on the video, counting its packets.
func (p Prober) probeVideo(ctx context.Context, path string) (videoProbe, error) {
	cmd, err := ffmpeg.Probe(ctx, p.ffprobe(), probeTimeout, ffmpeg.Input{Format: "mov", Path: path},
		"-v", "error", "-count_packets", "-of", "json", "-show_format", "-show_streams")
	if err != nil {
		return videoProbe{}, err
	}
	stdout, err := cmd.Output()
	if err != nil {
		detail := ffmpeg.Scrub(ffmpeg.TailLines(cmd.Stderr.String(), 2), map[string]string{path: "the video"})
		switch {
		case ffmpeg.Failed(err):
			return videoProbe{}, refusal.New(CodeInvalidVideo, "the generated video could not be read").WithDetail(detail)
		case errors.Is(err, ffmpeg.ErrDeadline):
			// Reading an MP4's packets takes well under a second: a file
			// that keeps ffprobe busy this long is not one we made.
			return videoProbe{}, refusal.New(CodeInvalidVideo, "the generated video took too long to read").WithDetail(err.Error())
		}
		return videoProbe{}, fmt.Errorf("probe video: %w", err)
	}
	var pr videoProbe
	if err := json.Unmarshal(stdout, &pr); err != nil {
		return videoProbe{}, fmt.Errorf("parse ffprobe output: %w", err)
	}
	return pr, nil
}

// streamLengths are the lengths the video's two streams state (0 when
// they state none).
type streamLengths struct{ video, audio time.Duration }

// facts finds the one video and one audio stream and describes them;
// cover art (an attached picture) is not a video stream, and data streams
// (a timecode track) are ignored.
func (pr videoProbe) facts() (VideoFacts, streamLengths, error) {
	var f VideoFacts
	var l streamLengths
	var video, audio int
	for _, s := range pr.Streams {
		frames, _ := strconv.Atoi(s.NbFrames)
		read, _ := strconv.Atoi(s.NbReadPackets)
		switch {
		case s.CodecType == "video" && s.Disposition.AttachedPic == 0:
			video++
			f.VideoCodec, f.Width, f.Height, f.FPS, f.Frames = s.CodecName, s.Width, s.Height, frameRate(s.AvgFrameRate), read
			l.video = parseSeconds(s.Duration)
		case s.CodecType == "audio":
			audio++
			f.AudioCodec = s.CodecName
			l.audio = parseSeconds(s.Duration)
		default:
			continue
		}
		if read < frames {
			return VideoFacts{}, l, refusal.New(CodeInvalidVideo, "the generated video is truncated").
				WithDetail(fmt.Sprintf("its %s stream has %d of the %d packets its index lists", s.CodecType, read, frames))
		}
	}
	f.Duration = max(parseSeconds(pr.Format.Duration), l.video, l.audio)
	switch {
	case video != 1:
		return VideoFacts{}, l, refusal.New(CodeInvalidVideo, "the generated video has %d video streams; it must have one", video)
	case audio != 1:
		return VideoFacts{}, l, refusal.New(CodeInvalidVideo, "the generated video has %d audio streams; it must have one", audio)
	case f.VideoCodec != "h264":
		return VideoFacts{}, l, refusal.New(CodeInvalidVideo, "the generated video's picture is not H.264").WithDetail("video codec " + f.VideoCodec)
	case f.AudioCodec != "aac":
		return VideoFacts{}, l, refusal.New(CodeInvalidVideo, "the generated video's sound is not AAC").WithDetail("audio codec " + f.AudioCodec)
	case f.Frames <= 0 || f.Duration <= 0:
		return VideoFacts{}, l, refusal.New(CodeInvalidVideo, "the generated video has no frames")
	}
	return f, l, nil
}

// check compares the facts with what was wanted. The length is checked
// for the file and for each stream: a picture that stops half-way under
// a full soundtrack (or the reverse) is as wrong as a short file.
func (f VideoFacts) check(want VideoWant, l streamLengths) error {
	if want.Audio > 0 {
		for _, c := range []struct {
			what string
			d    time.Duration
		}{{"generated video", f.Duration}, {"generated video's picture", l.video}, {"generated video's sound", l.audio}} {
			if c.d > 0 && (c.d-want.Audio).Abs() > videoTolerance(want.Audio) {
				return refusal.New(CodeInvalidVideo, "the %s lasts %s, but the audio lasts %s", c.what, seconds(c.d), seconds(want.Audio))
			}
		}
	}
	if (want.Width > 0 && f.Width != want.Width) || (want.Height > 0 && f.Height != want.Height) {
		return refusal.New(CodeInvalidVideo, "the generated video is %dx%d pixels, not the %dx%d asked for",
			f.Width, f.Height, want.Width, want.Height)
	}
	return nil
}

// videoTolerance is how far a video's length may be from its audio's:
// half a second or 5%, whichever is more. An honest video is never
// exactly as long as its speech: AAC's encoder delay (priming, 1024
// samples) and its padding to whole 1024-sample frames add some tens of
// milliseconds, and the picture covers the sound in whole frames (at
// 2 fps, up to half a second more); a model that makes its frames in
// fixed-size chunks may round further. Beyond that, the video is cut
// short or padded out: not the speech the customer sent.
func videoTolerance(audio time.Duration) time.Duration {
	return max(500*time.Millisecond, audio/20)
}

// frameRate parses ffprobe's "num/den"; "0/0" and junk give 0.
func frameRate(s string) float64 {
	num, den, ok := strings.Cut(s, "/")
	if !ok {
		den = "1"
	}
	n, err1 := strconv.ParseFloat(num, 64)
	d, err2 := strconv.ParseFloat(den, 64)
	if err1 != nil || err2 != nil || d <= 0 || n <= 0 {
		return 0
	}
	return n / d
}
