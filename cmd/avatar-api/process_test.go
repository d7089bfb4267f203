package main_test

// These tests run the real binary as a customer's server would run: they
// kill it in the middle of a generation and stop it with SIGTERM, and check
// that no accepted job is lost.

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/scratch"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

var binary string

func TestMain(m *testing.M) {
	if os.Getenv("AVATAR_BENCH_BARE") != "" {
		serveBare() // this process is the gateway benchmark's baseline
	}
	dir, err := os.MkdirTemp("", "avatar-api-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "avatar-api")
	build := []string{"build", "-o", binary}
	// scripts/test-suite measures the coverage of the whole suite, these
	// processes included: given AVATAR_COVERDIR (and the packages to count,
	// AVATAR_COVERPKG), the binary is built with coverage and every process
	// of it writes its counters there (GOCOVERDIR, inherited by the
	// children: see also runpodSetup.startWorker).
	if dir := os.Getenv("AVATAR_COVERDIR"); dir != "" {
		build = append(build, "-cover", "-covermode=set", "-coverpkg="+os.Getenv("AVATAR_COVERPKG"))
		os.Setenv("GOCOVERDIR", dir)
	}
	if out, err := exec.Command("go", append(build, ".")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building avatar-api: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const apiKey = "process-test-key-0123456789abcdef"

type proc struct {
	cmd  *exec.Cmd
	url  string
	logs *testkit.Buffer
	done chan error
}

// start runs `avatar-api serve` on dataDir with extra environment. The
// server gets its socket already bound (to a free port chosen by the
// kernel) by socket activation, as systemd passes one: no port is picked,
// freed and hoped for. It is ready when /health answers on that address.
func start(t *testing.T, dataDir string, env ...string) *proc {
	t.Helper()
	return startCommand(t, "serve", dataDir, env...)
}

// startCommand is start for any command that serves /health on the
// socket it is passed.
func startCommand(t *testing.T, command, dataDir string, env ...string) *proc {
	t.Helper()
	sock, addr := testkit.Socket(t)
	defer sock.Close() // the child has its copy
	return startOn(t, sock, addr, command, dataDir, env...)
}

// startOn is startCommand on a socket the caller keeps (sock, bound to
// addr): a process restarted on it answers at the same address, and
// connections made while none runs wait in its queue, as with a systemd
// socket unit.
func startOn(t *testing.T, sock *os.File, addr, command, dataDir string, env ...string) *proc {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("sh", "-c", testkit.Activate, binary, command)
	cmd.Env = append(os.Environ(), "DATA_DIR="+dataDir, "PORT="+port, "API_KEY="+apiKey, "LOG_LEVEL=debug", "LISTEN_FDS=1")
	cmd.Env = append(cmd.Env, env...)
	cmd.ExtraFiles = []*os.File{sock} // file descriptor 3
	logs := &testkit.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, url: "http://" + addr, logs: logs, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("server log:\n%s", lastLines(logs.String(), 60))
		}
	})
	p.waitHealthy(t)
	return p
}

// waitHealthy polls /health until it answers, failing at once if the
// server exits.
func (p *proc) waitHealthy(t *testing.T) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	testkit.WaitFor(t, 60*time.Second, "the server's /health", func() bool {
		select {
		case err := <-p.done:
			p.done <- err // for the cleanup, which waits for it
			t.Fatalf("server exited at start: %v\n%s", err, p.logs)
		default:
		}
		resp, err := client.Get(p.url + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// deadAddr is an address where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type jobView struct {
	ID      string `json:"job_id"`
	State   string `json:"state"`
	Attempt int    `json:"attempt"`
	Error   *struct {
		Code string `json:"code"`
	} `json:"error"`
}

// submitSlow creates a job that takes some seconds to generate: the 13.7 s
// recording as a 1280x720, 30 fps video.
func (p *proc) submitSlow(t *testing.T) string {
	t.Helper()
	form, ct := testkit.Multipart(t,
		testkit.Part{Name: "image", File: testkit.Fixture("astronaut.png")},
		testkit.Part{Name: "audio", File: testkit.Fixture("speech_en_12s.wav")},
		testkit.Part{Name: "width", Value: "1280"}, testkit.Part{Name: "height", Value: "720"},
		testkit.Part{Name: "fps", Value: "30"}, testkit.Part{Name: "prompt", Value: "calm"})
	return p.post(t, form, ct)
}

func (p *proc) status(t *testing.T, id string) jobView {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.url+"/status/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var j jobView
	if err := json.NewDecoder(resp.Body).Decode(&j); err != nil {
		t.Fatal(err)
	}
	return j
}

func (p *proc) waitFor(t *testing.T, id string, limit time.Duration, states ...string) jobView {
	t.Helper()
	var j jobView
	testkit.WaitFor(t, limit, fmt.Sprintf("job %s to be one of %v", id, states), func() bool {
		j = p.status(t, id)
		return slices.Contains(states, j.State)
	})
	return j
}

func (p *proc) exit(t *testing.T, limit time.Duration) error {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		return err
	case <-time.After(limit):
		t.Fatalf("server did not exit within %s", limit)
		return nil
	}
}

// TestKillMidJobThenRestart: SIGKILL during a generation, then a restart,
// all with the default settings: the job is running again within 60 s of
// the kill (its heartbeat stops: JOB_HEARTBEAT_TIMEOUT, not River's
// 11-minute rescue), completes on a later attempt, and leaves no scratch
// files.
func TestKillMidJobThenRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := start(t, dir)
	id := p.submitSlow(t)
	p.waitFor(t, id, 30*time.Second, "processing")
	time.Sleep(500 * time.Millisecond) // ffmpeg is writing its output
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	_ = p.exit(t, 10*time.Second)

	const token = "metrics-token-of-the-kill-test-0123456789"
	p2 := start(t, dir, "METRICS_TOKEN="+token)
	restarted := time.Since(killed)
	var j jobView
	testkit.WaitFor(t, 60*time.Second-time.Since(killed), "the job running again on a later attempt", func() bool {
		time.Sleep(200 * time.Millisecond) // under the polling rate limit
		j = p2.status(t, id)
		return j.Attempt >= 2 || j.State == "completed" || j.State == "failed"
	})
	t.Logf("the job ran again %.1fs after the kill (the server was back after %.1fs), as %s on attempt %d",
		time.Since(killed).Seconds(), restarted.Seconds(), j.State, j.Attempt)
	// The restarted process's heartbeat rescue put it back: the operator
	// sees it counted.
	req, _ := http.NewRequest(http.MethodGet, p2.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	scrape, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(scrape), "\navatar_jobs_rescued_total 1\n") {
		t.Errorf("after the rescue /metrics (%d) lacks avatar_jobs_rescued_total 1:\n%s", resp.StatusCode, grepLines(string(scrape), "rescued"))
	}
	j = p2.waitFor(t, id, 150*time.Second, "completed", "failed")
	if j.State != "completed" || j.Attempt < 2 {
		t.Fatalf("after the crash the job is %s (attempt %d, error %+v)", j.State, j.Attempt, j.Error)
	}
	t.Logf("job completed %.1fs after the kill, on attempt %d", time.Since(killed).Seconds(), j.Attempt)
	// The job is completed (committed) a moment before its worker removes
	// its work directory: wait for that, briefly.
	var left []string
	testkit.WaitFor(t, 10*time.Second, "no scratch files", func() bool {
		left = scratchFiles(t, filepath.Join(dir, "work"))
		return len(left) == 0
	})
}

// TestTermDrains: SIGTERM lets a running generation finish before exit, and
// no new connections are accepted meanwhile.
func TestTermDrains(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := start(t, dir, "SHUTDOWN_GRACE=120s")
	resp, err := http.Get(p.url + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	ready, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(ready), `"ffmpeg":"ok"`) || !strings.Contains(string(ready), `"queue":"ok"`) {
		t.Fatalf("/ready = %d %s", resp.StatusCode, ready)
	}
	id := p.submitSlow(t)
	p.waitFor(t, id, 30*time.Second, "processing")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// A draining server stops accepting connections at once; the job it
	// runs goes on. (Polled: the signal is handled a moment later.)
	quick := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := quick.Get(p.url + "/health")
		if err != nil {
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("a draining server still accepts new connections 10 s after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := p.exit(t, 120*time.Second); err != nil {
		t.Fatalf("exit: %v", err)
	}
	p2 := start(t, dir, "EMBEDDED_WORKERS=false")
	if j := p2.status(t, id); j.State != "completed" {
		t.Fatalf("after drain the job is %s", j.State)
	}
}

// TestTermGraceOverRequeues: when the grace period ends first, the running
// job goes back to the queue and a later process completes it.
func TestTermGraceOverRequeues(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := start(t, dir, "SHUTDOWN_GRACE=0s")
	id := p.submitSlow(t)
	p.waitFor(t, id, 30*time.Second, "processing")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.exit(t, 30*time.Second); err != nil {
		t.Fatalf("exit: %v", err)
	}
	api := start(t, dir, "EMBEDDED_WORKERS=false")
	if j := api.status(t, id); j.State != "queued" {
		t.Fatalf("after an interrupted drain the job is %s, want queued", j.State)
	}
	_ = api.cmd.Process.Signal(syscall.SIGTERM)
	_ = api.exit(t, 30*time.Second)
	p3 := start(t, dir)
	if j := p3.waitFor(t, id, 90*time.Second, "completed", "failed"); j.State != "completed" {
		t.Fatalf("re-queued job ended %s (%+v)", j.State, j.Error)
	}
}

// scratchFiles lists the files in the scratch directories under root, but
// for the lock files of the live ones.
func scratchFiles(t *testing.T, root string) []string {
	t.Helper()
	all, _ := filepath.Glob(filepath.Join(root, "*", "*"))
	var left []string
	for _, f := range all {
		if filepath.Base(f) != scratch.LockFile {
			left = append(left, f)
		}
	}
	return left
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// grepLines is the lines of s that contain sub, to show in a failure.
func grepLines(s, sub string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
