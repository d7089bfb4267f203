package api_test

// Fault injection (issue 16): each test breaks one dependency under a
// running service and shows what a client sees while it lasts (a
// documented problem, or a completion that comes later), that /ready and
// a metric show the fault, that no accepted job is lost, and that the
// service recovers by itself when the dependency returns.

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/config"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

// readyState is GET /ready's status and its problem's code, if any.
func (tb *testBundle) readyState(t *testing.T) (int, string) {
	t.Helper()
	var body struct {
		Code string `json:"code"`
	}
	resp := tb.call(t, http.MethodGet, "/ready", "", nil, "", &body)
	return resp.StatusCode, body.Code
}

// checkOK is avatar_ready_check_ok of one check, as /metrics says it.
func (tb *testBundle) checkOK(t *testing.T, check string) float64 {
	t.Helper()
	return value(scrape(t, tb.url+"/metrics", metricsToken), `avatar_ready_check_ok{check="`+check+`"}`)
}

// waitReady waits until /ready answers want and the check's gauge agrees
// (/ready's answer is kept 2 s, the gauge's 1 s more).
func (tb *testBundle) waitReady(t *testing.T, check string, ready bool) {
	t.Helper()
	want, gauge := http.StatusOK, 1.0
	if !ready {
		want, gauge = http.StatusServiceUnavailable, 0
	}
	testkit.WaitFor(t, 15*time.Second, "/ready and avatar_ready_check_ok{check="+check+"}", func() bool {
		status, code := tb.readyState(t)
		if !ready && code != "service_unavailable" {
			return false
		}
		return status == want && tb.checkOK(t, check) == gauge
	})
}

// TestFaultStorageUnwritable: the storage directory (a tmpfs of its own)
// turns read-only under the service. New jobs are refused with 503
// service_unavailable and Retry-After, leaving no upload behind; /ready
// answers 503 and avatar_ready_check_ok{check="storage"} is 0. Made
// writable again, everything returns by itself, and the job accepted
// before the fault completes.
func TestFaultStorageUnwritable(t *testing.T) {
	t.Parallel()
	mounted := false
	tb := setup(t, options{metricsToken: metricsToken, configure: func(cfg *config.Config) {
		mounted = testkit.Tmpfs(t, filepath.Join(cfg.DataDir, "objects"), 64<<20)
	}})
	if !mounted {
		t.Skip("mounting a tmpfs is not permitted here: see TestStorageOutage for a storage that is gone")
	}
	objects := filepath.Join(tb.dataDir, "objects")
	before, resp := tb.submit(t, keyA, portrait, speech)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("before the fault: %d", resp.StatusCode)
	}
	tb.waitReady(t, "storage", true)

	testkit.Remount(t, objects, true)
	body, ct := multipartBody(t, portrait, speech)
	var pb problemBody
	resp = tb.call(t, http.MethodPost, "/generate", keyA, body, ct, &pb)
	wantUnavailable(t, "during the fault", resp, pb)
	if files := filesUnder(t, filepath.Join(tb.dataDir, "uploads")); len(files) != 0 {
		t.Fatalf("upload left: %v", files)
	}
	tb.waitReady(t, "storage", false)

	testkit.Remount(t, objects, false)
	tb.waitReady(t, "storage", true)
	after, resp := tb.submit(t, keyA, portrait, speech)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("after the fault: %d", resp.StatusCode)
	}
	for _, id := range []string{before.ID, after.ID} {
		tb.waitFor(t, keyA, id, "completed")
	}
}

// TestFaultDiskFullDuringUpload: the upload directory (a 4 MiB tmpfs)
// fills up while an upload is being received. The client gets 503
// service_unavailable with Retry-After (the disk is the service's
// problem, not the request's), the partial upload is removed (freeing the
// disk), and the next upload that fits is accepted and completes.
func TestFaultDiskFullDuringUpload(t *testing.T) {
	t.Parallel()
	mounted := false
	tb := setup(t, options{metricsToken: metricsToken, configure: func(cfg *config.Config) {
		mounted = testkit.Tmpfs(t, filepath.Join(cfg.DataDir, "uploads"), 4<<20)
	}})
	if !mounted {
		t.Skip("mounting a tmpfs is not permitted here")
	}
	uploads := filepath.Join(tb.dataDir, "uploads")
	// An audio file of 12 MiB (a valid WAV header, then silence): more
	// than the disk holds, well under MAX_AUDIO_BYTES.
	big := filepath.Join(t.TempDir(), "long.wav")
	writeSilentWAV(t, big, 12<<20)
	body, ct := multipartBody(t, portrait, part{Name: "audio", File: big})
	var pb problemBody
	resp := tb.call(t, http.MethodPost, "/generate", keyA, body, ct, &pb)
	wantUnavailable(t, "disk full", resp, pb)
	if files := filesUnder(t, uploads); len(files) != 0 {
		t.Fatalf("the partial upload was left, filling the disk: %v", files)
	}
	// A disk left with 1 MiB: the upload fits, the checked copy of its
	// image does not — the same answer (it was a 500 internal_error).
	ballast := filepath.Join(uploads, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 3<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	body, ct = multipartBody(t, portrait, speech)
	pb = problemBody{}
	resp = tb.call(t, http.MethodPost, "/generate", keyA, body, ct, &pb)
	wantUnavailable(t, "disk nearly full", resp, pb)
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	if files := filesUnder(t, uploads); len(files) != 0 {
		t.Fatalf("files left on the full disk: %v", files)
	}
	j, resp := tb.submit(t, keyA, portrait, speech)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("an upload that fits, after: %d", resp.StatusCode)
	}
	tb.waitFor(t, keyA, j.ID, "completed")
}

// writeSilentWAV writes a 16-bit mono 16 kHz WAV of size bytes of silence.
func writeSilentWAV(t *testing.T, path string, size int) {
	t.Helper()
	data := size - 44
	h := []byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80\x3e\x00\x00\x00\x7d\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00")
	le := func(b []byte, v int) { b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24) }
	le(h[4:8], size-8)
	le(h[40:44], data)
	if err := os.WriteFile(path, append(h, make([]byte, data)...), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestFaultFFmpegCrashesMidEncode: the first encode's ffmpeg dies of
// SIGSEGV after it started writing the video (a wrapper on its path
// that runs the real ffmpeg and kills it). The attempt is given back,
// the job runs again and completes on its second attempt: the client sees
// a completion that came later. /ready stays 200 (ffmpeg is there), and
// avatar_job_generation_seconds counts a run that ended "requeued".
func TestFaultFFmpegCrashesMidEncode(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{metricsToken: metricsToken, configure: func(cfg *config.Config) {
		crashed := filepath.Join(cfg.DataDir, "crashed")
		wrapper := filepath.Join(cfg.DataDir, "crashing-ffmpeg")
		script := `#!/bin/bash
case "$*" in
  *.mp4*) if [ ! -e '` + crashed + `' ]; then
      touch '` + crashed + `'
      out="${@: -1}"; out="${out#file:}"
      '` + cfg.FFmpeg + `' "$@" <&0 &
      pid=$!
      # Mid-encode: once ffmpeg has written the output's first bytes,
      # whatever the machine's speed.
      while [ ! -s "$out" ] && kill -0 $pid 2>/dev/null; do sleep 0.01; done
      kill -SEGV $pid
      wait $pid
      exit $?
    fi ;;
esac
exec '` + cfg.FFmpeg + `' "$@"
`
		if err := os.WriteFile(wrapper, []byte(script), 0o700); err != nil {
			t.Fatal(err)
		}
		cfg.FFmpeg = wrapper
	}})
	before := scrape(t, tb.url+"/metrics", metricsToken)
	j, resp := tb.submit(t, keyA, portrait, speech)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("submit: %d", resp.StatusCode)
	}
	got := tb.waitFor(t, keyA, j.ID, "completed", "failed")
	if got.State != "completed" || got.Attempt != 2 {
		t.Fatalf("after the crash the job is %s on attempt %d (%+v)", got.State, got.Attempt, got.Error)
	}
	if _, err := os.Stat(filepath.Join(tb.dataDir, "crashed")); err != nil {
		t.Fatal("ffmpeg never crashed: the test tested nothing")
	}
	if status, _ := tb.readyState(t); status != http.StatusOK {
		t.Errorf("/ready %d after a crash of one run", status)
	}
	after := scrape(t, tb.url+"/metrics", metricsToken)
	const requeued = `avatar_job_generation_seconds_count{backend="local",outcome="requeued"}`
	if d := value(after, requeued) - value(before, requeued); d != 1 {
		t.Errorf("%s moved by %g, want 1", requeued, d)
	}
	if d := value(after, `avatar_ready_check_ok{check="ffmpeg"}`); d != 1 {
		t.Errorf(`avatar_ready_check_ok{check="ffmpeg"} = %g after a crash of one run`, d)
	}
}

// TestFaultFFmpegMissing: ffmpeg disappears from where the service runs
// it (a package upgrade half done). /ready answers 503 at once and
// avatar_ready_check_ok{check="ffmpeg"} is 0; a job submitted meanwhile,
// whose media cannot be checked, is refused with 503 service_unavailable
// and Retry-After (it was a 500 internal_error); once ffmpeg is back,
// /ready is 200 again and the same submission is accepted.
func TestFaultFFmpegMissing(t *testing.T) {
	t.Parallel()
	var link, target string
	tb := setup(t, options{metricsToken: metricsToken, noWorkers: true, configure: func(cfg *config.Config) {
		bin := filepath.Join(cfg.DataDir, "bin")
		if err := os.MkdirAll(bin, 0o750); err != nil {
			t.Fatal(err)
		}
		link, target = filepath.Join(bin, "ffmpeg"), cfg.FFmpeg
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		cfg.FFmpeg = link
	}})
	tb.waitReady(t, "ffmpeg", true)
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	tb.waitReady(t, "ffmpeg", false)
	body, ct := multipartBody(t, portrait, speech)
	var j struct {
		ID   string `json:"job_id"`
		Code string `json:"code"`
	}
	resp := tb.call(t, http.MethodPost, "/generate", keyA, body, ct, &j)
	if resp.StatusCode != http.StatusServiceUnavailable || j.Code != "service_unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("while ffmpeg is missing: %d %s, Retry-After %q", resp.StatusCode, j.Code, resp.Header.Get("Retry-After"))
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	tb.waitReady(t, "ffmpeg", true)
	if _, resp := tb.submit(t, keyA, portrait, speech); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("once ffmpeg is back: %d", resp.StatusCode)
	}
}

// wantUnavailable fails the test unless the answer is 503
// service_unavailable with a Retry-After.
func wantUnavailable(t *testing.T, when string, resp *http.Response, pb problemBody) {
	t.Helper()
	if resp.StatusCode != http.StatusServiceUnavailable || pb.Code != "service_unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("%s: %d %s %q, Retry-After %q", when, resp.StatusCode, pb.Code, pb.Detail, resp.Header.Get("Retry-After"))
	}
}
