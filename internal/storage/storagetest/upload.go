package storagetest

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/storage"
)

// runUploads checks UploadURL, and that no URL outlives its expiry.
func runUploads(t *testing.T, newStore func(t *testing.T, now func() time.Time) storage.Storage, o options) {
	plainStore := func(t *testing.T) storage.Storage { return newStore(t, time.Now) }
	hour := time.Now().Add(time.Hour)

	t.Run("UploadURL", func(t *testing.T) {
		t.Parallel()
		s := plainStore(t)
		const key = "results/job 1+2.mp4"
		u := uploadURL(t, s, key, hour, 1<<20)
		first, second := randomBytes(t, 64<<10), randomBytes(t, 1000)
		if resp := upload(t, u, bytes.NewReader(first)); resp.status/100 != 2 {
			t.Fatalf("PUT: status %d, body %q", resp.status, resp.body)
		}
		if got := read(t, s, key); !bytes.Equal(got, first) {
			t.Fatalf("Open returned %d bytes that differ from the %d uploaded", len(got), len(first))
		}
		// The link may be used again: the object is replaced.
		if resp := upload(t, u, bytes.NewReader(second)); resp.status/100 != 2 {
			t.Fatalf("second PUT: status %d, body %q", resp.status, resp.body)
		}
		if n, err := s.Size(t.Context(), key); err != nil || n != int64(len(second)) {
			t.Fatalf("Size after the second PUT = %d, %v; want %d", n, err, len(second))
		}
		dl, err := s.URL(t.Context(), key, hour, "")
		if err != nil {
			t.Fatalf("URL: %v", err)
		}
		if resp := get(t, dl); resp.status != http.StatusOK || !bytes.Equal(resp.body, second) {
			t.Fatalf("GET of the uploaded object: status %d, %d bytes; want 200 and the %d uploaded", resp.status, len(resp.body), len(second))
		}
	})

	t.Run("UploadURLArguments", func(t *testing.T) {
		t.Parallel()
		s := plainStore(t)
		if _, err := s.UploadURL(t.Context(), "k", time.Now().Add(-time.Minute), 1); err == nil {
			t.Error("UploadURL with a past expiry succeeded, want an error")
		}
		for _, n := range []int64{0, -1} {
			if _, err := s.UploadURL(t.Context(), "k", hour, n); err == nil {
				t.Errorf("UploadURL with maxBytes %d succeeded, want an error", n)
			}
		}
	})

	t.Run("Expired", func(t *testing.T) {
		t.Parallel()
		var skew atomic.Int64
		s := newStore(t, func() time.Time { return time.Now().Add(time.Duration(skew.Load())) })
		put(t, s, "old", []byte("stored"))
		// Signed two hours ago for an hour.
		skew.Store(int64(-2 * time.Hour))
		past := time.Now().Add(-time.Hour)
		up := uploadURL(t, s, "new", past, 1<<20)
		down, err := s.URL(t.Context(), "old", past, "")
		if err != nil {
			t.Fatalf("URL: %v", err)
		}
		skew.Store(0)
		if resp := upload(t, up, bytes.NewReader([]byte("late"))); !refused(resp.status) {
			t.Errorf("PUT to an expired upload URL: status %d, want a refusal", resp.status)
		}
		assertMissing(t, s, "new")
		if resp := get(t, down); !refused(resp.status) || bytes.Equal(resp.body, []byte("stored")) {
			t.Errorf("GET of an expired URL: status %d, want a refusal", resp.status)
		}
	})

	t.Run("UploadURLTampered", func(t *testing.T) {
		t.Parallel()
		s := plainStore(t)
		put(t, s, "dir/other", []byte("other"))
		good := uploadURL(t, s, "dir/object", hour, 1<<20)
		for name, u := range tampered(t, good, "dir/object", "dir/other") {
			if resp := upload(t, u, bytes.NewReader([]byte("forged"))); !refused(resp.status) {
				t.Errorf("%s: PUT status %d, want a refusal", name, resp.status)
			}
		}
		assertMissing(t, s, "dir/object")
		if got := string(read(t, s, "dir/other")); got != "other" {
			t.Errorf("dir/other = %q after forged uploads, want it unchanged", got)
		}
	})

	t.Run("DownloadURLCannotUpload", func(t *testing.T) {
		t.Parallel()
		s := plainStore(t)
		put(t, s, "k", []byte("original"))
		for _, filename := range []string{"", "avatar.mp4"} {
			u, err := s.URL(t.Context(), "k", hour, filename)
			if err != nil {
				t.Fatalf("URL: %v", err)
			}
			if resp := upload(t, u, bytes.NewReader([]byte("replaced"))); !refused(resp.status) {
				t.Errorf("PUT to a download URL: status %d, want a refusal", resp.status)
			}
		}
		if got := string(read(t, s, "k")); got != "original" {
			t.Fatalf("object = %q after PUTs to its download URL, want it unchanged", got)
		}
	})

	t.Run("UploadURLCannotDownload", func(t *testing.T) {
		t.Parallel()
		s := plainStore(t)
		put(t, s, "k", []byte("secret video"))
		resp := get(t, uploadURL(t, s, "k", hour, 1<<20))
		if !refused(resp.status) || bytes.Contains(resp.body, []byte("secret video")) {
			t.Fatalf("GET of an upload URL: status %d, body %q; want a refusal", resp.status, resp.body)
		}
	})

	t.Run("UploadTooLarge", func(t *testing.T) {
		t.Parallel()
		if o.uploadSizeUnbound != "" {
			t.Skip(o.uploadSizeUnbound)
		}
		s := plainStore(t)
		const limit = 1000
		data := randomBytes(t, limit+1)
		u := uploadURL(t, s, "big", hour, limit)
		for name, body := range map[string]io.Reader{
			"Declared":   bytes.NewReader(data),
			"Undeclared": struct{ io.Reader }{bytes.NewReader(data)}, // sent chunked
		} {
			if resp := upload(t, u, body); resp.status != http.StatusRequestEntityTooLarge {
				t.Errorf("%s: PUT of %d bytes under a %d-byte limit: status %d, want 413", name, len(data), limit, resp.status)
			}
			assertMissing(t, s, "big")
		}
		if resp := upload(t, u, bytes.NewReader(data[:limit])); resp.status/100 != 2 {
			t.Fatalf("PUT of exactly the limit: status %d, body %q", resp.status, resp.body)
		}
	})
}

// uploadURL signs an upload URL or fails the test.
func uploadURL(t *testing.T, s storage.Storage, key string, expires time.Time, maxBytes int64) string {
	t.Helper()
	u, err := s.UploadURL(t.Context(), key, expires, maxBytes)
	if err != nil {
		t.Fatalf("UploadURL(%q): %v", key, err)
	}
	return u
}

// refused reports whether status is a client error: the URL was not
// honoured, and not because the server failed.
func refused(status int) bool { return status >= 400 && status < 500 }

// tampered returns variants of the signed URL u for key: each query
// parameter altered, each removed, and the path naming other instead.
func tampered(t *testing.T, u, key, other string) map[string]string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatalf("parse %s: %v", u, err)
	}
	out := map[string]string{}
	for name := range p.Query() {
		for how, change := range map[string]func(url.Values){
			"Altered": func(q url.Values) { q.Set(name, flipLast(q.Get(name))) },
			"Removed": func(q url.Values) { q.Del(name) },
		} {
			v := *p
			q := v.Query()
			change(q)
			v.RawQuery = q.Encode()
			out[how+" "+name] = v.String()
		}
	}
	v := *p
	v.Path, v.RawPath = strings.Replace(p.Path, key, other, 1), ""
	out["OtherKey"] = v.String()
	return out
}

// flipLast changes the last character of s, or makes it "0" if s is empty.
func flipLast(s string) string {
	if s == "" {
		return "0"
	}
	if s[len(s)-1] == '0' {
		return s[:len(s)-1] + "1"
	}
	return s[:len(s)-1] + "0"
}

// upload PUTs body to u as a remote worker would. A *bytes.Reader is sent
// with its Content-Length; any other reader chunked.
func upload(t *testing.T, u string, body io.Reader) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, u, body)
	if err != nil {
		t.Fatalf("build request: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}
