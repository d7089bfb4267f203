package worker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/storage"
	"github.com/avatar-api/avatar-api/internal/store"
)

// keeping is a real generator that also keeps the requests it was given
// and, as a remote worker would, fetches the inputs from their URLs (served
// by files) while the job runs: its inputs are deleted when it ends. With
// upload set it also PUTs the video to the output's URL, as the RunPod
// backend will, and leaves OutputPath empty.
type keeping struct {
	generator.Generator
	files    http.Handler
	upload   bool
	mu       sync.Mutex
	reqs     []generator.Request
	fetched  map[string]*httptest.ResponseRecorder // by key
	uploaded map[string]*uploadRecord              // by key
}

// uploadRecord is a video keeping PUT and the answer it got.
type uploadRecord struct {
	video  []byte
	status int
}

func (k *keeping) Generate(ctx context.Context, req generator.Request, p generator.ProgressFunc) (generator.Result, error) {
	k.mu.Lock()
	k.reqs = append(k.reqs, req)
	for _, in := range []generator.Object{req.Remote.Image, req.Remote.Audio} {
		rec := httptest.NewRecorder()
		k.files.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, in.URL, nil))
		k.fetched[in.Key] = rec
	}
	k.mu.Unlock()
	res, err := k.Generator.Generate(ctx, req, p)
	if err != nil || !k.upload {
		return res, err
	}
	video, err := os.ReadFile(req.OutputPath)
	if err != nil {
		return generator.Result{}, err
	}
	if err := os.Remove(req.OutputPath); err != nil {
		return generator.Result{}, err
	}
	rec := httptest.NewRecorder()
	k.files.ServeHTTP(rec, httptest.NewRequest(http.MethodPut, req.Remote.Output.URL, bytes.NewReader(video)))
	k.mu.Lock()
	k.uploaded[req.Remote.Output.Key] = &uploadRecord{video: video, status: rec.Code}
	k.mu.Unlock()
	if rec.Code/100 != 2 {
		return generator.Result{}, fmt.Errorf("PUT of the video: status %d: %s", rec.Code, rec.Body)
	}
	res.Uploaded = true
	return res, nil
}

// TestRequestNamesStorage: the worker's request carries, besides the local
// copies, each input's storage key with a signed URL that fetches that very
// input until the attempt's deadline, and the key the video is stored
// under with a URL to upload it to until then: what a generator running
// elsewhere needs to fetch and upload itself. The job completes with the
// video the generator uploaded.
func TestRequestNamesStorage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	gen := newKeeping(b)
	gen.upload = true
	b.deps.Generator = gen
	before := time.Now()
	b.start(t)
	j := b.submit(t)
	done := b.wait(t, j.ID, store.StateCompleted)

	gen.mu.Lock()
	defer gen.mu.Unlock()
	if len(gen.reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(gen.reqs))
	}
	r := gen.reqs[0].Remote
	if r.Image.Key != j.ImageKey || r.Audio.Key != j.AudioKey || !strings.HasPrefix(r.Output.Key, "staging/"+j.ID+"-1-") ||
		done.ResultKey != "results/"+j.ID+"-1.mp4" {
		t.Fatalf("keys %q %q %q → %q, want the job's inputs %q %q, a staging key of the run, and its result key",
			r.Image.Key, r.Audio.Key, r.Output.Key, done.ResultKey, j.ImageKey, j.AudioKey)
	}
	for _, c := range []struct {
		in      generator.Object
		fixture string
	}{{r.Image, "astronaut.png"}, {r.Audio, "speech_en_4s.wav"}} {
		if c.in.Expires.Before(before) || c.in.Expires.After(time.Now().Add(b.deps.Backend.Timeout)) {
			t.Errorf("%s: URL expires %s, want within the attempt's limit %s", c.in.Key, c.in.Expires, b.deps.Backend.Timeout)
		}
		rec := gen.fetched[c.in.Key]
		want, err := os.ReadFile(filepath.Join(fixtures, c.fixture))
		if err != nil {
			t.Fatal(err)
		}
		if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), want) {
			t.Errorf("%s: GET its URL: %d, %d bytes; want 200 and the %d bytes stored", c.in.Key, rec.Code, rec.Body.Len(), len(want))
		}
	}
	if r.Output.Expires.Before(before) || r.Output.Expires.After(time.Now().Add(b.deps.Backend.Timeout)) {
		t.Errorf("upload URL expires %s, want within the attempt's limit %s", r.Output.Expires, b.deps.Backend.Timeout)
	}
	up := gen.uploaded[r.Output.Key]
	if up == nil || up.status != http.StatusCreated {
		t.Fatalf("PUT of the video to its URL: %+v, want 201", up)
	}
	if n := int64(len(up.video)); r.Output.MaxBytes < n || r.Output.MaxBytes > 100<<20 {
		t.Errorf("upload bound %d bytes for a %d-byte 128×128 video of 5 s, want at least that and at most 100 MiB", r.Output.MaxBytes, n)
	}
	if got := readObject(t, b, done.ResultKey); !bytes.Equal(got, up.video) || done.ResultBytes != int64(len(up.video)) {
		t.Errorf("result is %d bytes (recorded %d), want the %d uploaded", len(got), done.ResultBytes, len(up.video))
	}
	// The staged copy is gone, and a PUT to the still valid URL after the
	// video was accepted does not reach the result.
	if _, err := b.files.Size(context.Background(), r.Output.Key); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("staged video %s: %v, want deleted", r.Output.Key, err)
	}
	req := httptest.NewRequest(http.MethodPut, r.Output.URL, strings.NewReader("not the video"))
	rec := httptest.NewRecorder()
	b.files.Handler(b.deps.Log).ServeHTTP(rec, req)
	if got := readObject(t, b, done.ResultKey); !bytes.Equal(got, up.video) {
		t.Errorf("a PUT after acceptance (%d) changed the result", rec.Code)
	}
}

// TestUploadOverBoundFails: a video uploaded past the output's bound, as
// S3 (which cannot refuse it) would store it, fails the attempt (the job
// waits for a retry) and is deleted.
func TestUploadOverBoundFails(t *testing.T) {
	t.Parallel()
	b := setup(t)
	keys := make(chan string, 1)
	b.deps.Generator = generatorFunc(func(ctx context.Context, req generator.Request, _ generator.ProgressFunc) (generator.Result, error) {
		key := req.Remote.Output.Key
		select {
		case keys <- key:
		default: // a retry's
		}
		big := bytes.Repeat([]byte{0}, int(req.Remote.Output.MaxBytes)+1)
		if err := b.files.Put(ctx, key, bytes.NewReader(big), int64(len(big)), "video/mp4"); err != nil {
			return generator.Result{}, err
		}
		return generator.Result{Uploaded: true, Size: 1}, nil
	})
	b.start(t)
	j := b.submit(t)
	b.wait(t, j.ID, store.StateQueued, "retryable")
	key := <-keys
	if _, err := b.files.Size(context.Background(), key); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Size(%q) error = %v after the job failed, want the oversized video deleted", key, err)
	}
}

func newKeeping(b *bundle) *keeping {
	return &keeping{Generator: b.deps.Generator, files: b.files.Handler(b.deps.Log),
		fetched: map[string]*httptest.ResponseRecorder{}, uploaded: map[string]*uploadRecord{}}
}

// generatorFunc is a Generator made from a function.
type generatorFunc func(context.Context, generator.Request, generator.ProgressFunc) (generator.Result, error)

func (f generatorFunc) Generate(ctx context.Context, req generator.Request, p generator.ProgressFunc) (generator.Result, error) {
	return f(ctx, req, p)
}

func readObject(t *testing.T, b *bundle, key string) []byte {
	t.Helper()
	rc, err := b.files.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
