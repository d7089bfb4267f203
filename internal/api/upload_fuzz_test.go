package api

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/avatar-api/avatar-api/internal/problem"
)

// uploadCodes are the codes a refused POST /generate body may carry
// before its inputs are checked: clients switch on them.
var uploadCodes = map[string]bool{
	CodeBadRequest: true, CodeUnsupportedMedia: true, CodeRequestTooLarge: true, CodeImageTooLarge: true,
	CodeAudioTooLarge: true, CodeMissingField: true, CodeRequestTimeout: true, CodeInvalidRequest: true,
}

var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// FuzzParseUpload sends hostile bodies and Content-Type headers through
// parseUpload, as POST /generate does, and every refusal through the error
// mapping and the problem writer the API answers with. It never panics;
// every refusal is a 4xx problem+json with a stable code; an accepted
// upload holds two non-empty files within their limits; and nothing is
// left in the upload directory once the upload is refused or closed.
func FuzzParseUpload(f *testing.F) {
	for _, s := range uploadSeeds() {
		f.Add(s.contentType, s.body)
	}
	lim := UploadPolicy{ImageBytes: 4 << 10, AudioBytes: 4 << 10}.withDefaults()
	log := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		tmp := t.TempDir()
		req := httptest.NewRequest(http.MethodPost, "/generate", bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		up, err := parseUpload(rec, req, tmp, lim)
		if err != nil {
			checkRefusal(t, log, req, err)
		} else {
			checkAccepted(t, up, lim)
			if err := up.Close(); err != nil {
				t.Fatalf("closing the upload: %v", err)
			}
		}
		if left, _ := os.ReadDir(tmp); len(left) != 0 {
			t.Fatalf("the upload directory still holds %v", left)
		}
	})
}

// checkRefusal answers err as the API does and checks the answer.
func checkRefusal(t *testing.T, log *slog.Logger, req *http.Request, err error) {
	t.Helper()
	p := toProblem(context.Background(), log, http.StatusInternalServerError, "", []error{err})
	if p.Status < 400 || p.Status >= 500 || !uploadCodes[p.Code] {
		t.Fatalf("refused with %d %q (%v); want a 4xx with an upload code", p.Status, p.Code, err)
	}
	rec := httptest.NewRecorder()
	problem.Write(rec, req, p)
	if ct := rec.Header().Get("Content-Type"); ct != problem.ContentType {
		t.Fatalf("Content-Type %q", ct)
	}
	var got problem.Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("the problem body is not JSON: %v\n%s", err, rec.Body)
	}
	if rec.Code != p.Status || got.Status != p.Status || got.Code != p.Code || got.Type != "about:blank" ||
		got.Title != http.StatusText(p.Status) {
		t.Fatalf("answered %d with %+v; want %d %q", rec.Code, got, p.Status, p.Code)
	}
}

// checkAccepted checks an upload parseUpload accepted, and the fields
// submissionOf reads from it.
func checkAccepted(t *testing.T, up *upload, lim UploadPolicy) {
	t.Helper()
	for _, f := range []struct {
		path  string
		limit int64
	}{{up.imagePath, lim.ImageBytes}, {up.audioPath, lim.AudioBytes}} {
		fi, err := os.Stat(f.path)
		if err != nil || fi.Size() == 0 || fi.Size() > f.limit || filepath.Dir(f.path) != up.dir {
			t.Fatalf("accepted file %s: %v, %d bytes; want 1 to %d bytes in %s", f.path, err, fi.Size(), f.limit, up.dir)
		}
	}
	if !hexSHA256.MatchString(up.fingerprint) {
		t.Fatalf("fingerprint %q", up.fingerprint)
	}
	for name, v := range up.fields {
		if !textFields[name] || len(v) > maxFieldBytes {
			t.Fatalf("field %q of %d bytes accepted", name, len(v))
		}
	}
	if _, err := submissionOf(up); err != nil {
		p := toProblem(context.Background(), slog.New(slog.DiscardHandler), http.StatusInternalServerError, "", []error{err})
		if p.Status != http.StatusUnprocessableEntity || p.Code != CodeInvalidRequest {
			t.Fatalf("fields refused with %d %q (%v)", p.Status, p.Code, err)
		}
	}
}

type uploadSeed struct {
	contentType string
	body        []byte
}

// uploadSeeds are well-formed and broken bodies of the kinds the API's
// tests send (testdata/fuzz holds more, made from the fixtures).
func uploadSeeds() []uploadSeed {
	const ct = "multipart/form-data; boundary=b"
	part := func(name, filename, data string) string {
		disp := `form-data; name="` + name + `"`
		if filename != "" {
			disp += `; filename="` + filename + `"`
		}
		return "--b\r\nContent-Disposition: " + disp + "\r\n\r\n" + data + "\r\n"
	}
	png := "\x89PNG\r\n\x1a\n" + strings.Repeat("\x00", 16)
	wav := "RIFF\x24\x00\x00\x00WAVEfmt " + strings.Repeat("\x00", 16)
	good := part("image", "a.png", png) + part("audio", "a.wav", wav) + part("prompt", "", "A woman singing")
	seeds := []uploadSeed{
		{ct, []byte(good + "--b--\r\n")},
		{ct, []byte(good + part("width", "", "301") + part("seed", "", "x") + "--b--\r\n")},
		{ct, []byte(good + part("image", "b.png", png) + "--b--\r\n")},                       // repeated part
		{ct, []byte(part("video", "", "x") + "--b--\r\n")},                                   // unknown part
		{ct, []byte(part("image", "a.png", png) + part("audio", "a.wav", "") + "--b--\r\n")}, // empty part
		{ct, []byte(part("image", "a.png", strings.Repeat("x", 5<<10)) + "--b--\r\n")},       // too large
		{ct, []byte(good)}, // no closing boundary
		{ct, []byte("x")},  // not multipart at all
		{"application/json", []byte(`{"prompt":"x"}`)},
		{"multipart/form-data", []byte(good)}, // no boundary
		{`multipart/form-data; boundary="a b"`, []byte("--a b\r\n\r\nx\r\n--a b--")},
	}
	return seeds
}
