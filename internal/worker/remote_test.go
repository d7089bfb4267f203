package worker_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/store"
)

// keeping is a real generator that also keeps the requests it was given
// and, as a remote worker would, fetches the inputs from their URLs (served
// by files) while the job runs: its inputs are deleted when it ends.
type keeping struct {
	generator.Generator
	files   http.Handler
	mu      sync.Mutex
	reqs    []generator.Request
	fetched map[string]*httptest.ResponseRecorder // by key
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
	return k.Generator.Generate(ctx, req, p)
}

// TestRequestNamesStorage: the worker's request carries, besides the local
// copies, each input's storage key with a signed URL that fetches that very
// input until the attempt's deadline, and the key the video is stored
// under: what a generator running elsewhere needs to fetch and upload itself.
func TestRequestNamesStorage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	gen := &keeping{Generator: b.deps.Generator, files: b.files.Handler(b.deps.Log), fetched: map[string]*httptest.ResponseRecorder{}}
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
	if r.Image.Key != j.ImageKey || r.Audio.Key != j.AudioKey || r.Output.Key != done.ResultKey {
		t.Fatalf("keys %q %q %q, want the job's inputs %q %q and its video %q",
			r.Image.Key, r.Audio.Key, r.Output.Key, j.ImageKey, j.AudioKey, done.ResultKey)
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
	if r.Output.URL != "" || !r.Output.Expires.IsZero() {
		t.Errorf("output URL %q (expires %s): storage signs no uploads yet", r.Output.URL, r.Output.Expires)
	}
}
