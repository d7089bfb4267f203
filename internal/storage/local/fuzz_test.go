package local

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/problem"
	"github.com/avatar-api/avatar-api/internal/storage"
)

// FuzzSignedURL signs download URLs for fuzzed keys, expiries and file
// names and sends them, and tampered copies, to Handler as the API mounts
// it: a URL it signed is never refused for its signature; a signature
// passes only for the exact key, expiry and file name it was made for, and
// never for an upload; every refusal is a problem+json with its code.
func FuzzSignedURL(f *testing.F) {
	f.Add("results/job-1.mp4", int64(3600), "avatar.mp4", "results/job-1.mp4", "3600", "avatar.mp4")
	f.Add("results/job-1.mp4", int64(3600), "avatar.mp4", "results/job-2.mp4", "3600", "avatar.mp4")
	f.Add("results/job-1.mp4", int64(-1), "", "results/job-1.mp4", "-1", "")
	f.Add("results/job-1.mp4", int64(60), "a\"b\\c/d\r\n.mp4", "results/job-1.mp4", "+60", "a\"b\\c/d\r\n.mp4")
	f.Add("a b/c%2Fd?e#f;g+h", int64(1), "ünïcode.mp4", "a b/c%2Fd?e#f;g+h", "01", "ünïcode.mp4")
	f.Add("../x", int64(1), "", "x/../y", "1", "")
	root := filepath.Join(f.TempDir(), "store")
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	disk, err := New(root, "https://api.example.com/", []byte(strings.Repeat("s", MinSecretLen)))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = disk.Close() })
	disk.now = func() time.Time { return now }
	const stored = "results/job-1.mp4"
	if err := disk.Put(context.Background(), stored, strings.NewReader("video"), 5, "video/mp4"); err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(FilesPath, disk.Handler(slog.New(slog.DiscardHandler)))
	f.Fuzz(func(t *testing.T, key string, ttl int64, filename, key2, exp2, filename2 string) {
		if storage.ValidateKey(key) != nil {
			return
		}
		exp := now.Unix() + ttl%(1<<40)
		signed := disk.signedURL(key, exp, filename)
		code, pb := serve(t, mux, http.MethodGet, signed)
		switch {
		case exp <= now.Unix() && code == http.StatusGone && pb.Code == CodeLinkExpired:
		case exp > now.Unix() && key == stored && code == http.StatusOK:
		case exp > now.Unix() && key != stored && code == http.StatusNotFound && pb.Code == problem.CodeNotFound:
		default:
			t.Fatalf("GET %s (key %q, expires %d) = %d %q", signed, key, exp, code, pb.Code)
		}
		if code, pb := serve(t, mux, http.MethodPut, signed+"&max_bytes=10"); code != http.StatusForbidden || pb.Code != CodeInvalidSignature {
			t.Fatalf("PUT to a download URL = %d %q", code, pb.Code)
		}

		u, err := url.Parse(signed)
		if err != nil {
			t.Fatal(err)
		}
		q := url.Values{"expires": {exp2}, "sig": {u.Query().Get("sig")}}
		if filename2 != "" {
			q.Set("filename", filename2)
		}
		tampered := disk.publicURL + FilesPath + escapeKey(key2) + "?" + q.Encode()
		code, pb = serve(t, mux, http.MethodGet, tampered)
		exact := key2 == key && exp2 == strconv.FormatInt(exp, 10) && filename2 == filename
		switch {
		case storage.ValidateKey(key2) != nil:
			if code != http.StatusNotFound && (code < 300 || code > 399) { // the mux redirects unclean paths
				t.Fatalf("GET %s (invalid key %q) = %d %q", tampered, key2, code, pb.Code)
			}
		case !exact && (code != http.StatusForbidden || pb.Code != CodeInvalidSignature):
			t.Fatalf("GET %s signed for (%q, %d, %q) = %d %q; want 403", tampered, key, exp, filename, code, pb.Code)
		case exact && code == http.StatusForbidden:
			t.Fatalf("GET %s, the URL rebuilt exactly, = 403", tampered)
		}
	})
}

// serve sends one request to h and returns the status and, for a problem,
// its body.
func serve(t *testing.T, h http.Handler, method, target string) (int, problem.Problem) {
	t.Helper()
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatalf("the signed URL %q does not parse: %v", target, err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var pb problem.Problem
	if rec.Code >= 400 {
		if ct := rec.Header().Get("Content-Type"); ct != problem.ContentType {
			t.Fatalf("%s %s = %d with Content-Type %q", method, target, rec.Code, ct)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &pb); err != nil || pb.Status != rec.Code || pb.Code == "" {
			t.Fatalf("%s %s = %d with body %q", method, target, rec.Code, rec.Body)
		}
	}
	return rec.Code, pb
}
