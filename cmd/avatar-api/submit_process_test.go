package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/avatar-api/avatar-api/internal/testkit"
)

// TestSubmit runs `avatar-api submit` as a customer would, against a
// running server: the MP4 is saved where -o says, and the job's way is
// shown on stderr. A refused input ends the command with the server's
// code and leaves no file; so does a missing key.
func TestSubmit(t *testing.T) {
	t.Parallel()
	p := start(t, t.TempDir())
	dir := t.TempDir()
	out := filepath.Join(dir, "avatar.mp4")
	submit := func(key string, args ...string) (stdout, stderr string, err error) {
		cmd := exec.Command(binary, append([]string{"submit", "--server", p.url, "--poll", "200ms"}, args...)...)
		cmd.Env = append(os.Environ(), "AVATAR_API_KEY="+key)
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		err = cmd.Run()
		return o.String(), e.String(), err
	}

	stdout, stderr, err := submit(apiKey, "--image", testkit.Fixture("astronaut.png"), "--audio", testkit.Fixture("speech_en_4s.wav"),
		"--prompt", "A woman singing", "--width", "256", "--height", "256", "-o", out)
	if err != nil {
		t.Fatalf("submit: %v\nstdout: %s\nstderr: %s", err, stdout, stderr)
	}
	m := testkit.Probe(t, out)
	if m.VideoCodec != "h264" || m.Width != 256 || m.Height != 256 || m.AudioCodec != "aac" {
		t.Errorf("saved video %+v", m)
	}
	if !strings.HasPrefix(stdout, out+": ") || !strings.Contains(stderr, "accepted") || !strings.Contains(stderr, "completed 100%") {
		t.Errorf("submit said\nstdout: %s\nstderr: %s", stdout, stderr)
	}

	// A text file is no portrait: the server's code, no file.
	bad := filepath.Join(dir, "portrait.png")
	if err := os.WriteFile(bad, []byte("not an image"), 0o600); err != nil {
		t.Fatal(err)
	}
	badOut := filepath.Join(dir, "bad.mp4")
	_, stderr, err = submit(apiKey, "--image", bad, "--audio", testkit.Fixture("speech_en_4s.wav"), "-o", badOut)
	if code := exitCode(err); code != 1 || !strings.Contains(stderr, "415 unsupported_image_type") {
		t.Errorf("a broken image: exit %d, stderr %s", code, stderr)
	}
	_, stderr, err = submit("", "--image", testkit.Fixture("astronaut.png"), "--audio", testkit.Fixture("speech_en_4s.wav"), "-o", badOut)
	if code := exitCode(err); code != 1 || !strings.Contains(stderr, "AVATAR_API_KEY is not set") {
		t.Errorf("no key: exit %d, stderr %s", code, stderr)
	}
	_, stderr, err = submit("av_live_wrong", "--image", testkit.Fixture("astronaut.png"), "--audio", testkit.Fixture("speech_en_4s.wav"), "-o", badOut)
	if code := exitCode(err); code != 1 || !strings.Contains(stderr, "401 unauthorized") {
		t.Errorf("a wrong key: exit %d, stderr %s", code, stderr)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "avatar.mp4 portrait.png" {
		t.Errorf("files left: %v, want the video and the bad portrait only", names)
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if e, ok := err.(*exec.ExitError); ok {
		return e.ExitCode()
	}
	return -1
}

// TestSubmitThroughFaults: between `avatar-api submit` and a real server,
// a proxy loses the answer of the first POST /generate (the job was made:
// a 503 comes back instead), answers the retry 409 in progress, fails the
// first GET /result with 502 and cuts the first download short. submit
// retries with the same Idempotency-Key and gets the one job back; the
// cut download fails the run without leaving a file, and the key it
// prints gets the same job's video on a second run: one job in all.
func TestSubmitThroughFaults(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[string]int{}           // requests by method and first path segment
	var target atomic.Pointer[url.URL] // the server, once started
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target.Load()); r.Out.Host = r.In.Host },
		ModifyResponse: func(resp *http.Response) error {
			r := resp.Request
			if r.Method == http.MethodPost && r.URL.Path == "/generate" && count(&mu, seen, "lost generate") == 1 {
				resp.Body.Close() // the job is made; its answer is lost
				fail(resp, http.StatusServiceUnavailable, "service_unavailable", "1")
			}
			return nil
		},
	}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := count(&mu, seen, r.Method+" "+strings.SplitN(r.URL.Path, "/", 3)[1]) == 1
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/generate" && count(&mu, seen, "generate answered") == 2:
			w.Header().Set("Content-Type", "application/problem+json")
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusConflict)
			fmt.Fprint(w, `{"type":"about:blank","title":"Conflict","status":409,"code":"idempotency_request_in_progress","detail":"in progress"}`)
			return
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/result/") && first:
			w.WriteHeader(http.StatusBadGateway)
			return
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/files/") && first:
			rec := httptest.NewRecorder()
			proxy.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(rec.Code)
			w.Write(body[:len(body)/2]) // and the connection ends
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	p := start(t, t.TempDir(), "PUBLIC_URL="+front.URL)
	u, err := url.Parse(p.url)
	if err != nil {
		t.Fatal(err)
	}
	target.Store(u)

	dir := t.TempDir()
	out := filepath.Join(dir, "avatar.mp4")
	run := func(args ...string) (string, error) {
		cmd := exec.Command(binary, append([]string{"submit", "--server", front.URL, "--poll", "200ms",
			"--image", testkit.Fixture("astronaut.png"), "--audio", testkit.Fixture("speech_en_4s.wav"), "--width", "256", "--height", "256", "-o", out}, args...)...)
		cmd.Env = append(os.Environ(), "AVATAR_API_KEY="+apiKey)
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	said, err := run()
	if exitCode(err) != 1 || !strings.Contains(said, "could not be saved") {
		t.Fatalf("a cut download: exit %d\n%s", exitCode(err), said)
	}
	for _, want := range []string{"503 service_unavailable", "409 idempotency_request_in_progress", "result: unexpected answer 502"} {
		if !strings.Contains(said, want) {
			t.Errorf("submit did not say it retried after %q:\n%s", want, said)
		}
	}
	if files, _ := os.ReadDir(dir); len(files) != 0 {
		t.Errorf("a failed download left %v", files)
	}
	key := regexp.MustCompile(`--idempotency-key (\S+)`).FindStringSubmatch(said)
	if key == nil {
		t.Fatalf("no key to re-run with:\n%s", said)
	}
	said, err = run("--idempotency-key", key[1])
	if err != nil {
		t.Fatalf("the re-run: %v\n%s", err, said)
	}
	if m := testkit.Probe(t, out); m.VideoCodec != "h264" || m.Width != 256 {
		t.Errorf("saved video %+v", m)
	}
	// One job in all, made by the first request.
	req, _ := http.NewRequest(http.MethodGet, p.url+"/jobs", nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Jobs []struct {
			ID string `json:"job_id"`
		} `json:"jobs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || len(list.Jobs) != 1 {
		t.Errorf("jobs made: %+v (%v), want one", list.Jobs, err)
	}
}

// count adds one to seen[what] and returns it.
func count(mu *sync.Mutex, seen map[string]int, what string) int {
	mu.Lock()
	defer mu.Unlock()
	seen[what]++
	return seen[what]
}

// fail turns resp into a problem answer.
func fail(resp *http.Response, status int, code, retryAfter string) {
	body := fmt.Sprintf(`{"type":"about:blank","title":%q,"status":%d,"code":%q}`, http.StatusText(status), status, code)
	resp.StatusCode, resp.Status = status, fmt.Sprintf("%d %s", status, http.StatusText(status))
	resp.Header = http.Header{"Content-Type": {"application/problem+json"}, "Retry-After": {retryAfter}}
	resp.Body = io.NopCloser(strings.NewReader(body))
	resp.ContentLength = int64(len(body))
}
