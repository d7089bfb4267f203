package media

import (
	"context"
	"io"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/avatar-api/avatar-api/internal/refusal"
)

// Audio describes an accepted speech recording and its canonical form.
type Audio struct {
	Format      string // the upload's: "wav", "mp3", "ogg", "flac", "m4a", "webm" or "aac"
	Codec       string // the upload's, in ffmpeg's words: "pcm_s16le", "mp3", "opus"…
	ContentType string // the canonical form's: "audio/wav"
	Ext         string // the canonical form's: ".wav"
	Duration    time.Duration
	SampleRate  int // the canonical form's: the upload's own, within 8–48 kHz
	Channels    int // the canonical form's: 1 or 2
}

// Prober inspects audio with the ffprobe and ffmpeg programs. Empty fields
// mean the programs are found on PATH under their usual names.
type Prober struct {
	FFprobe string
	FFmpeg  string
}

// audioFormat is one accepted audio container.
type audioFormat struct {
	ext      string // the extension it was stored under before canonical forms
	demuxer  string // ffmpeg -f name, so ffmpeg cannot pick another demuxer
	seekable bool   // must be read as a file: MP4's index may come last
}

var audioFormats = map[string]audioFormat{
	"wav":  {".wav", "wav", false},
	"mp3":  {".mp3", "mp3", false},
	"ogg":  {".ogg", "ogg", false},
	"flac": {".flac", "flac", false},
	"m4a":  {".m4a", "mov", true},
	"webm": {".webm", "matroska", false},
	"aac":  {".aac", "aac", false},
}

// AudioDemuxer is the ffmpeg demuxer of a stored audio input, from the
// extension its key was given: ".wav" for canonical inputs, the sniffed
// format's for jobs accepted before inputs were canonical.
func AudioDemuxer(ext string) (string, bool) {
	for _, af := range audioFormats {
		if af.ext == ext {
			return af.demuxer, true
		}
	}
	return "", false
}

// CanonicalAudio checks the upload at src and writes its canonical form to
// dst: 16-bit PCM WAV (see canonicalize). The upload must be a supported
// audio file with exactly one audio stream and no video, decode from end
// to end, and last within lim. Duration is the decoded length, not the
// header's claim. Only dst may be handed to anything later: the upload
// itself never reaches ffmpeg again. Bad input yields a *refusal.Error; a missing
// ffprobe or ffmpeg, I/O failures and ctx ending are ordinary errors. On
// any error dst does not exist.
func (p Prober) CanonicalAudio(ctx context.Context, src, dst string, lim Limits) (Audio, error) {
	a, err := p.canonicalAudio(ctx, src, dst, lim)
	if err != nil {
		os.Remove(dst)
	}
	return a, err
}

func (p Prober) canonicalAudio(ctx context.Context, src, dst string, lim Limits) (Audio, error) {
	lim = lim.withDefaults()
	format, err := sniffAudioFile(src)
	if err != nil {
		return Audio{}, err
	}
	if format == "wav" {
		if err := ctx.Err(); err != nil {
			return Audio{}, err
		}
		if a, handled, err := canonicalPlainWAV(src, dst, p.ffmpeg(), lim); handled {
			return a, err
		}
	}
	af := audioFormats[format]
	probe, err := p.probe(ctx, src, af.demuxer)
	if err != nil {
		return Audio{}, err
	}
	stream, err := probe.audioStream()
	if err != nil {
		return Audio{}, err
	}
	claimed, trusted := probe.claimedDuration(stream)
	if trusted && claimed > lim.MaxAudioDuration+tolerance(lim.MaxAudioDuration) {
		return Audio{}, tooLong(claimed, false, lim)
	}
	rate, _ := strconv.Atoi(stream.SampleRate)
	rate, channels := canonicalRate(rate), canonicalChannels(stream.Channels)
	decoded, capped, err := p.canonicalize(ctx, src, dst, af, rate, channels, lim.MaxAudioDuration+time.Second)
	if err != nil {
		return Audio{}, err
	}
	if err := checkDecoded(decoded, capped, claimed, trusted, lim); err != nil {
		return Audio{}, err
	}
	return Audio{
		Format:      format,
		Codec:       stream.CodecName,
		ContentType: "audio/wav",
		Ext:         ".wav",
		Duration:    decoded,
		SampleRate:  rate,
		Channels:    channels,
	}, nil
}

// checkDecoded applies the length rules to what ffmpeg actually decoded.
// A header that promises clearly more audio than could be decoded means the
// upload was cut short (a truncated MP3 or WebM still decodes cleanly up to
// the cut, so the decode succeeding is not enough on its own).
func checkDecoded(decoded time.Duration, capped bool, claimed time.Duration, trusted bool, lim Limits) error {
	switch {
	case decoded <= 0:
		return refusal.New(refusal.CodeInvalidAudio, "the audio contains no sound that could be decoded; the file may be cut short")
	case decoded > lim.MaxAudioDuration:
		return tooLong(decoded, capped, lim)
	case trusted && decoded < claimed-tolerance(claimed):
		return refusal.New(refusal.CodeInvalidAudio, "the audio is truncated: its header says it lasts %s but only %s could be decoded",
			seconds(claimed), seconds(decoded))
	case decoded < lim.MinAudioDuration:
		return refusal.New(CodeAudioTooShort, "the audio lasts %s; it must last at least %s",
			seconds(decoded), seconds(lim.MinAudioDuration))
	}
	return nil
}

// tolerance is how far a decoded length may fall short of a header's claim:
// encoder delay and padding (an MP3 loses about 0.08 s) are not truncation.
func tolerance(d time.Duration) time.Duration {
	return 500*time.Millisecond + d/50
}

func tooLong(d time.Duration, atLeast bool, lim Limits) *refusal.Error {
	more := ""
	if atLeast {
		more = " or more"
	}
	return refusal.New(CodeAudioTooLong, "the audio lasts %s%s; it may last at most %s",
		seconds(d), more, seconds(lim.MaxAudioDuration))
}

// seconds formats d for a customer, e.g. "4.66 seconds".
func seconds(d time.Duration) string {
	s := math.Round(d.Seconds()*100) / 100
	return strconv.FormatFloat(s, 'f', -1, 64) + " seconds"
}

// sniffAudioFile names the audio format of the file at path from its magic
// bytes, or refuses it.
func sniffAudioFile(path string) (string, error) {
	f, head, err := openHead(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return sniffAudio(f, head)
}

func sniffAudio(f io.ReaderAt, head []byte) (string, error) {
	major, compat, isISO := ftypBrands(head)
	switch {
	case isRIFF(head, "WAVE"):
		return "wav", nil
	case isOgg(head):
		return "ogg", nil
	case isFLAC(head):
		return "flac", nil
	case isEBML(head) && ebmlDocType(head) == "webm":
		return "webm", nil
	case isISO && (major == "M4A " || major == "M4B " || hasAudioBrand(compat) || isGenericISOBrand(major)):
		return "m4a", nil
	case isID3(head):
		return sniffID3(f, head)
	case mpegFrame(head) != "":
		return mpegFrame(head), nil
	}
	return "", unsupportedAudio(head)
}

// sniffID3 looks beneath an ID3v2 tag, which may precede MP3, ADTS AAC or FLAC.
func sniffID3(f io.ReaderAt, head []byte) (string, error) {
	payload, err := id3Payload(f, head)
	if err != nil {
		return "", err
	}
	switch {
	case isFLAC(payload):
		return "flac", nil
	case mpegFrame(payload) != "":
		return mpegFrame(payload), nil
	}
	return "mp3", nil // padding or junk after the tag: let the MP3 demuxer resynchronise or refuse
}

func unsupportedAudio(head []byte) *refusal.Error {
	const formats = "WAV, MP3, Ogg, FLAC, M4A, WebM or AAC audio"
	if len(head) == 0 {
		return refusal.New(CodeUnsupportedAudioType, "the audio file is empty; upload %s", formats)
	}
	if what := describe(head); what != "" {
		return refusal.New(CodeUnsupportedAudioType, "the file looks like %s, which is not supported; upload %s", what, formats)
	}
	return refusal.New(CodeUnsupportedAudioType, "the file is not a supported audio type; upload %s", formats)
}
