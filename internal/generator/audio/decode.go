package audio

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/avatar-api/avatar-api/internal/ffmpeg"
)

// ErrInvalid marks a file that is there but cannot be used as speech: not
// audio, damaged, empty or far too long. Retrying will not help, so callers
// blame the input rather than the service.
var ErrInvalid = errors.New("invalid audio")

// maxDecode bounds how much audio Decode holds. It is a guard against
// small files that expand to hours of sound, not a product limit: clips are
// a few minutes long.
const maxDecode = 20 * time.Minute

// Input is an audio file to decode, with the ffmpeg demuxer it is read
// with (forced: never guessed) and its length as measured when it was
// accepted, which bounds how long ffmpeg may run (0: maxDecode's).
type Input struct {
	Path     string
	Format   string
	Duration time.Duration
}

// decodeSpeed is the slowest pace, in multiples of real time, a decode may
// keep on a loaded machine (it runs hundreds of times faster).
const decodeSpeed = 4

// Decode converts the first audio stream of in to SampleRate mono PCM.
// ffmpeg writes raw samples to a pipe, so nothing is written to disk;
// ffmpegPath "" means "ffmpeg" on the PATH. Cancelling ctx kills ffmpeg at
// once. Error text never holds the path: ffmpeg's own words name it "the
// audio".
func Decode(ctx context.Context, ffmpegPath string, in Input) (PCM, error) {
	if ffmpegPath == "" {
		ffmpegPath = "ffmpeg"
	}
	if _, err := os.Stat(in.Path); err != nil {
		return PCM{}, fmt.Errorf("decode audio: open the audio: %w", unwrapPath(err))
	}
	length := in.Duration
	if length <= 0 {
		length = maxDecode
	}
	out := &sampleWriter{max: int(maxDecode.Seconds()) * SampleRate}
	cmd, err := ffmpeg.Command(ctx, ffmpegPath, ffmpeg.Deadline(length, decodeSpeed),
		[]ffmpeg.Input{{Format: in.Format, Path: in.Path}},
		"-v", "error", "-map", "0:a:0", "-vn", "-sn", "-dn",
		"-ac", "1", "-ar", strconv.Itoa(SampleRate),
		"-c:a", "pcm_s16le", "-f", "s16le", "pipe:1")
	if err != nil {
		return PCM{}, fmt.Errorf("decode audio: %w", err)
	}
	cmd.Stdout = out
	err = cmd.Run()
	stderr := cmd.Stderr.String()
	switch {
	case ctx.Err() != nil:
		return PCM{}, fmt.Errorf("decode audio: %w", ctx.Err())
	case out.full:
		return PCM{}, fmt.Errorf("decode audio: %w: longer than %v", ErrInvalid, maxDecode)
	case err != nil:
		return PCM{}, fmt.Errorf("decode audio: %w", ffmpegError(err, stderr, in.Path))
	case len(out.samples) == 0:
		return PCM{}, fmt.Errorf("decode audio: %w: no samples decoded (the file is empty or cut short)%s", ErrInvalid, scrubbedTail(stderr, in.Path))
	}
	return PCM{Samples: out.samples, Rate: SampleRate}, nil
}

// unwrapPath drops the path from an *os.PathError, keeping its cause (so
// errors.Is(err, fs.ErrNotExist) still holds).
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// ffmpegError explains why ffmpeg failed: an ExitError means ffmpeg ran and
// refused the file, so the input is to blame; anything else (ffmpeg
// missing, cannot start) is the service's problem.
func ffmpegError(err error, stderr, path string) error {
	if !ffmpeg.Failed(err) {
		return fmt.Errorf("run ffmpeg: %w", err)
	}
	if strings.Contains(stderr, "matches no streams") {
		return fmt.Errorf("%w: the file has no audio stream", ErrInvalid)
	}
	return fmt.Errorf("%w: ffmpeg %v%s", ErrInvalid, err, scrubbedTail(stderr, path))
}

// scrubbedTail is ": " and the last lines of ffmpeg's stderr with path
// hidden, or "" when ffmpeg said nothing.
func scrubbedTail(stderr, path string) string {
	tail := ffmpeg.Scrub(ffmpeg.TailLines(stderr, 3), map[string]string{path: "the audio"})
	if tail == "" {
		return ""
	}
	return ": " + tail
}

// sampleWriter turns ffmpeg's s16le stream into float32 samples as it
// arrives. Writes may split a sample between them. exec.Cmd writes to it
// from one goroutine and Wait returns only after the last write.
type sampleWriter struct {
	samples []float32
	carry   []byte // a byte left over from the previous write
	max     int
	full    bool
}

// errTooLong stops the copy from ffmpeg; Decode reports the limit itself.
var errTooLong = errors.New("audio too long")

// Write implements io.Writer. Refusing a write once max samples are held
// closes the pipe, which stops ffmpeg.
func (w *sampleWriter) Write(p []byte) (int, error) {
	n := len(p)
	if len(w.carry) > 0 && len(p) > 0 {
		w.append([]byte{w.carry[0], p[0]})
		w.carry, p = w.carry[:0], p[1:]
	}
	even := len(p) &^ 1
	w.append(p[:even])
	w.carry = append(w.carry, p[even:]...)
	if len(w.samples) > w.max {
		w.full = true
		return n, errTooLong
	}
	return n, nil
}

// append converts whole little-endian 16-bit samples.
func (w *sampleWriter) append(b []byte) {
	for i := 0; i+1 < len(b); i += 2 {
		v := int16(binary.LittleEndian.Uint16(b[i:]))
		w.samples = append(w.samples, float32(v)/32768)
	}
}
