package local

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const uploadKey = "results/job-1-1.mp4"

func TestUploadHandler(t *testing.T) {
	t.Parallel()

	t.Run("201Then204", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		u := signUpload(t, b.store, uploadKey, time.Now().Add(time.Hour), 1<<20)
		for i, want := range []int{http.StatusCreated, http.StatusNoContent} {
			content := strings.Repeat(strconv.Itoa(i), 100+i)
			resp, body := send(t, http.MethodPut, u, nil, strings.NewReader(content))
			if resp.StatusCode != want || body != "" {
				t.Fatalf("PUT #%d: status %d, body %q; want %d and no body", i+1, resp.StatusCode, body, want)
			}
			if got := storeRead(t, b.store, uploadKey); got != content {
				t.Fatalf("after PUT #%d the object is %q, want %q", i+1, got, content)
			}
		}
	})

	t.Run("Chunked", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		u := signUpload(t, b.store, uploadKey, time.Now().Add(time.Hour), 1<<20)
		resp, _ := send(t, http.MethodPut, u, nil, struct{ io.Reader }{strings.NewReader(videoData)})
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("chunked PUT: status %d, want 201", resp.StatusCode)
		}
		if got := storeRead(t, b.store, uploadKey); got != videoData {
			t.Fatalf("object is %d bytes, want the %d sent", len(got), len(videoData))
		}
	})

	t.Run("403", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		storePut(t, b.store, "results/other.mp4", "other")
		good := signUpload(t, b.store, uploadKey, time.Now().Add(time.Hour), 1000)
		download, err := b.store.URL(t.Context(), uploadKey, time.Now().Add(time.Hour), "")
		if err != nil {
			t.Fatal(err)
		}
		tests := map[string]string{
			"TamperedSignature": withQuery(t, good, "sig", flipLast(query(t, good, "sig"))),
			"MissingSignature":  withQuery(t, good, "sig", ""),
			"LaterExpiry":       withQuery(t, good, "expires", strconv.FormatInt(time.Now().Add(48*time.Hour).Unix(), 10)),
			"LargerMaximum":     withQuery(t, good, "max_bytes", "1000000"),
			"NoMaximum":         withQuery(t, good, "max_bytes", ""),
			"OtherKey":          strings.Replace(good, "job-1-1.mp4", "other.mp4", 1),
			"DownloadURL":       download,
			// The download signature over the same fields, under the
			// download key: the upload key is not the secret.
			"DownloadKey": withQuery(t, good, "sig", hex.EncodeToString(b.store.sign(uploadKey, query(t, good, "expires"), ""))),
			// Expired and tampered: the signature is checked first.
			"TamperedExpired": withQuery(t, good, "expires", "1000"),
		}
		for name, u := range tests {
			t.Run(name, func(t *testing.T) {
				resp, body := send(t, http.MethodPut, u, nil, strings.NewReader("forged"))
				checkProblem(t, resp, body, http.StatusForbidden, "invalid_signature")
			})
		}
		if got := listFiles(t, b.root); len(got) != 1 || got[0] != "results/other.mp4" {
			t.Fatalf("root holds %v after forged uploads, want only results/other.mp4", got)
		}
		if got := storeRead(t, b.store, "results/other.mp4"); got != "other" {
			t.Fatalf("results/other.mp4 = %q, want it unchanged", got)
		}
	})

	t.Run("410", func(t *testing.T) {
		t.Parallel()
		var skew atomic.Int64
		b := setupClock(t, func() time.Time { return time.Now().Add(time.Duration(skew.Load())) })
		skew.Store(int64(-2 * time.Hour))
		u := signUpload(t, b.store, uploadKey, time.Now().Add(-time.Hour), 1000)
		skew.Store(0)
		resp, body := send(t, http.MethodPut, u, nil, strings.NewReader("late"))
		checkProblem(t, resp, body, http.StatusGone, "link_expired")
		if got := listFiles(t, b.root); len(got) != 0 {
			t.Fatalf("root holds %v after an expired upload", got)
		}
	})

	t.Run("413", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		storePut(t, b.store, uploadKey, "previous")
		u := signUpload(t, b.store, uploadKey, time.Now().Add(time.Hour), 100)
		for name, body := range map[string]io.Reader{
			"Declared":   strings.NewReader(strings.Repeat("x", 101)),
			"Undeclared": struct{ io.Reader }{strings.NewReader(strings.Repeat("x", 64<<10))},
		} {
			resp, rbody := send(t, http.MethodPut, u, nil, body)
			checkProblem(t, resp, rbody, http.StatusRequestEntityTooLarge, "upload_too_large")
			if got := listFiles(t, b.root); len(got) != 1 {
				t.Fatalf("%s: root holds %v, want only the previous object", name, got)
			}
			if got := storeRead(t, b.store, uploadKey); got != "previous" {
				t.Fatalf("%s: object is %q after a refused upload, want it unchanged", name, got)
			}
		}
	})

	t.Run("405ListsPut", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		u := signUpload(t, b.store, uploadKey, time.Now().Add(time.Hour), 100)
		resp, _ := send(t, http.MethodPost, u, nil, strings.NewReader("x"))
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD, PUT" {
			t.Fatalf("POST: status %d, Allow %q; want 405 and GET, HEAD, PUT", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
}

// TestUploadCutShortLeavesNothing: a client that declares more than it
// sends and hangs up leaves no object and no temporary file.
func TestUploadCutShortLeavesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	u, err := url.Parse(signUpload(t, b.store, uploadKey, time.Now().Add(time.Hour), 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 100000\r\n\r\n%s", u.RequestURI(), u.Host, strings.Repeat("x", 50000))
	// Wait until the server has read what was sent: an answer to a
	// pipelined request on the same connection would come after, so close
	// the write side and read whatever comes back.
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("cut-short upload answered %d, want a refusal", resp.StatusCode)
		}
	}
	conn.Close()
	b.srv.Close() // waits for the handler to finish
	if got := listFiles(t, b.root); len(got) != 0 {
		t.Fatalf("root holds %v after an upload cut short, want nothing", got)
	}
}

func signUpload(t *testing.T, s *Disk, key string, expires time.Time, maxBytes int64) string {
	t.Helper()
	u, err := s.UploadURL(t.Context(), key, expires, maxBytes)
	if err != nil {
		t.Fatalf("UploadURL: %v", err)
	}
	return u
}
