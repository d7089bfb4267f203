package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/api"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

// docCommand is one shell command of a document's code block, its
// continuation lines joined.
type docCommand struct {
	line int // where it starts in the document
	text string
}

// docBlock is a fenced shell block of a document that runs curl: the
// commands to run, in order.
type docBlock struct {
	file     string
	line     int // of the opening fence
	commands []docCommand
}

// docCurlBlocks reads the fenced blocks of a Markdown document (```sh,
// ```bash, or ``` with no language) that run curl, and keeps their
// commands that do: comments, output lines and the assignments of
// placeholders (KEY=av_live_…, JOB_ID=0193…) are left out, as the test
// sets those variables itself.
func docCurlBlocks(t *testing.T, file string) []docBlock {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", file))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []docBlock
	var cur *docBlock
	var pending strings.Builder // a command continued with a backslash
	pendingLine := 0
	runsCurl := regexp.MustCompile(`(^|[\s($;|&])curl\s`)
	for i, line := range strings.Split(string(b), "\n") {
		n := i + 1
		if fence, ok := strings.CutPrefix(line, "```"); ok {
			if cur == nil {
				if lang := strings.TrimSpace(fence); lang == "sh" || lang == "bash" || lang == "" {
					cur = &docBlock{file: file, line: n}
				} else {
					cur = &docBlock{line: -1} // another language: skipped
				}
				continue
			}
			if cur.line > 0 && len(cur.commands) > 0 {
				blocks = append(blocks, *cur)
			}
			cur = nil
			continue
		}
		if cur == nil || cur.line < 0 {
			continue
		}
		if pending.Len() == 0 {
			pendingLine = n
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			pending.WriteString(strings.TrimSpace(cont) + " ")
			continue
		}
		pending.WriteString(strings.TrimSpace(line))
		cmd := strings.TrimSpace(pending.String())
		pending.Reset()
		if cmd == "" || strings.HasPrefix(cmd, "#") || !runsCurl.MatchString(cmd) {
			continue
		}
		cur.commands = append(cur.commands, docCommand{line: pendingLine, text: cmd})
	}
	return blocks
}

// docFixtures are the fixtures of the file names the documents upload
// that are not under testdata/.
var docFixtures = map[string]string{"portrait.png": "astronaut.png", "speech.wav": "speech_en_4s.wav"}

// docUploads are the files a command uploads (curl -F name=@path).
var docUploads = regexp.MustCompile(`=@([^"'\s;]+)`)

// docOutputs are the MP4 files a command writes (curl -o name.mp4).
var docOutputs = regexp.MustCompile(`-o\s+"?([^"'\s;]+\.mp4)`)

// TestDocCurl runs every curl command of docs/API.md and README.md, as a
// reader would paste it, against a live service: each block's commands as
// one bash script, with `curl` failing on any HTTP error. The documents'
// placeholders are the test's: http://localhost:8080 the service,
// your-api-key a key, {job_id} a completed job (a queued one, of a service
// without workers, for a cancel), https://your.app/hooks/… a receiver; and
// so are the variables the commands read (BASE, KEY, JOB_ID, URL). Then it
// runs the Python client of docs/API.md, which must download an MP4.
func TestDocCurl(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "curl", "jq", "uuidgen", "ffprobe", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the documents' commands need %s (scripts/install-deps.sh --test installs it): %v", tool, err)
		}
	}
	live := setup(t, options{})
	idle := setup(t, options{noWorkers: true}) // its jobs stay queued: they can be cancelled

	var mu sync.Mutex
	var hooks []http.Header // the webhooks received
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		hooks = append(hooks, r.Header.Clone())
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)

	j, resp := live.submit(t, keyA, portrait, speech, part{Name: "prompt", Value: "A woman singing"})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("submitting the documents' job: %d", resp.StatusCode)
	}
	live.waitFor(t, keyA, j.ID, "completed")
	var res api.Result
	if r := live.call(t, http.MethodGet, "/result/"+j.ID, keyA, nil, "", &res); r.StatusCode != http.StatusOK {
		t.Fatalf("result of the documents' job: %d", r.StatusCode)
	}

	// queuedJob is a fresh job of the idle service, for a cancel command.
	queuedJob := func() string {
		q, resp := idle.submit(t, keyA, portrait, speech)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("submitting a job to cancel: %d", resp.StatusCode)
		}
		return q.ID
	}
	placeholders := strings.NewReplacer("http://localhost:8080", live.url, "your-api-key", keyA, "{job_id}", j.ID,
		"https://your.app/hooks/", receiver.URL+"/hooks/")

	minimum := map[string]int{"docs/API.md": 15, "README.md": 8}
	for _, file := range []string{"docs/API.md", "README.md"} {
		blocks := docCurlBlocks(t, file)
		ran := 0
		for _, b := range blocks {
			ran += len(b.commands)
			cmds := make([]docCommand, len(b.commands))
			for i, c := range b.commands {
				text := c.text
				if strings.Contains(text, "/cancel/") {
					text = strings.NewReplacer("http://localhost:8080", idle.url, "$BASE", idle.url, "{job_id}", queuedJob(),
						"$JOB_ID", queuedJob()).Replace(text)
				}
				cmds[i] = docCommand{line: c.line, text: placeholders.Replace(text)}
			}
			runDocBlock(t, b, cmds, []string{"BASE=" + live.url, "KEY=" + keyA, "JOB_ID=" + j.ID, "URL=" + res.URL})
		}
		t.Logf("%s: %d curl commands in %d blocks", file, ran, len(blocks))
		if ran < minimum[file] {
			t.Errorf("%s: found %d curl commands, expected at least %d: is the parser broken?", file, ran, minimum[file])
		}
	}
	testkit.WaitFor(t, 30*time.Second, "the webhook of the documents' generate with a webhook_url", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(hooks) > 0 && hooks[0].Get("webhook-signature") != ""
	})

	t.Run("python client", func(t *testing.T) {
		runDocPython(t, live.url)
	})
	t.Run("go client", func(t *testing.T) {
		runDocGo(t, live.url)
	})
}

// runDocBlock runs a block's commands as one bash script in a directory
// of its own that holds the files the commands upload, and fails with the
// command that failed and what it printed.
func runDocBlock(t *testing.T, b docBlock, cmds []docCommand, env []string) {
	t.Helper()
	dir := t.TempDir()
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	// Every curl fails on an HTTP error, and says what it got on stderr.
	script.WriteString(`curl() { command curl -q --fail-with-body --max-time 60 -w '%{stderr}[curl: %{http_code} %{method} %{url_effective}]\n' "$@"; }` + "\n")
	for i, c := range cmds {
		for _, m := range docUploads.FindAllStringSubmatch(c.text, -1) {
			copyDocFixture(t, b.file, c.line, dir, m[1])
		}
		// The index of the command running, for the report; the check
		// after it catches a failure that set -e lets pass (a && list).
		fmt.Fprintf(&script, "echo %d > .doc-command\n%s\n[ $? = 0 ] || exit 97\n", i, c.text)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append(env, "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")...)
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		at, _ := os.ReadFile(filepath.Join(dir, ".doc-command"))
		i, convErr := strconv.Atoi(strings.TrimSpace(string(at)))
		if convErr != nil || i < 0 || i >= len(cmds) {
			t.Errorf("%s:%d: the block failed before its first command: %v\n%s", b.file, b.line, err, out)
			return
		}
		t.Errorf("%s:%d: the command failed (%v):\n  %s\noutput:\n%s", b.file, cmds[i].line, err, cmds[i].text, out)
		return
	}
	t.Logf("%s:%d: %d commands in %s", b.file, b.line, len(cmds), time.Since(start).Round(time.Millisecond))
	for _, c := range cmds {
		for _, m := range docOutputs.FindAllStringSubmatch(c.text, -1) {
			requireMP4(t, fmt.Sprintf("%s:%d", b.file, c.line), filepath.Join(dir, m[1]))
		}
	}
}

// copyDocFixture puts the fixture of name (portrait.png, or
// testdata/astronaut.png) at name under dir.
func copyDocFixture(t *testing.T, file string, line int, dir, name string) {
	t.Helper()
	src, ok := docFixtures[name]
	if rest, under := strings.CutPrefix(name, "testdata/"); under {
		src, ok = rest, true
	}
	if !ok {
		t.Fatalf("%s:%d uploads %s: no fixture stands for it (docFixtures)", file, line, name)
	}
	b, err := os.ReadFile(fixture(src))
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// requireMP4 fails unless path is an MP4 (its first box is ftyp) with a
// video stream ffprobe reads.
func requireMP4(t *testing.T, where, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%s: no video downloaded: %v", where, err)
		return
	}
	if len(b) < 12 || !bytes.Equal(b[4:8], []byte("ftyp")) {
		t.Errorf("%s: %s is not an MP4 (%d bytes, %.12q)", where, filepath.Base(path), len(b), b)
		return
	}
	if m := testkit.Probe(t, path); m.VideoCodec != "h264" || m.Duration <= 0 {
		t.Errorf("%s: %s: video %q of %.2f s", where, filepath.Base(path), m.VideoCodec, m.Duration)
	}
}

// runDocPython runs the Python client of docs/API.md (the block after its
// <!-- client-python --> marker) as its section says to, against the
// service at base: it must download the MP4.
func runDocPython(t *testing.T, base string) {
	m := regexp.MustCompile("(?s)<!-- client-python[^>]*-->\n```python\n(.*?)```").FindStringSubmatch(readAPIDoc(t))
	if m == nil {
		t.Fatal("docs/API.md: no Python client after a <!-- client-python --> marker")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "avatar.py"), []byte(m[1]), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"portrait.png", "speech.wav"} {
		copyDocFixture(t, "docs/API.md", 0, dir, name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", "avatar.py", "portrait.png", "speech.wav", "A woman singing", "avatar.mp4")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "AVATAR_API_KEY="+keyA, "AVATAR_API_URL="+base,
		"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python3 avatar.py: %v\n%s", err, out)
	}
	t.Logf("python3 avatar.py in %s:\n%s", time.Since(start).Round(time.Millisecond), out)
	requireMP4(t, "docs/API.md (Python client)", filepath.Join(dir, "avatar.mp4"))
}

// runDocGo runs the Go client of docs/API.md (the block after its
// <!-- client-go --> marker), built with this module's apiclient, against
// the service at base: it must download the MP4.
func runDocGo(t *testing.T, base string) {
	m := regexp.MustCompile("(?s)<!-- client-go[^>]*-->\n```go\n(.*?)```").FindStringSubmatch(readAPIDoc(t))
	if m == nil {
		t.Fatal("docs/API.md: no Go client after a <!-- client-go --> marker")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "avatar.go")
	if err := os.WriteFile(src, []byte(m[1]), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"portrait.png", "speech.wav"} {
		copyDocFixture(t, "docs/API.md", 0, dir, name)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Built in this module (its go.mod names apiclient), run in dir.
	bin := filepath.Join(dir, "avatar")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, src)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build of the Go client: %v\n%s", err, out)
	}
	cmd := exec.CommandContext(ctx, bin, "portrait.png", "speech.wav", "A woman singing", "avatar.mp4")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "AVATAR_API_KEY="+keyA, "AVATAR_API_URL="+base)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the Go client: %v\n%s", err, out)
	}
	t.Logf("the Go client:\n%s", out)
	requireMP4(t, "docs/API.md (Go client)", filepath.Join(dir, "avatar.mp4"))
}
