// Package storagetest is the behavioural contract of storage.Storage, run
// against every backend by that backend's own tests so they cannot drift
// apart.
package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/avatar-api/avatar-api/internal/storage"
)

// Option relaxes one check of Run for a test server with a known defect.
// A backend tested against a conforming server needs none.
type Option func(*options)

type options struct {
	abortedUploadsKept string
	uploadSizeUnbound  string
}

// ServerKeepsAbortedUploads tells Run that the server under test keeps the
// bytes it received when an upload from a plain io.Reader is aborted midway
// (the connection closes before Content-Length bytes arrive), as versitygw
// v1.8.0 does. Put must still fail; only the check that nothing was left
// behind is skipped, with reason as the skip message.
func ServerKeepsAbortedUploads(reason string) Option {
	return func(o *options) { o.abortedUploadsKept = reason }
}

// UploadSizeUnbound tells Run that the backend cannot make an upload URL
// refuse a body over its maxBytes, as an S3 presigned PUT cannot; reason is
// the skip message of the checks that it does.
func UploadSizeUnbound(reason string) Option {
	return func(o *options) { o.uploadSizeUnbound = reason }
}

// Run exercises the storage.Storage contract. newStore is called once per
// subtest and must return a store isolated from the others' (a fresh
// directory or key prefix), since subtests run in parallel, that signs URLs
// (and, if it checks them, checks their expiry) by the clock now rather than
// the system's: that is how the contract tests an expired URL without
// waiting. URLs the store returns must be fetchable with a plain net/http
// GET, and upload URLs usable with a plain PUT.
func Run(t *testing.T, newStore func(t *testing.T, now func() time.Time) storage.Storage, opts ...Option) {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	runObjects(t, func(t *testing.T) storage.Storage { return newStore(t, time.Now) }, o)
	runUploads(t, newStore, o)
	runList(t, func(t *testing.T) storage.Storage { return newStore(t, time.Now) })
}

// runObjects checks Put, Open, Delete, URL, Size and Ping.
func runObjects(t *testing.T, newStore func(t *testing.T) storage.Storage, o options) {

	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for _, key := range []string{"top.bin", "inputs/job-1/image.png", "a/b/c/d/e.txt"} {
			data := randomBytes(t, 1000)
			put(t, s, key, data)
			if got := read(t, s, key); !bytes.Equal(got, data) {
				t.Fatalf("Open(%q) returned %d bytes that differ from the %d put", key, len(got), len(data))
			}
		}
	})

	t.Run("EmptyObject", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		put(t, s, "empty", nil)
		if got := read(t, s, "empty"); len(got) != 0 {
			t.Fatalf("Open returned %d bytes, want 0", len(got))
		}
	})

	t.Run("Overwrite", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		put(t, s, "k", []byte("first version"))
		put(t, s, "k", []byte("second"))
		if got := string(read(t, s, "k")); got != "second" {
			t.Fatalf("Open = %q, want %q", got, "second")
		}
	})

	t.Run("LargeObjectStreamed", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		const size = 5 << 20
		data := randomBytes(t, size)
		// Hide any Seek or WriterTo so the backend must stream.
		r := struct{ io.Reader }{bytes.NewReader(data)}
		if err := s.Put(t.Context(), "results/large.mp4", r, size, "video/mp4"); err != nil {
			t.Fatalf("Put 5 MB: %v", err)
		}
		got := read(t, s, "results/large.mp4")
		if sha256.Sum256(got) != sha256.Sum256(data) {
			t.Fatalf("Open returned %d bytes that differ from the %d put", len(got), size)
		}
	})

	t.Run("OpenMissing", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		put(t, s, "dir/file", []byte("x"))
		for _, key := range []string{"missing", "dir/missing", "dir", "dir/file/below"} {
			rc, err := s.Open(t.Context(), key)
			if err == nil {
				rc.Close()
			}
			if !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Open(%q) error = %v, want storage.ErrNotFound", key, err)
			}
		}
	})

	t.Run("Delete", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		put(t, s, "d/one", []byte("1"))
		put(t, s, "d/two", []byte("2"))
		for range 2 { // the second time the object is already gone
			if err := s.Delete(t.Context(), "d/one"); err != nil {
				t.Fatalf("Delete: %v", err)
			}
		}
		if err := s.Delete(t.Context(), "never/existed"); err != nil {
			t.Fatalf("Delete of a missing key: %v", err)
		}
		assertMissing(t, s, "d/one")
		if got := string(read(t, s, "d/two")); got != "2" {
			t.Fatalf("sibling after Delete = %q, want %q", got, "2")
		}
	})

	t.Run("FailedPutLeavesNothing", func(t *testing.T) {
		t.Parallel()
		data := randomBytes(t, 256<<10)
		cases := []struct {
			name string
			// midway is set when bytes are already on the wire as the
			// upload fails, so only the server can discard them.
			midway bool
			put    func(ctx context.Context, s storage.Storage, key string) error
		}{
			{"ReaderError", true, func(ctx context.Context, s storage.Storage, key string) error {
				r := io.MultiReader(bytes.NewReader(data[:100<<10]), iotest.ErrReader(errors.New("disk on fire")))
				return s.Put(ctx, key, r, int64(len(data)), "")
			}},
			{"Shorter", false, func(ctx context.Context, s storage.Storage, key string) error {
				return s.Put(ctx, key, bytes.NewReader(data), int64(len(data)+1), "")
			}},
			{"Longer", false, func(ctx context.Context, s storage.Storage, key string) error {
				return s.Put(ctx, key, bytes.NewReader(data), int64(len(data)-1), "")
			}},
			{"LongerUnseekable", false, func(ctx context.Context, s storage.Storage, key string) error {
				return s.Put(ctx, key, struct{ io.Reader }{bytes.NewReader(data)}, 10, "")
			}},
			{"ContextCanceledMidway", true, func(ctx context.Context, s storage.Storage, key string) error {
				ctx, cancel := context.WithCancel(ctx)
				defer cancel()
				r := &cancelingReader{data: data[:64<<10], cancel: cancel, done: ctx.Done()}
				return s.Put(ctx, key, r, int64(len(data)), "")
			}},
			{"ContextCanceledBefore", false, func(ctx context.Context, s storage.Storage, key string) error {
				ctx, cancel := context.WithCancel(ctx)
				cancel()
				return s.Put(ctx, key, bytes.NewReader(data), int64(len(data)), "")
			}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				s := newStore(t)
				if err := tc.put(t.Context(), s, "new/object.bin"); err == nil {
					t.Fatal("Put succeeded, want an error")
				}
				if tc.midway && o.abortedUploadsKept != "" {
					t.Skip(o.abortedUploadsKept)
				}
				assertMissing(t, s, "new/object.bin")

				put(t, s, "old/object.bin", []byte("previous"))
				if err := tc.put(t.Context(), s, "old/object.bin"); err == nil {
					t.Fatal("Put over an existing object succeeded, want an error")
				}
				if got := read(t, s, "old/object.bin"); string(got) != "previous" {
					t.Fatalf("object after failed overwrite is %d bytes, want %q", len(got), "previous")
				}
			})
		}
	})

	t.Run("InvalidKeys", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := t.Context()
		expires := time.Now().Add(time.Hour)
		for _, key := range []string{"", "/abs", "../up", "a/../../up", "a/..", "./a", "a//b", "a/", `a\b`, "a\x00b", "a\nb",
			"results/" + strings.Repeat("n", storage.MaxSegmentLen+1)} {
			if err := s.Put(ctx, key, bytes.NewReader([]byte("x")), 1, ""); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("Put(%q) error = %v, want storage.ErrInvalidKey", key, err)
			}
			if _, err := s.Open(ctx, key); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("Open(%q) error = %v, want storage.ErrInvalidKey", key, err)
			}
			if err := s.Delete(ctx, key); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("Delete(%q) error = %v, want storage.ErrInvalidKey", key, err)
			}
			if _, err := s.URL(ctx, key, expires, ""); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("URL(%q) error = %v, want storage.ErrInvalidKey", key, err)
			}
			if _, err := s.UploadURL(ctx, key, expires, 1); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("UploadURL(%q) error = %v, want storage.ErrInvalidKey", key, err)
			}
			if _, err := s.Size(ctx, key); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("Size(%q) error = %v, want storage.ErrInvalidKey", key, err)
			}
		}
	})

	t.Run("URL", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		data := randomBytes(t, 64<<10)
		if err := s.Put(t.Context(), "results/job 1+2.mp4", bytes.NewReader(data), int64(len(data)), "video/mp4"); err != nil {
			t.Fatalf("Put: %v", err)
		}
		for _, filename := range []string{"avatar.mp4", `my "avatar" vidéo.mp4`, ""} {
			u, err := s.URL(t.Context(), "results/job 1+2.mp4", time.Now().Add(time.Hour), filename)
			if err != nil {
				t.Fatalf("URL: %v", err)
			}
			resp := get(t, u)
			if resp.status != http.StatusOK {
				t.Fatalf("GET %s: status %d, body %q", u, resp.status, resp.body)
			}
			if !bytes.Equal(resp.body, data) {
				t.Fatalf("GET returned %d bytes that differ from the %d put", len(resp.body), len(data))
			}
			if got, want := resp.header.Get("Content-Disposition"), storage.ContentDisposition(filename); got != want {
				t.Errorf("Content-Disposition = %q, want %q", got, want)
			}
			if got := resp.header.Get("Content-Type"); got != "video/mp4" {
				t.Errorf("Content-Type = %q, want video/mp4", got)
			}
		}
	})

	t.Run("URLExpiryInPast", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		put(t, s, "k", []byte("x"))
		if _, err := s.URL(t.Context(), "k", time.Now().Add(-time.Minute), ""); err == nil {
			t.Fatal("URL with a past expiry succeeded, want an error")
		}
	})

	t.Run("Size", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for key, n := range map[string]int{"empty": 0, "dir/one": 1, "dir/more": 70000} {
			put(t, s, key, randomBytes(t, n))
			if got, err := s.Size(t.Context(), key); err != nil || got != int64(n) {
				t.Errorf("Size(%q) = %d, %v; want %d", key, got, err, n)
			}
		}
		for _, key := range []string{"missing", "dir/missing", "dir", "dir/one/below"} {
			if _, err := s.Size(t.Context(), key); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Size(%q) error = %v, want storage.ErrNotFound", key, err)
			}
		}
	})

	t.Run("Ping", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		if err := s.Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
}

// put stores data under key or fails the test.
func put(t *testing.T, s storage.Storage, key string, data []byte) {
	t.Helper()
	if err := s.Put(t.Context(), key, bytes.NewReader(data), int64(len(data)), ""); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

// read returns the whole object under key or fails the test.
func read(t *testing.T, s storage.Storage, key string) []byte {
	t.Helper()
	rc, err := s.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return b
}

// assertMissing fails the test unless Open reports key as not found.
func assertMissing(t *testing.T, s storage.Storage, key string) {
	t.Helper()
	rc, err := s.Open(t.Context(), key)
	if err == nil {
		n, _ := io.Copy(io.Discard, rc)
		rc.Close()
		t.Fatalf("Open(%q) found %d bytes, want storage.ErrNotFound", key, n)
	}
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Open(%q) error = %v, want storage.ErrNotFound", key, err)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// get fetches u with a plain GET, as a browser following the link would.
func get(t *testing.T, u string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatalf("build request: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// cancelingReader returns data, then cancels the upload's context and fails
// once the cancellation is visible, like an upload whose client went away.
type cancelingReader struct {
	data   []byte
	cancel context.CancelFunc
	done   <-chan struct{}
}

func (r *cancelingReader) Read(p []byte) (int, error) {
	if len(r.data) > 0 {
		n := copy(p, r.data)
		r.data = r.data[n:]
		return n, nil
	}
	r.cancel()
	<-r.done
	return 0, context.Canceled
}
