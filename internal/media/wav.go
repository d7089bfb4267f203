package media

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/avatar-api/avatar-api/internal/ffmpeg"
)

// A plain WAV upload — 16-bit PCM, mono or stereo, 8–48 kHz, its samples
// whole and all present — is already in the canonical form but for its
// header and whatever other chunks it carries. Such an upload is made
// canonical here, in Go: a fresh 44-byte header (the one ffmpeg writes
// with -bitexact) and a copy of its samples, byte for byte what ffmpeg
// would have written (TestPlainWAVAsFFmpeg). That saves the two processes
// (ffprobe, then ffmpeg) that every other upload costs: about 0.3 s of a
// core each time on the development machine, most of a submission's work
// (BenchmarkSubmitChecks). Any other WAV, and anything unusual in this
// one (another sample format, a header that disagrees with itself, a data
// chunk longer than the file, a chunk past the end), goes to ffmpeg as
// before, which reads it or refuses it in its own words.

// plainWAV is where the samples of a plain WAV lie, and their format.
type plainWAV struct {
	rate, channels int
	offset, size   int64 // the data chunk's samples
}

// wavChunks is the most chunks read before the data chunk: a WAV from a
// real recorder has two or three (fmt, LIST, data).
const wavChunks = 16

// readPlainWAV reads the chunk layout of the WAV f (size bytes); ok is
// false unless it is a plain one.
func readPlainWAV(f io.ReaderAt, size int64) (w plainWAV, ok bool) {
	var hdr [12]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil || string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return plainWAV{}, false
	}
	haveFmt := false
	for off, n := int64(12), 0; n < wavChunks; n++ {
		var ch [8]byte
		if _, err := f.ReadAt(ch[:], off); err != nil {
			return plainWAV{}, false
		}
		id, length := string(ch[0:4]), int64(binary.LittleEndian.Uint32(ch[4:8]))
		body := off + 8
		if body+length > size || length > math.MaxUint32-36 {
			return plainWAV{}, false // cut short, or a streaming header's 0xFFFFFFFF: ffmpeg's to judge
		}
		switch id {
		case "fmt ":
			if haveFmt || (length != 16 && length != 18) {
				return plainWAV{}, false
			}
			var fm [18]byte
			if _, err := f.ReadAt(fm[:length], body); err != nil {
				return plainWAV{}, false
			}
			le := binary.LittleEndian
			tag, channels, rate := le.Uint16(fm[0:2]), int(le.Uint16(fm[2:4])), int(le.Uint32(fm[4:8]))
			byteRate, align, bits := int(le.Uint32(fm[8:12])), int(le.Uint16(fm[12:14])), le.Uint16(fm[14:16])
			if tag != 1 || bits != 16 || (channels != 1 && channels != 2) || rate < minRate || rate > maxRate ||
				align != 2*channels || byteRate != rate*align || (length == 18 && le.Uint16(fm[16:18]) != 0) {
				return plainWAV{}, false
			}
			w.rate, w.channels, haveFmt = rate, channels, true
		case "data":
			if !haveFmt || length == 0 || length%int64(2*w.channels) != 0 {
				return plainWAV{}, false
			}
			w.offset, w.size = body, length
			// ffmpeg reads on into any later data chunk: a file with
			// another, or whose tail is not whole chunks, is its to read.
			if !wholeChunksAfter(f, body+length+length%2, size, wavChunks-n) {
				return plainWAV{}, false
			}
			return w, true
		}
		off = body + length + length%2 // chunks are padded to an even length
	}
	return plainWAV{}, false
}

// wholeChunksAfter reports whether the bytes of f from off to size are at
// most left chunks, none of them a data chunk, each wholly in the file.
func wholeChunksAfter(f io.ReaderAt, off, size int64, left int) bool {
	for ; off < size; left-- {
		var ch [8]byte
		if left <= 0 || size-off < 8 {
			return false
		}
		if _, err := f.ReadAt(ch[:], off); err != nil {
			return false
		}
		length := int64(binary.LittleEndian.Uint32(ch[4:8]))
		if string(ch[0:4]) == "data" || off+8+length > size {
			return false
		}
		off += 8 + length + length%2
	}
	return true
}

// duration is how long the samples last.
func (w plainWAV) duration() time.Duration {
	frames := w.size / int64(2*w.channels)
	return time.Duration(frames) * time.Second / time.Duration(w.rate)
}

// canonicalPlainWAV writes w's samples, read from src, to dst under the
// canonical 44-byte header, once its length passes the rules every
// upload's does. handled is false when src is not a plain WAV: the
// caller runs ffmpeg.
func canonicalPlainWAV(src, dst, ffmpegProgram string, lim Limits) (a Audio, handled bool, err error) {
	f, err := os.Open(src)
	if err != nil {
		return Audio{}, false, nil // the ordinary path reports it
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return Audio{}, false, nil
	}
	w, ok := readPlainWAV(f, info.Size())
	if !ok {
		return Audio{}, false, nil
	}
	// The workers read the canonical WAV with ffmpeg: without it here the
	// upload is the service's trouble (503), as on ffmpeg's path.
	if err := ffmpeg.Installed(ffmpegProgram); err != nil {
		return Audio{}, true, err
	}
	d := w.duration()
	if d > lim.MaxAudioDuration {
		return Audio{}, true, tooLong(d, false, lim)
	}
	if err := checkDecoded(d, false, d, true, lim); err != nil {
		return Audio{}, true, err
	}
	if err := writeCanonicalWAV(dst, w, io.NewSectionReader(f, w.offset, w.size)); err != nil {
		return Audio{}, true, err
	}
	return Audio{Format: "wav", Codec: "pcm_s16le", ContentType: "audio/wav", Ext: ".wav",
		Duration: d, SampleRate: w.rate, Channels: w.channels}, true, nil
}

// writeCanonicalWAV writes the 44-byte header of w's format and the
// samples from r to dst.
func writeCanonicalWAV(dst string, w plainWAV, r io.Reader) error {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("writing canonical audio: %w", err)
	}
	var h [44]byte
	le := binary.LittleEndian
	copy(h[0:4], "RIFF")
	le.PutUint32(h[4:8], uint32(36+w.size))
	copy(h[8:16], "WAVEfmt ")
	le.PutUint32(h[16:20], 16)
	le.PutUint16(h[20:22], 1) // PCM
	le.PutUint16(h[22:24], uint16(w.channels))
	le.PutUint32(h[24:28], uint32(w.rate))
	le.PutUint32(h[28:32], uint32(w.rate*2*w.channels))
	le.PutUint16(h[32:34], uint16(2*w.channels))
	le.PutUint16(h[34:36], 16)
	copy(h[36:40], "data")
	le.PutUint32(h[40:44], uint32(w.size))
	_, err = out.Write(h[:])
	if err == nil {
		_, err = io.Copy(out, r)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing canonical audio: %w", err)
	}
	return nil
}
