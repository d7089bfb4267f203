package main_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/testkit"
)

// Submit figures: clients at once, how long each round submits, rounds.
const (
	submitClients = 20
	submitRun     = 15 * time.Second
	submitRounds  = 3
	bigUpload     = 20 << 20 // the audio of the memory figure, about 20 MB
)

// benchSubmit: POST /generate with the fixtures (the astronaut, 791 kB
// PNG at 1024×1024, and the 4.7 s recording) from submitClients clients
// at once, each a customer of its own, for submitRun, against `serve`
// without workers (generation would take the cores the checks need);
// then the server's peak memory while submitClients clients each upload
// a 20 MB recording at once.
func benchSubmit(t *testing.T, r *perfReport) {
	dir := t.TempDir()
	p := startBench(t, "serve", dir, "LOG_LEVEL=info", "EMBEDDED_WORKERS=false")
	keys := make([]string, submitClients)
	for i := range keys {
		keys[i] = strings.TrimSpace(cli(t, []string{"DATA_DIR=" + dir}, "keys", "create", "--customer", fmt.Sprintf("c%02d", i), "--rate-limit", "100000", "-q"))
	}
	form, ct := testkit.Multipart(t,
		testkit.Part{Name: "image", File: testkit.Fixture("astronaut.png")}, testkit.Part{Name: "audio", File: testkit.Fixture("speech_en_4s.wav")},
		testkit.Part{Name: "prompt", Value: "calm"})

	const sec = "submit"
	var rate, p50, p99 samples
	var refused []string
	for range submitRounds {
		res := submitFor(t, p.url, keys, form, ct, submitRun)
		rate = append(rate, float64(len(res.accepted))/submitRun.Seconds())
		p50, p99 = append(p50, ms(percentile(res.accepted, 50))), append(p99, ms(percentile(res.accepted, 99)))
		refused = append(refused, res.refusedSummary())
	}
	r.printf(t, sec, "%d clients at once, each a customer with its key, posting the astronaut (PNG, 1024×1024, 791 kB) and the 4.7 s WAV for a 512×512 video, "+
		"as fast as answers come, for %s; %d rounds; `serve` without workers, the defaults otherwise (4 uploads checked at once, 1 a customer).\n",
		submitClients, submitRun, submitRounds)
	r.printf(t, sec, "| accepted jobs/s | p50 of a 202 | p99 of a 202 | other answers, per round |")
	r.printf(t, sec, "| --- | --- | --- | --- |")
	r.printf(t, sec, "| %s | %s | %s | %s |\n", rate.format(fmtRatio), p50.format(fmtMs), p99.format(fmtMs), strings.Join(refused, "; "))

	// What each check of a submission costs (BenchmarkSubmitChecks).
	steps := goBench(t, "../../internal/job/", "BenchmarkSubmitChecks", "10x", 3)
	r.printf(t, sec, "What each step of a submission's checks costs in the API process (`BenchmarkSubmitChecks`, internal/job; 3 runs of 10, median (min–max) of the runs' means; wall time, ffmpeg's processes included):\n")
	r.printf(t, sec, "| step | time | |")
	r.printf(t, sec, "| --- | --- | --- |")
	for _, step := range []struct{ name, what string }{
		{"image", "the portrait made canonical: decoded, encoded as PNG"},
		{"image+face", "the same, then the face check on the pixels still in memory: what a submission does now"},
		{"face-decode", "the canonical PNG decoded again, what the face check did before: the repeat removed"},
		{"face-find", "the face looked for"},
		{"audio-wav", "the 4.7 s WAV made canonical in Go (a plain 16-bit WAV): what a WAV upload costs now"},
		{"audio-ffmpeg", "the same recording in 24-bit samples, made canonical by ffprobe then ffmpeg: what every upload cost before, and other formats still do"},
	} {
		r.printf(t, sec, "| `%s` | %s | %s |", step.name, steps["BenchmarkSubmitChecks/"+step.name]["ns/op"].format(func(v float64) string { return fmtMs(v / 1e6) }), step.what)
	}
	r.printf(t, sec, "")

	// Memory: a fresh process, so that its peak is this load's.
	big := filepath.Join(dir, "big.wav")
	if out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-stream_loop", "-1", "-i", testkit.Fixture("speech_en_12s.wav"),
		"-t", "104", "-ar", "48000", "-ac", "2", "-c:a", "pcm_s16le", "-y", big).CombinedOutput(); err != nil {
		t.Fatalf("making the 20 MB recording: %v\n%s", err, out)
	}
	bigForm, bigCT := testkit.Multipart(t,
		testkit.Part{Name: "image", File: testkit.Fixture("astronaut.png")}, testkit.Part{Name: "audio", File: big},
		testkit.Part{Name: "prompt", Value: "calm"})
	var idle, peak samples
	for range submitRounds {
		m := startBench(t, "serve", t.TempDir(), "LOG_LEVEL=info", "EMBEDDED_WORKERS=false")
		mkeys := make([]string, submitClients)
		for i := range mkeys {
			mkeys[i] = strings.TrimSpace(cli(t, []string{"DATA_DIR=" + m.dataDir()}, "keys", "create", "--customer", fmt.Sprintf("m%02d", i), "-q"))
		}
		before, err := peakRSS(m.cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		res := submitOnce(t, m.url, mkeys, bigForm, bigCT)
		if len(res.accepted) != submitClients {
			t.Fatalf("%d of %d 20 MB uploads accepted: %s", len(res.accepted), submitClients, res.refusedSummary())
		}
		after, err := peakRSS(m.cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		idle, peak = append(idle, before), append(peak, after)
		_ = m.cmd.Process.Kill()
	}
	r.printf(t, sec, "Memory: %d clients each upload a %.1f MB WAV (104 s, 48 kHz stereo) with the portrait at once, to a fresh `serve`; its peak resident memory (VmHWM), %d processes:\n",
		submitClients, float64(len(bigForm))/1e6, submitRounds)
	r.printf(t, sec, "| idle, after start | peak, all %d accepted | target |", submitClients)
	r.printf(t, sec, "| --- | --- | --- |")
	r.printf(t, sec, "| %s | **%s** | under 150 MB |", idle.format(fmtMB), peak.format(fmtMB))
}

func fmtMB(v float64) string { return fmt.Sprintf("%.0f MB", v) }

// dataDir is the DATA_DIR the process was started with.
func (p benchProc) dataDir() string {
	for _, e := range p.cmd.Env {
		if v, ok := strings.CutPrefix(e, "DATA_DIR="); ok {
			return v
		}
	}
	return ""
}

type submitResult struct {
	mu       sync.Mutex
	accepted []time.Duration
	refused  map[string]int
}

func (s *submitResult) add(status int, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if status == http.StatusAccepted {
		s.accepted = append(s.accepted, d)
		return
	}
	if s.refused == nil {
		s.refused = map[string]int{}
	}
	s.refused[fmt.Sprint(status)]++
}

func (s *submitResult) refusedSummary() string {
	if len(s.refused) == 0 {
		return "none"
	}
	var parts []string
	for k, n := range s.refused {
		parts = append(parts, fmt.Sprintf("%s: %d", k, n))
	}
	return strings.Join(parts, ", ")
}

// submitFor posts form from one client per key, each as soon as its last
// answer came, for d.
func submitFor(t *testing.T, url string, keys []string, form []byte, ct string, d time.Duration) *submitResult {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	res := &submitResult{}
	var wg sync.WaitGroup
	for _, key := range keys {
		wg.Go(func() {
			for ctx.Err() == nil {
				status, took, err := postForm(url, key, form, ct)
				if err != nil {
					t.Errorf("POST /generate: %v", err)
					return
				}
				if ctx.Err() == nil || status == http.StatusAccepted {
					res.add(status, took)
				}
			}
		})
	}
	wg.Wait()
	return res
}

// submitOnce posts form once from each key, all at once.
func submitOnce(t *testing.T, url string, keys []string, form []byte, ct string) *submitResult {
	res := &submitResult{}
	var wg sync.WaitGroup
	for _, key := range keys {
		wg.Go(func() {
			status, took, err := postForm(url, key, form, ct)
			if err != nil {
				t.Errorf("POST /generate: %v", err)
				return
			}
			res.add(status, took)
		})
	}
	wg.Wait()
	return res
}

func postForm(url, key string, form []byte, ct string) (int, time.Duration, error) {
	req, _ := http.NewRequest(http.MethodPost, url+"/generate", bytes.NewReader(form))
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+key)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(start), nil
}
