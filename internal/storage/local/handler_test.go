package local

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

const videoKey = "results/job-1.mp4"

var videoData = strings.Repeat("0123456789", 1000)

func TestHandler(t *testing.T) {
	t.Parallel()
	b := setup(t)
	storePut(t, b.store, videoKey, videoData)
	storePut(t, b.store, "results/other.mp4", "other")
	good, err := b.store.URL(t.Context(), videoKey, time.Now().Add(time.Hour), "avatar.mp4")
	if err != nil {
		t.Fatalf("URL: %v", err)
	}

	t.Run("200", func(t *testing.T) {
		t.Parallel()
		resp, body := do(t, http.MethodGet, good, nil)
		if resp.StatusCode != http.StatusOK || body != videoData {
			t.Fatalf("status %d, %d body bytes; want 200 and the file", resp.StatusCode, len(body))
		}
		h := resp.Header
		if got := h.Get("Content-Type"); got != "video/mp4" {
			t.Errorf("Content-Type = %q", got)
		}
		if got := h.Get("Content-Disposition"); got != `attachment; filename="avatar.mp4"` {
			t.Errorf("Content-Disposition = %q", got)
		}
		maxAge, ok := strings.CutPrefix(h.Get("Cache-Control"), "private, max-age=")
		if n, err := strconv.Atoi(maxAge); !ok || err != nil || n < 3590 || n > 3600 {
			t.Errorf("Cache-Control = %q, want private with max-age about 3600", h.Get("Cache-Control"))
		}
		if got := h.Get("Accept-Ranges"); got != "bytes" {
			t.Errorf("Accept-Ranges = %q", got)
		}
	})

	t.Run("206Range", func(t *testing.T) {
		t.Parallel()
		resp, body := do(t, http.MethodGet, good, http.Header{"Range": {"bytes=10-19"}})
		if resp.StatusCode != http.StatusPartialContent {
			t.Fatalf("status %d, want 206", resp.StatusCode)
		}
		if body != videoData[10:20] {
			t.Errorf("body = %q, want %q", body, videoData[10:20])
		}
		if got, want := resp.Header.Get("Content-Range"), "bytes 10-19/"+strconv.Itoa(len(videoData)); got != want {
			t.Errorf("Content-Range = %q, want %q", got, want)
		}
	})

	t.Run("200Head", func(t *testing.T) {
		t.Parallel()
		resp, body := do(t, http.MethodHead, good, nil)
		if resp.StatusCode != http.StatusOK || body != "" {
			t.Fatalf("status %d, body %q; want 200 and no body", resp.StatusCode, body)
		}
		if got := resp.Header.Get("Content-Length"); got != strconv.Itoa(len(videoData)) {
			t.Errorf("Content-Length = %q", got)
		}
	})

	t.Run("403", func(t *testing.T) {
		t.Parallel()
		tests := map[string]string{
			"TamperedSignature": withQuery(t, good, "sig", flipLast(query(t, good, "sig"))),
			"NonHexSignature":   withQuery(t, good, "sig", "not-hex"),
			"MissingSignature":  withQuery(t, good, "sig", ""),
			"LaterExpiry":       withQuery(t, good, "expires", strconv.FormatInt(time.Now().Add(48*time.Hour).Unix(), 10)),
			"OtherFilename":     withQuery(t, good, "filename", "evil.exe"),
			"NoFilename":        withQuery(t, good, "filename", ""),
			"OtherKey":          strings.Replace(good, "job-1.mp4", "other.mp4", 1),
			// Expired and tampered: the signature is checked first.
			"TamperedExpired": withQuery(t, good, "expires", "1000"),
		}
		for name, u := range tests {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				assertProblem(t, u, http.StatusForbidden, "invalid_signature")
			})
		}
	})

	t.Run("404", func(t *testing.T) {
		t.Parallel()
		missing, err := b.store.URL(t.Context(), "results/missing.mp4", time.Now().Add(time.Hour), "")
		if err != nil {
			t.Fatalf("URL: %v", err)
		}
		assertProblem(t, missing, http.StatusNotFound, "not_found")
	})

	t.Run("405", func(t *testing.T) {
		t.Parallel()
		resp, _ := do(t, http.MethodPost, good, nil)
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("status %d, want 405", resp.StatusCode)
		}
	})

	t.Run("410", func(t *testing.T) {
		t.Parallel()
		expired := b.store.signedURL(videoKey, time.Now().Add(-time.Second).Unix(), "avatar.mp4")
		assertProblem(t, expired, http.StatusGone, "link_expired")
	})
}

// assertProblem GETs u and checks for an RFC 9457 answer with status and code.
func assertProblem(t *testing.T, u string, status int, code string) {
	t.Helper()
	resp, body := do(t, http.MethodGet, u, nil)
	checkProblem(t, resp, body, status, code)
}

// checkProblem checks that resp, whose body is body, is an RFC 9457 answer
// with status and code.
func checkProblem(t *testing.T, resp *http.Response, body string, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, body)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", got)
	}
	var p map[string]any
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, body)
	}
	want := map[string]any{"type": "about:blank", "title": http.StatusText(status), "status": float64(status), "code": code}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("problem %s = %v, want %v", k, p[k], v)
		}
	}
	if d, _ := p["detail"].(string); d == "" {
		t.Error("problem has no detail")
	}
}

func do(t *testing.T, method, u string, h http.Header) (*http.Response, string) {
	t.Helper()
	return send(t, method, u, h, nil)
}

// send sends body (nil: none) with method and headers h to u. A
// *strings.Reader goes with its Content-Length, any other reader chunked.
func send(t *testing.T, method, u string, h http.Header, body io.Reader) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func query(t *testing.T, u, name string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Query().Get(name)
}

// withQuery returns u with parameter name set to v, or removed if v is "".
func withQuery(t *testing.T, u, name, v string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := p.Query()
	if v == "" {
		q.Del(name)
	} else {
		q.Set(name, v)
	}
	p.RawQuery = q.Encode()
	return p.String()
}

func flipLast(s string) string {
	last := s[len(s)-1]
	if last == '0' {
		return s[:len(s)-1] + "1"
	}
	return s[:len(s)-1] + "0"
}
