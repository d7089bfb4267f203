package api_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/api"
	"github.com/avatar-api/avatar-api/internal/generator/face"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

var portrait = part{Name: "image", File: fixture("astronaut.png")}
var speech = part{Name: "audio", File: fixture("speech_en_4s.wav")}
var prompt = part{Name: "prompt", Value: "A woman singing"}

func TestGenerateToDownload(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{})
	j, resp := tb.submit(t, keyA, portrait, speech, prompt)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /generate = %d", resp.StatusCode)
	}
	if j.ID == "" || (j.State != "queued" && j.State != "processing") || resp.Header.Get("Location") != j.Links.Status {
		t.Fatalf("accepted job: %+v, Location %q", j, resp.Header.Get("Location"))
	}
	if resp.Header.Get("X-Request-ID") == "" {
		t.Error("no X-Request-ID echoed")
	}
	done := tb.waitFor(t, keyA, j.ID, "completed", "failed")
	if done.State != "completed" || done.Progress != 1 || done.FinishedAt == nil || done.ExpiresAt == nil {
		t.Fatalf("finished job: %+v", done)
	}
	var res api.Result
	if resp := tb.call(t, http.MethodGet, "/result/"+j.ID, keyA, nil, "", &res); resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET /result = %d, Cache-Control %q: the signed URL must not be cached", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	dl, err := http.Get(res.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Body.Close()
	if dl.StatusCode != http.StatusOK || dl.Header.Get("Content-Type") != "video/mp4" {
		t.Fatalf("download: %d %s", dl.StatusCode, dl.Header.Get("Content-Type"))
	}
	path := filepath.Join(t.TempDir(), "out.mp4")
	data, _ := io.ReadAll(dl.Body)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if int64(len(data)) != res.SizeBytes {
		t.Errorf("downloaded %d bytes, result says %d", len(data), res.SizeBytes)
	}
	m := testkit.Probe(t, path)
	want := testkit.Probe(t, speech.File).Duration
	if m.VideoCodec != "h264" || m.AudioCodec != "aac" || m.Width != 256 || m.Height != 256 || m.FPS != "25/1" || math.Abs(m.Duration-want) > 0.04 {
		t.Fatalf("video: %+v; want h264 aac 256x256 25/1 %.3fs", m, want)
	}
	// The job's inputs are gone; only the video remains.
	for _, f := range filesUnder(t, filepath.Join(tb.dataDir, "objects")) {
		if strings.Contains(f, "inputs") {
			t.Errorf("input left behind: %s", f)
		}
	}
	// Another customer cannot see the job.
	for _, p := range []string{"/status/", "/result/"} {
		var pb problemBody
		if resp := tb.call(t, http.MethodGet, p+j.ID, keyB, nil, "", &pb); resp.StatusCode != 404 || pb.Code != "not_found" {
			t.Errorf("GET %s of another customer's job = %d %s", p, resp.StatusCode, pb.Code)
		}
	}
	// The API key never reaches the logs.
	if strings.Contains(tb.logs.String(), keyA) {
		t.Error("the API key appears in the logs")
	}
	if !strings.Contains(tb.logs.String(), `"job_id":"`+j.ID) || !strings.Contains(tb.logs.String(), `"request_id"`) {
		t.Error("logs lack job_id or request_id")
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{imageBytes: 600 << 10, audioBytes: 400 << 10})
	long := strings.Repeat("x", 201)
	small := part{Name: "image", File: fixture("chelsea.png")} // under the limit; its face is not checked yet
	cases := []struct {
		name   string
		parts  []part
		status int
		code   string
	}{
		{"truncated image", []part{{Name: "image", File: fixture("truncated.jpg")}, speech}, 422, "invalid_image"},
		{"truncated audio", []part{small, {Name: "audio", File: fixture("truncated.wav")}}, 422, "invalid_audio"},
		{"image as audio", []part{small, {Name: "audio", File: fixture("chelsea.png")}}, 415, "unsupported_audio_type"},
		{"audio as image", []part{{Name: "image", File: fixture("silence_3s.wav")}, speech}, 415, "unsupported_image_type"},
		{"no audio", []part{small, prompt}, 422, "missing_field"},
		{"no image", []part{speech}, 422, "missing_field"},
		{"image too large", []part{{Name: "image", File: fixture("astronaut.png")}, speech}, 413, "image_too_large"},
		{"audio too large", []part{{Name: "image", File: fixture("chelsea.png")}, {Name: "audio", File: fixture("speech_en_12s.wav")}}, 413, "audio_too_large"},
		{"prompt too long", []part{{Name: "image", File: fixture("chelsea.png")}, speech, {Name: "prompt", Value: long}}, 422, "prompt_too_long"},
		{"odd width", []part{{Name: "image", File: fixture("chelsea.png")}, speech, {Name: "width", Value: "301"}}, 422, "invalid_request"},
		{"unknown part", []part{{Name: "video", Value: "x"}}, 400, "bad_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body, ct := multipartBody(t, c.parts...)
			var pb problemBody
			resp := tb.call(t, http.MethodPost, "/generate", keyA, body, ct, &pb)
			if resp.StatusCode != c.status || pb.Code != c.code || pb.Status != c.status {
				t.Fatalf("= %d %q (%s), want %d %q", resp.StatusCode, pb.Code, pb.Detail, c.status, c.code)
			}
			if got := resp.Header.Get("Content-Type"); got != "application/problem+json" {
				t.Errorf("Content-Type = %q", got)
			}
			if pb.RequestID == "" || pb.RequestID != resp.Header.Get("X-Request-ID") {
				t.Errorf("request_id %q, header %q", pb.RequestID, resp.Header.Get("X-Request-ID"))
			}
			if strings.Contains(pb.Detail, tb.dataDir) {
				t.Errorf("detail leaks a server path: %s", pb.Detail)
			}
		})
	}
	t.Run("not multipart", func(t *testing.T) {
		var pb problemBody
		resp := tb.call(t, http.MethodPost, "/generate", keyA, strings.NewReader(`{"prompt":"x"}`), "application/json", &pb)
		if resp.StatusCode != 415 || pb.Code != "unsupported_media_type" {
			t.Fatalf("= %d %s", resp.StatusCode, pb.Code)
		}
	})
	t.Run("declared too large", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, tb.url+"/generate", strings.NewReader("x"))
		req.Header.Set("Authorization", "Bearer "+keyA)
		req.Header.Set("Content-Type", "multipart/form-data; boundary=x")
		req.ContentLength = 10 << 30
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err == nil {
			defer resp.Body.Close()
			if resp.StatusCode != 413 {
				t.Fatalf("= %d, want 413", resp.StatusCode)
			}
		}
	})
	if files := append(filesUnder(t, filepath.Join(tb.dataDir, "uploads")), filesUnder(t, filepath.Join(tb.dataDir, "objects"))...); len(files) != 0 {
		t.Errorf("refused requests left files: %v", files)
	}
}

func TestAuthAndRouting(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{})
	var pb problemBody
	resp := tb.call(t, http.MethodGet, "/jobs", "", nil, "", &pb)
	if resp.StatusCode != 401 || pb.Code != "unauthorized" || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no key: %d %s", resp.StatusCode, pb.Code)
	}
	for _, path := range []string{"/jobs", "/whoami", "/admin/keys"} { // /metrics: see TestRateLimits
		if resp := tb.call(t, http.MethodGet, path, keyA, nil, "", nil); resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s with a key: %d, Cache-Control %q", path, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
	}
	resp = tb.call(t, http.MethodGet, "/jobs", "wrong-key-wrong-key-wrong", nil, "", &pb)
	if resp.StatusCode != 401 {
		t.Fatalf("wrong key: %d", resp.StatusCode)
	}
	resp = tb.call(t, http.MethodGet, "/status/not-a-uuid", keyA, nil, "", &pb)
	if resp.StatusCode != 404 || pb.Code != "not_found" {
		t.Fatalf("bad id: %d %s", resp.StatusCode, pb.Code)
	}
	resp = tb.call(t, http.MethodGet, "/nowhere", "", nil, "", &pb)
	if resp.StatusCode != 404 || pb.Code != "not_found" || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("unknown route: %d %s", resp.StatusCode, pb.Code)
	}
	resp = tb.call(t, http.MethodDelete, "/generate", keyA, nil, "", &pb)
	if resp.StatusCode != 405 || pb.Code != "method_not_allowed" {
		t.Fatalf("wrong method: %d %s", resp.StatusCode, pb.Code)
	}
	if resp := tb.call(t, http.MethodGet, "/health", "", nil, "", nil); resp.StatusCode != 200 {
		t.Fatalf("health: %d", resp.StatusCode)
	}
	if resp := tb.call(t, http.MethodGet, "/ready", "", nil, "", nil); resp.StatusCode != 200 {
		t.Fatalf("ready: %d", resp.StatusCode)
	}
	var spec map[string]any
	if resp := tb.call(t, http.MethodGet, "/openapi.json", "", nil, "", &spec); resp.StatusCode != 200 || spec["openapi"] != "3.1.0" {
		t.Fatalf("openapi: %d %v", resp.StatusCode, spec["openapi"])
	}
}

func TestIdempotencyCancelList(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{noWorkers: true})
	long := part{Name: "audio", File: fixture("speech_en_12s.wav")}
	body, ct := multipartBody(t, portrait, long, prompt)
	data, _ := io.ReadAll(body)
	var first, again api.Job
	r1 := tb.call(t, http.MethodPost, "/generate", keyA, strings.NewReader(string(data)), ct, &first, "Idempotency-Key", "k1")
	r2 := tb.call(t, http.MethodPost, "/generate", keyA, strings.NewReader(string(data)), ct, &again, "Idempotency-Key", "k1")
	if r1.StatusCode != 202 || r2.StatusCode != 202 || first.ID != again.ID || r2.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %d %s %s %q", r1.StatusCode, r2.StatusCode, first.ID, again.ID, r2.Header.Get("Idempotent-Replayed"))
	}
	if _, r := tb.submit(t, keyA, portrait, speech); r.StatusCode != 202 {
		t.Fatalf("second job: %d", r.StatusCode)
	}
	var pb problemBody
	body, ct = multipartBody(t, portrait, long, part{Name: "prompt", Value: "different"})
	if r := tb.call(t, http.MethodPost, "/generate", keyA, body, ct, &pb, "Idempotency-Key", "k1"); r.StatusCode != 422 || pb.Code != "idempotency_key_reused" {
		t.Fatalf("reused key with other inputs: %d %s", r.StatusCode, pb.Code)
	}

	var cancelled api.Job
	if r := tb.call(t, http.MethodPost, "/cancel/"+first.ID, keyB, nil, "", &pb); r.StatusCode != 404 {
		t.Fatalf("cancel by another customer: %d", r.StatusCode)
	}
	if r := tb.call(t, http.MethodPost, "/cancel/"+first.ID, keyA, nil, "", &cancelled); r.StatusCode != 200 || cancelled.State != "cancelled" {
		t.Fatalf("cancel: %d %s", r.StatusCode, cancelled.State)
	}
	if r := tb.call(t, http.MethodPost, "/cancel/"+first.ID, keyA, nil, "", &pb); r.StatusCode != 409 || pb.Code != "job_already_ended" {
		t.Fatalf("second cancel: %d %s", r.StatusCode, pb.Code)
	}
	if r := tb.call(t, http.MethodGet, "/result/"+first.ID, keyA, nil, "", &pb); r.StatusCode != 409 || pb.Code != "job_has_no_result" {
		t.Fatalf("result of cancelled job: %d %s", r.StatusCode, pb.Code)
	}
	for _, f := range filesUnder(t, filepath.Join(tb.dataDir, "objects")) {
		if strings.Contains(f, first.ID) {
			t.Errorf("input of the cancelled job left: %s", f)
		}
	}

	var page struct {
		Jobs       []api.Job `json:"jobs"`
		NextCursor string    `json:"next_cursor"`
	}
	if r := tb.call(t, http.MethodGet, "/jobs?limit=1", keyA, nil, "", &page); r.StatusCode != 200 || len(page.Jobs) != 1 || page.NextCursor == "" {
		t.Fatalf("list: %d %+v", r.StatusCode, page)
	}
	newest := page.Jobs[0].ID
	if r := tb.call(t, http.MethodGet, "/jobs?limit=1&cursor="+page.NextCursor, keyA, nil, "", &page); r.StatusCode != 200 || len(page.Jobs) != 1 || page.Jobs[0].ID == newest {
		t.Fatalf("second page: %+v", page)
	}
	var other struct {
		Jobs []api.Job `json:"jobs"`
	}
	tb.call(t, http.MethodGet, "/jobs", keyB, nil, "", &other)
	if len(other.Jobs) != 0 {
		t.Fatalf("customer B sees %d jobs of A", len(other.Jobs))
	}
}

// TestCancelRunning: a generation in progress stops within about a second of
// its cancellation: its queue entry ends cancelled, the job's events are its
// start and its cancel, and no video or input is left.
func TestCancelRunning(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{})
	j, _ := tb.submit(t, keyA, portrait, part{Name: "audio", File: fixture("speech_en_12s.wav")},
		part{Name: "width", Value: "1920"}, part{Name: "height", Value: "1080"}, part{Name: "fps", Value: "60"})
	tb.waitFor(t, keyA, j.ID, "processing")
	var cancelled api.Job
	if r := tb.call(t, http.MethodPost, "/cancel/"+j.ID, keyA, nil, "", &cancelled); r.StatusCode != 200 || cancelled.State != "cancelled" {
		t.Fatalf("cancel: %d %s", r.StatusCode, cancelled.State)
	}
	tb.waitQueue(t, j.ID, "cancelled")
	if j := tb.waitFor(t, keyA, j.ID, "cancelled", "completed"); j.State != "cancelled" {
		t.Fatalf("after cancel the job is %s", j.State)
	}
	if got := strings.Join(tb.transitions(t, j.ID), " "); got != "create start cancel" {
		t.Fatalf("events: %s, want create start cancel", got)
	}
	if files := filesUnder(t, filepath.Join(tb.dataDir, "objects")); len(files) != 0 {
		t.Fatalf("files left after cancelling: %v", files)
	}
}

func TestResultExpires(t *testing.T) {
	t.Parallel()
	const ttl = 5 * time.Second
	tb := setup(t, options{resultTTL: ttl})
	j, _ := tb.submit(t, keyA, portrait, speech)
	done := tb.waitFor(t, keyA, j.ID, "completed")
	var res api.Result
	// The video expires RESULT_TTL after the job completed: judged from
	// the job's own times, not from when this test got to look (a loaded
	// machine may take seconds to).
	if r := tb.call(t, http.MethodGet, "/result/"+j.ID, keyA, nil, "", &res); r.StatusCode != http.StatusOK {
		t.Fatalf("result: %d, %.1f s after completion", r.StatusCode, time.Since(*done.FinishedAt).Seconds())
	}
	if d := res.ExpiresAt.Sub(*done.FinishedAt); d < ttl-time.Second || d > ttl+time.Second {
		t.Fatalf("expires_at %s is %s after finished_at, want RESULT_TTL (%s)", res.ExpiresAt, d, ttl)
	}
	tb.waitFor(t, keyA, j.ID, "expired")
	var pb problemBody
	if r := tb.call(t, http.MethodGet, "/result/"+j.ID, keyA, nil, "", &pb); r.StatusCode != 410 || pb.Code != "result_expired" {
		t.Fatalf("result after expiry: %d %s", r.StatusCode, pb.Code)
	}
	if files := filesUnder(t, filepath.Join(tb.dataDir, "objects")); len(files) != 0 {
		t.Fatalf("files left after expiry: %v", files)
	}
	if r, err := http.Get(res.URL); err == nil {
		r.Body.Close()
		if r.StatusCode < 400 {
			t.Fatalf("old download link still works: %d", r.StatusCode)
		}
	}
}

// TestErrorCodesDocumented keeps docs/API.md's error tables and the code
// in step, both ways: every error code constant of the module (a constant
// named Code… with a snake_case value, in any package) is in a table, every
// code in the tables is defined, and no problem is made with a code written
// as a literal, which would escape this test.
func TestErrorCodesDocumented(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..")
	doc, err := os.ReadFile(filepath.Join(root, "docs", "API.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, errorsPart, _ := strings.Cut(string(doc), "\n## Errors\n")
	errorsPart, _, _ = strings.Cut(errorsPart, "\n## ")
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)`").FindAllStringSubmatch(errorsPart, -1) {
		documented[m[1]] = true
	}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)`, `([a-z_]+)`, `([a-z_]+)` \\|").FindAllStringSubmatch(errorsPart, -1) {
		documented[m[2]], documented[m[3]] = true, true
	}
	defined := map[string]string{} // code → where
	snake := regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") ||
			strings.Contains(path, "mediatest") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ValueSpec:
				for i, name := range n.Names {
					if !strings.HasPrefix(name.Name, "Code") || i >= len(n.Values) {
						continue
					}
					if lit, ok := n.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						if v, _ := strconv.Unquote(lit.Value); snake.MatchString(v) {
							defined[v] = fset.Position(name.Pos()).String()
						}
					}
				}
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if pkg, _ := sel.X.(*ast.Ident); pkg != nil && pkg.Name == "problem" && (sel.Sel.Name == "New" || sel.Sel.Name == "Newf") && len(n.Args) > 1 {
					if lit, ok := n.Args[1].(*ast.BasicLit); ok && lit.Value != `""` {
						t.Errorf("%s: a problem with the literal code %s: name it as a Code… constant", fset.Position(lit.Pos()), lit.Value)
					}
				}
			case *ast.KeyValueExpr:
				if key, ok := n.Key.(*ast.Ident); ok && key.Name == "Code" {
					if lit, ok := n.Value.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						t.Errorf("%s: an error with the literal code %s: name it as a Code… constant", fset.Position(lit.Pos()), lit.Value)
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(defined) < 40 {
		t.Fatalf("found only %d codes: the walk is broken", len(defined))
	}
	for code, where := range defined {
		if !documented[code] {
			t.Errorf("docs/API.md does not document the code %s (%s)", code, where)
		}
	}
	for code := range documented {
		if _, ok := defined[code]; !ok {
			t.Errorf("docs/API.md documents %s, which no Code… constant defines", code)
		}
	}
}

// TestStorageOutage: when storage fails, a valid request gets 503 with
// Retry-After (it may be retried with its Idempotency-Key), not a 500, and
// leaves nothing behind.
func TestStorageOutage(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{noWorkers: true})
	if err := os.RemoveAll(filepath.Join(tb.dataDir, "objects")); err != nil { // the disk is gone
		t.Fatal(err)
	}
	body, ct := multipartBody(t, portrait, speech)
	var pb problemBody
	resp := tb.call(t, http.MethodPost, "/generate", keyA, body, ct, &pb)
	if resp.StatusCode != 503 || pb.Code != "service_unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("= %d %s Retry-After %q", resp.StatusCode, pb.Code, resp.Header.Get("Retry-After"))
	}
	if files := filesUnder(t, filepath.Join(tb.dataDir, "uploads")); len(files) != 0 {
		t.Fatalf("upload left: %v", files)
	}
	if !strings.Contains(tb.logs.String(), "dependency unavailable") {
		t.Errorf("the cause was not logged:\n%s", tb.logs.String())
	}
}

// TestUploadSlots: with every upload slot taken (here by another
// customer's client that stalls mid-body), the next upload waits 10 s,
// then gets 503 with Retry-After.
func TestUploadSlots(t *testing.T) {
	t.Parallel()
	clock := &testkit.Clock{}
	tb := setup(t, options{noWorkers: true, maxUploads: 1, clock: clock})
	pr, pw := io.Pipe()
	defer pw.Close()
	stalled, _ := http.NewRequest(http.MethodPost, tb.url+"/generate", pr)
	stalled.Header.Set("Authorization", "Bearer "+keyB)
	stalled.Header.Set("Content-Type", "multipart/form-data; boundary=b")
	go func() {
		if resp, err := http.DefaultClient.Do(stalled); err == nil {
			resp.Body.Close()
		}
	}()
	_, _ = pw.Write([]byte("--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\r\n\x89PNG"))
	tb.waitUploads(t, 1) // the stalled upload holds the slot
	waiting := tb.submitAsync(keyA, portrait, speech)
	clock.WaitTimers(t, 1)
	clock.Advance(9 * time.Second)
	if clock.Timers() != 1 {
		t.Fatal("refused before its 10 s wait for a slot ran out")
	}
	clock.Advance(time.Second)
	r := <-waiting
	if r.status != 503 || r.problem.Code != "service_unavailable" || r.header.Get("Retry-After") == "" {
		t.Fatalf("= %d %s, Retry-After %q (%v)", r.status, r.problem.Code, r.header.Get("Retry-After"), r.err)
	}
}

// TestNoFaceRefusedBeforeQueueing: with the face check, a
// portrait without a face is refused at once, unless face_fallback is set.
func TestNoFaceRefusedBeforeQueueing(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{noWorkers: true, checker: face.NewChecker()})
	cat := part{Name: "image", File: fixture("chelsea.png")}
	body, ct := multipartBody(t, cat, speech)
	var pb problemBody
	if r := tb.call(t, http.MethodPost, "/generate", keyA, body, ct, &pb); r.StatusCode != 422 || pb.Code != "no_face_detected" {
		t.Fatalf("cat: %d %s", r.StatusCode, pb.Code)
	}
	j, r := tb.submit(t, keyA, cat, speech, part{Name: "face_fallback", Value: "true"})
	if r.StatusCode != 202 || !j.FaceFallback {
		t.Fatalf("cat with face_fallback: %d %+v", r.StatusCode, j)
	}
	if _, r := tb.submit(t, keyA, portrait, speech); r.StatusCode != 202 {
		t.Fatalf("portrait: %d", r.StatusCode)
	}
	if files := filesUnder(t, filepath.Join(tb.dataDir, "uploads")); len(files) != 0 {
		t.Fatalf("uploads left: %v", files)
	}
}
