package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestPlainWAVAsFFmpeg: a plain WAV made canonical in Go is byte for byte
// what ffmpeg makes of it, for the fixtures and for the layouts recorders
// write (stereo at 48 kHz, a LIST chunk before the samples, an odd-sized
// chunk padded, chunks after the samples), and reports the same facts.
func TestPlainWAVAsFFmpeg(t *testing.T) {
	t.Parallel()
	stereo := ffmpegMake(t, "-i", filepath.Join(fixtures, "speech_en_4s.wav"), "-ac", "2", "-ar", "48000", "-c:a", "pcm_s16le", "-f", "wav")
	inputs := map[string]string{
		"speech":      filepath.Join(fixtures, "speech_en_4s.wav"),
		"long speech": filepath.Join(fixtures, "speech_en_12s.wav"),
		"silence":     filepath.Join(fixtures, "silence_3s.wav"),
		"stereo 48k":  stereo,
		"list before": withChunks(t, filepath.Join(fixtures, "speech_en_4s.wav"), []byte("LIST\x05\x00\x00\x00INFOx\x00"), nil),
		"junk after":  withChunks(t, filepath.Join(fixtures, "silence_3s.wav"), nil, []byte("junk\x04\x00\x00\x00abcd")),
	}
	for name, src := range inputs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			native, ffm := filepath.Join(dir, "native.wav"), filepath.Join(dir, "ffmpeg.wav")
			got, handled, err := canonicalPlainWAV(src, native, "ffmpeg", Limits{}.withDefaults())
			if !handled || err != nil {
				t.Fatalf("handled %v, err %v: a plain WAV went to ffmpeg", handled, err)
			}
			w, _ := readPlainWAV(mustOpen(t, src), fileSize(t, src))
			d, _, err := Prober{}.canonicalize(context.Background(), src, ffm, audioFormats["wav"], w.rate, w.channels, 10*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			a, b := mustRead(t, native), mustRead(t, ffm)
			if !bytes.Equal(a, b) {
				t.Fatalf("native %d bytes, ffmpeg %d: they differ (headers % x and % x)", len(a), len(b), a[:min(44, len(a))], b[:min(44, len(b))])
			}
			if diff := (got.Duration - d).Abs(); diff > time.Millisecond {
				t.Errorf("duration %v, ffmpeg decoded %v", got.Duration, d)
			}
			if got.Codec != "pcm_s16le" || got.Format != "wav" || got.SampleRate != w.rate || got.Channels != w.channels {
				t.Errorf("got %+v", got)
			}
		})
	}
}

// TestNotPlainWAVGoesToFFmpeg: whatever is not a plain WAV is left to
// ffmpeg, which reads it or refuses it as it always did.
func TestNotPlainWAVGoesToFFmpeg(t *testing.T) {
	t.Parallel()
	speech := mustRead(t, filepath.Join(fixtures, "speech_en_4s.wav"))
	patched := func(off int, v []byte) []byte {
		b := bytes.Clone(speech)
		copy(b[off:], v)
		return b
	}
	u16 := func(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
	u32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	cases := map[string][]byte{
		"float samples":          patched(20, u16(3)),
		"8-bit samples":          patched(34, u16(8)),
		"three channels":         patched(22, u16(3)),
		"rate too high":          patched(24, u32(96000)),
		"rate too low":           patched(24, u32(4000)),
		"byte rate disagrees":    patched(28, u32(1)),
		"block align disagrees":  patched(32, u16(4)),
		"data longer than file":  patched(40, u32(uint32(len(speech)))),
		"streaming data length":  patched(40, u32(0xFFFFFFFF)),
		"odd data length":        patched(40, u32(uint32(len(speech)-44-1))),
		"no data chunk":          speech[:36],
		"cut in the data":        speech[:100_000],
		"header only":            speech[:44],
		"empty data":             patched(40, u32(0))[:44],
		"fmt chunk too long":     patched(16, u32(40)),
		"not WAVE":               patched(8, []byte("AVI ")),
		"data before fmt":        append(append([]byte("RIFF\x00\x00\x00\x00WAVE"), "data\x02\x00\x00\x00\x00\x00"...), speech[12:]...),
		"two fmt chunks":         append(bytes.Clone(speech[:36]), speech[12:]...),
		"chunk past end of file": append(bytes.Clone(speech[:12]), "LIST\xff\xff\x00\x00"...),
		"a second data chunk":    append(bytes.Clone(speech), "data\x04\x00\x00\x00abcd"...),
		"junk after the data":    append(bytes.Clone(speech), "xyz"...),
		"chunk after, cut short": append(bytes.Clone(speech), "LIST\x10\x00\x00\x00ab"...),
	}
	for name, b := range cases {
		if _, ok := readPlainWAV(bytes.NewReader(b), int64(len(b))); ok {
			t.Errorf("%s: read as a plain WAV", name)
		}
	}
}

// TestPlainWAVLength: the length rules hold on the Go path as on ffmpeg's.
func TestPlainWAVLength(t *testing.T) {
	t.Parallel()
	src := filepath.Join(fixtures, "speech_en_4s.wav")
	for name, tt := range map[string]struct {
		lim  Limits
		code string
	}{
		"too long":  {Limits{MaxAudioDuration: 2 * time.Second}, CodeAudioTooLong},
		"too short": {Limits{MinAudioDuration: 5 * time.Second}, CodeAudioTooShort},
	} {
		dst := filepath.Join(t.TempDir(), "a.wav")
		_, handled, err := canonicalPlainWAV(src, dst, "ffmpeg", tt.lim.withDefaults())
		if !handled || codeOf(err) != tt.code {
			t.Errorf("%s: handled %v, err %v; want %s", name, handled, err, tt.code)
		}
		if _, serr := os.Stat(dst); serr == nil {
			t.Errorf("%s: a refused upload was written", name)
		}
	}
}

// FuzzPlainWAV: any bytes at all are read without a panic, and what is
// taken for a plain WAV has its samples inside the file, in whole frames.
func FuzzPlainWAV(f *testing.F) {
	for _, name := range []string{"speech_en_4s.wav", "silence_3s.wav", "truncated.wav"} {
		b, err := os.ReadFile(filepath.Join(fixtures, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), 4096)])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		w, ok := readPlainWAV(bytes.NewReader(b), int64(len(b)))
		if !ok {
			return
		}
		if w.offset < 12 || w.size <= 0 || w.offset+w.size > int64(len(b)) || w.size%int64(2*w.channels) != 0 ||
			w.rate < minRate || w.rate > maxRate || (w.channels != 1 && w.channels != 2) {
			t.Fatalf("accepted %+v from %d bytes", w, len(b))
		}
	})
}

// withChunks is the WAV at src with chunks inserted before its data chunk
// (which must start at byte 36) and appended after it, the RIFF size fixed.
func withChunks(t *testing.T, src string, before, after []byte) string {
	t.Helper()
	b := mustRead(t, src)
	out := append(append(append(bytes.Clone(b[:36]), before...), b[36:]...), after...)
	binary.LittleEndian.PutUint32(out[4:8], uint32(len(out)-8))
	return writeFile(t, "chunks.wav", out)
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}
