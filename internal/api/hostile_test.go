package api_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/avatar-api/avatar-api/internal/api"
	"github.com/avatar-api/avatar-api/internal/media/mediatest"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

// tone writes a WAV (or, with ext ".mp4", an MP4) of a pure 2 kHz tone:
// the canary whose sound must never turn up in another customer's video.
func tone(t *testing.T, ext string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "canary"+ext)
	args := []string{"-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=2000:duration=4:sample_rate=22050"}
	if ext == ".mp4" {
		args = append(args, "-c:a", "aac")
	}
	if out, err := exec.Command("ffmpeg", append(args, path)...).CombinedOutput(); err != nil {
		t.Fatalf("making the canary: %v\n%s", err, out)
	}
	return path
}

// toneShare is how much of the audio of a media file is the canary's 2 kHz
// tone: about 1 for the tone itself, near 0 for speech.
func toneShare(t *testing.T, path string) float64 {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", path, "-map", "0:a:0",
		"-ac", "1", "-ar", "16000", "-f", "s16le", "-").Output()
	if err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
	n := len(out) / 2
	if n == 0 {
		return 0
	}
	// Goertzel at 2 kHz over the whole signal, against its energy.
	coeff := 2 * math.Cos(2*math.Pi*2000/16000)
	var s1, s2, energy float64
	for i := range n {
		x := float64(int16(binary.LittleEndian.Uint16(out[2*i:]))) / 32768
		s1, s2 = x+coeff*s1-s2, s1
		energy += x * x
	}
	power := s1*s1 + s2*s2 - coeff*s1*s2
	if energy == 0 {
		return 0
	}
	return power / (float64(n) / 2 * energy)
}

// download fetches a job's video to a file.
func (tb *testBundle) download(t *testing.T, key, id string) string {
	t.Helper()
	var res api.Result
	if resp := tb.call(t, http.MethodGet, "/result/"+id, key, nil, "", &res); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /result/%s = %d", id, resp.StatusCode)
	}
	dl, err := http.Get(res.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Body.Close()
	data, _ := io.ReadAll(dl.Body)
	path := filepath.Join(t.TempDir(), "out.mp4")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPolyglotAudioCannotReadOtherFiles is the outside probe's worst find:
// an "MP3" that is an ID3 tag, an HLS playlist or ffconcat script, and real
// MP3 frames passed the upload check and was then demuxed by the worker as
// a playlist, whose segments (another customer's video, a local file, a
// URL) became the audio of the attacker's video.
func TestPolyglotAudioCannotReadOtherFiles(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{concurrency: 2})

	// Customer B's video, whose sound is the canary tone.
	victim, resp := tb.submit(t, keyB, portrait, part{Name: "audio", File: tone(t, ".wav")}, prompt)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("victim's job: %d", resp.StatusCode)
	}
	if j := tb.waitFor(t, keyB, victim.ID, "completed", "failed"); j.State != "completed" {
		t.Fatalf("victim's job %s: %+v", j.State, j.Error)
	}
	if share := toneShare(t, tb.download(t, keyB, victim.ID)); share < 0.5 {
		t.Fatalf("the canary detector does not hear the victim's tone (%.3f)", share)
	}
	stolen := "../objects/results/" + victim.ID + "-1.mp4" // from the worker's job directory
	canary := tone(t, ".mp4")
	var calls atomic.Int64
	listener := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		http.ServeFile(w, &http.Request{}, canary)
	}))
	defer listener.Close()

	mp3, err := os.ReadFile(fixture("speech_en_12s.mp3"))
	if err != nil {
		t.Fatal(err)
	}
	frames := mediatest.MP3Frames(mp3)
	attacks := map[string][]byte{
		"hls relative path":   mediatest.Playlist(false, stolen),
		"hls absolute path":   mediatest.Playlist(false, canary),
		"hls file url":        mediatest.Playlist(false, "file:"+canary),
		"hls http":            mediatest.Playlist(false, listener.URL+"/segment.mp4"),
		"hls live":            mediatest.Playlist(true, stolen),
		"hls master":          mediatest.MasterPlaylist(listener.URL + "/variant.m3u8"),
		"ffconcat relative":   mediatest.FFConcat(stolen),
		"ffconcat absolute":   mediatest.FFConcat(canary),
		"hls several entries": mediatest.Playlist(false, canary, stolen, listener.URL+"/b.mp4"),
	}
	want := testkit.Probe(t, fixture("speech_en_12s.mp3")).Duration
	for name, payload := range attacks {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "speech.mp3")
			if err := os.WriteFile(path, mediatest.ID3Polyglot(payload, frames), 0o600); err != nil {
				t.Fatal(err)
			}
			j, resp := tb.submit(t, keyA, portrait, part{Name: "audio", File: path}, prompt)
			if resp.StatusCode != http.StatusAccepted {
				return // refusing it is as good
			}
			done := tb.waitFor(t, keyA, j.ID, "completed", "failed")
			if done.State != "completed" {
				t.Fatalf("job %s: %+v", done.State, done.Error)
			}
			out := tb.download(t, keyA, j.ID)
			if share := toneShare(t, out); share > 0.05 {
				t.Errorf("the attacker's video carries the canary's sound (share %.2f)", share)
			}
			if got := testkit.Probe(t, out).Duration; math.Abs(got-want) > 0.3 {
				t.Errorf("video lasts %.2f s; the MP3 frames last %.2f s", got, want)
			}
		})
	}
	t.Cleanup(func() {
		if n := calls.Load(); n > 0 {
			t.Errorf("the service called the attacker's URL %d times", n)
		}
	})
}

// TestHostileCorpus sends every file of testdata/hostile as the part it is
// made for: each is refused with its code, or accepted with only its
// canonical form stored (a WAV, a PNG) and nothing of what it smuggled.
func TestHostileCorpus(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{noWorkers: true})
	mp3, err := os.ReadFile(fixture("speech_en_12s.mp3"))
	if err != nil {
		t.Fatal(err)
	}
	wav, err := os.ReadFile(speech.File)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("each", func(t *testing.T) { sendCorpus(t, tb, mediatest.Corpus(mp3, wav)) })
	// What was stored: only canonical WAVs and PNGs, none with the canary.
	checkCanonicalInputs(t, filepath.Join(tb.dataDir, "objects", "inputs"))
}

func sendCorpus(t *testing.T, tb *testBundle, cases []mediatest.Case) {
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			file := fixture(filepath.Join("hostile", c.Name))
			parts := []part{portrait, {Name: "audio", File: file}, prompt}
			if c.Part == "image" {
				parts = []part{{Name: "image", File: file}, speech, prompt}
			}
			body, ct := multipartBody(t, parts...)
			var pb problemBody
			resp := tb.call(t, http.MethodPost, "/generate", keyA, body, ct, &pb)
			if c.Refused != "" {
				if resp.StatusCode/100 != 4 || pb.Code != c.Refused {
					t.Fatalf("= %d %q (%s), want a 4xx %q", resp.StatusCode, pb.Code, pb.Detail, c.Refused)
				}
				return
			}
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("= %d %q (%s), want 202", resp.StatusCode, pb.Code, pb.Detail)
			}
		})
	}
}

// checkCanonicalInputs holds every stored input to its canonical form.
func checkCanonicalInputs(t *testing.T, dir string) {
	t.Helper()
	inputs := filesUnder(t, dir)
	if len(inputs) == 0 {
		t.Fatal("nothing stored")
	}
	for _, f := range inputs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		switch filepath.Base(f) {
		case "audio.wav":
			if chunks := wavChunks(b); strings.Join(chunks, ",") != "fmt ,data" {
				t.Errorf("%s holds the chunks %q, want only fmt and data", f, chunks)
			}
		case "image.png":
			if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
				t.Errorf("%s is not a PNG", f)
			}
		default:
			t.Errorf("stored input %s is not a canonical WAV or PNG", f)
		}
		for _, bad := range []string{mediatest.Canary, "#EXTM3U", "ffconcat", "Exif", "eXIf", "tEXt", "ID3\x04"} {
			if bytes.Contains(b, []byte(bad)) {
				t.Errorf("stored input %s still holds %q", f, bad)
			}
		}
	}
}

// wavChunks lists the chunks of a RIFF/WAVE file ("" entries if it is not one).
func wavChunks(b []byte) []string {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return []string{"not a WAV"}
	}
	var out []string
	for i := 12; i+8 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[i+4:]))
		out = append(out, string(b[i:i+4]))
		i += 8 + n + n&1
	}
	return out
}
