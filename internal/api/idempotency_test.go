package api_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/api"
	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/media"
	"github.com/avatar-api/avatar-api/internal/media/mediatest"
	"github.com/avatar-api/avatar-api/internal/ratelimit"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

// rawBody is a multipart body of the given parts, as bytes (to send twice).
func rawBody(t *testing.T, image, audio []byte) ([]byte, string) {
	t.Helper()
	return testkit.Multipart(t, part{Name: "image", Data: image}, part{Name: "audio", Data: audio})
}

func (tb *testBundle) post(t *testing.T, key string, body []byte, ct string, out any, header ...string) *http.Response {
	t.Helper()
	return tb.call(t, http.MethodPost, "/generate", key, bytes.NewReader(body), ct, out, header...)
}

// TestFingerprintSeesPartBoundaries: the first fingerprint joined part
// names and contents without lengths, so moving bytes from the end of the
// image to the start of the audio gave the same fingerprint, and a
// different request was answered as a replay. Here the first request's
// audio is a WAV carrying, in a chunk players skip, the text "audio\0" and
// a whole second WAV; the second request moves everything up to that text
// into the image. Both requests are valid; they are different requests.
func TestFingerprintSeesPartBoundaries(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{noWorkers: true})
	png, _ := os.ReadFile(portrait.File)
	inner, _ := os.ReadFile(speech.File)
	wav := mediatest.WAVWithChunk(inner, "junk", append([]byte("audio\x00"), inner...))
	cut := bytes.Index(wav, []byte("audio\x00"))
	movedImage := append(append(append([]byte{}, png...), "audio\x00"...), wav[:cut]...)
	movedAudio := wav[cut+len("audio\x00"):]

	body1, ct1 := rawBody(t, png, wav)
	var first api.Job
	if r := tb.post(t, keyA, body1, ct1, &first, "Idempotency-Key", "k-1"); r.StatusCode != 202 {
		t.Fatalf("first request: %d", r.StatusCode)
	}
	// The second request is valid on its own.
	body2, ct2 := rawBody(t, movedImage, movedAudio)
	if r := tb.post(t, keyA, body2, ct2, nil, "Idempotency-Key", "k-2"); r.StatusCode != 202 {
		t.Fatalf("the moved request alone: %d", r.StatusCode)
	}
	var pb problemBody
	r := tb.post(t, keyA, body2, ct2, &pb, "Idempotency-Key", "k-1")
	if r.StatusCode != 422 || pb.Code != "idempotency_key_reused" {
		t.Fatalf("different inputs under k-1: %d %q (replayed %q), want 422 idempotency_key_reused", r.StatusCode, pb.Code, r.Header.Get("Idempotent-Replayed"))
	}
}

// TestReuseIsDecidedBeforeAnyCheck: a request reusing an Idempotency-Key
// was received and fully checked (image decode, ffmpeg) before the reuse
// was found, even with the key's limit reached: unlimited expensive checks.
// Now replay or reuse is decided from the raw parts' fingerprint first: a
// reuse runs no check, counts, and is refused at once.
func TestReuseIsDecidedBeforeAnyCheck(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	tb := setup(t, options{noWorkers: true, limiter: ratelimit.NewMemory(), limiterClock: clock.now})
	var c createdKey
	tb.json(t, http.MethodPost, "/admin/keys", keyA, map[string]any{"customer": "acme", "rate_limit": 2}, &c)
	png, _ := os.ReadFile(portrait.File)
	wav, _ := os.ReadFile(speech.File)
	other, _ := os.ReadFile(fixture("speech_en_12s.wav"))
	body, ct := rawBody(t, png, wav)
	reuse, rct := rawBody(t, png, other)

	var first api.Job
	if r := tb.post(t, c.Key, body, ct, &first, "Idempotency-Key", "order-1"); r.StatusCode != 202 {
		t.Fatalf("first: %d", r.StatusCode)
	}
	runs := tb.ffmpegRuns(t)
	// Under the limit, a reuse is refused at once, and counts.
	var pb problemBody
	r := tb.post(t, c.Key, reuse, rct, &pb, "Idempotency-Key", "order-1")
	if r.StatusCode != 422 || pb.Code != "idempotency_key_reused" || r.Header.Get("RateLimit") != `"hourly";r=0;t=3600` {
		t.Fatalf("reuse: %d %q RateLimit %q", r.StatusCode, pb.Code, r.Header.Get("RateLimit"))
	}
	// With the limit reached, reuses are refused by the limit; none runs a check.
	for range 5 {
		if r := tb.post(t, c.Key, reuse, rct, &pb, "Idempotency-Key", "order-1"); r.StatusCode != 429 {
			t.Fatalf("reuse over the limit: %d %q", r.StatusCode, pb.Code)
		}
	}
	if n := tb.ffmpegRuns(t) - runs; n != 0 {
		t.Fatalf("reused keys ran ffmpeg %d times", n)
	}
	// The retry of the first request still gets its job, without a check.
	var again api.Job
	r = tb.post(t, c.Key, body, ct, &again, "Idempotency-Key", "order-1")
	if r.StatusCode != 202 || again.ID != first.ID || r.Header.Get("Idempotent-Replayed") != "true" || tb.ffmpegRuns(t) != runs {
		t.Fatalf("replay: %d %s (first %s), ffmpeg runs %d → %d", r.StatusCode, again.ID, first.ID, runs, tb.ffmpegRuns(t))
	}
}

// TestCapacityRefusalsDoNotCount: 503 answers (no upload slot, storage
// down, here every image decoding slot taken) used up the customer's
// hourly generations, so retries counted again. Only what the service
// accepts, or refuses for the client's own fault, counts now.
func TestCapacityRefusalsDoNotCount(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	images := media.NewImageDecoder(64<<20, 64<<20)
	images.Wait = 50 * time.Millisecond
	tb := setup(t, options{noWorkers: true, limiter: ratelimit.NewMemory(), limiterClock: clock.now, images: images})
	var c createdKey
	tb.json(t, http.MethodPost, "/admin/keys", keyA, map[string]any{"customer": "acme", "rate_limit": 2}, &c)
	busy, err := images.Reserve(context.Background(), 64<<20) // other uploads hold the budget
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		_, r := tb.submit(t, c.Key, portrait, speech)
		if r.StatusCode != 503 || r.Header.Get("RateLimit") != `"hourly";r=1;t=3600` || r.Header.Get("Retry-After") == "" {
			t.Fatalf("busy %d: %d RateLimit %q", i, r.StatusCode, r.Header.Get("RateLimit"))
		}
	}
	busy()
	for i := range 2 {
		if _, r := tb.submit(t, c.Key, portrait, speech); r.StatusCode != 202 {
			t.Fatalf("after the outage, request %d: %d", i, r.StatusCode)
		}
	}
	// A refusal for the client's own fault counts.
	clock.set(clock.now().Add(time.Hour))
	if _, r := tb.submit(t, c.Key, portrait, part{Name: "audio", File: fixture("truncated.wav")}); r.StatusCode != 422 {
		t.Fatalf("bad audio: %d", r.StatusCode)
	}
	if _, r := tb.submit(t, c.Key, portrait, speech); r.StatusCode != 202 || r.Header.Get("RateLimit") != `"hourly";r=0;t=3600` {
		t.Fatalf("after a bad upload: %d RateLimit %q", r.StatusCode, r.Header.Get("RateLimit"))
	}
}

// blockingChecker holds a submission in its check until the request ends:
// an expensive check in progress (a test double of the generator's own
// check, to know when the client hangs up).
type blockingChecker struct{ started chan struct{} }

func (c blockingChecker) Check(ctx context.Context, _ generator.Request) error {
	c.started <- struct{}{}
	<-ctx.Done()
	return ctx.Err()
}

// TestHangingUpStillCounts: a client that sends a whole upload and hangs
// up while it is being checked used to be refunded (its request ended in a
// 500 "context canceled"), so its checks were free, for ever. An abandoned
// request counts; its line in the log is a 499, not an error.
func TestHangingUpStillCounts(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	checker := blockingChecker{started: make(chan struct{})}
	limiter := ratelimit.NewMemory()
	tb := setup(t, options{noWorkers: true, limiter: limiter, limiterClock: clock.now, checker: checker})
	var c createdKey
	tb.json(t, http.MethodPost, "/admin/keys", keyA, map[string]any{"customer": "acme", "rate_limit": 1}, &c)
	body, ct := multipartBody(t, portrait, speech, prompt)
	ctx, hangUp := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, tb.url+"/generate", body)
	req.Header.Set("Authorization", "Bearer "+c.Key)
	req.Header.Set("Content-Type", ct)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	<-checker.started // the upload is in, its check running
	hangUp()
	<-done
	tb.stop() // once the abandoned request has ended on the server too
	d, err := limiter.Allow(context.Background(), c.Record.ID, ratelimit.Policy{Name: "hourly", Limit: 1, Window: time.Hour}, clock.now())
	if err != nil || d.Allowed {
		t.Fatalf("after an abandoned upload the window has room (%+v, %v): it was given back", d, err)
	}
}

// gatedChecker holds each check until the test opens the gate.
type gatedChecker struct{ started, gate chan struct{} }

func (c gatedChecker) Check(ctx context.Context, _ generator.Request) error {
	select {
	case c.started <- struct{}{}:
	default: // nobody waits for this one
	}
	select {
	case <-c.gate:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestDuplicateWhileInProgress: a second request naming an Idempotency-Key
// that a first is still using (a client retrying too early) is refused at
// once with 409 and not counted, instead of running the same checks again;
// once the first has made its job, the retry gets it.
func TestDuplicateWhileInProgress(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	checker := gatedChecker{started: make(chan struct{}, 1), gate: make(chan struct{})}
	tb := setup(t, options{noWorkers: true, limiter: ratelimit.NewMemory(), limiterClock: clock.now, checker: checker})
	var c createdKey
	tb.json(t, http.MethodPost, "/admin/keys", keyA, map[string]any{"customer": "acme", "rate_limit": 2}, &c)
	png, _ := os.ReadFile(portrait.File)
	wav, _ := os.ReadFile(speech.File)
	body, ct := rawBody(t, png, wav)
	first := make(chan api.Job, 1)
	go func() {
		var j api.Job
		tb.post(t, c.Key, body, ct, &j, "Idempotency-Key", "order-7")
		first <- j
	}()
	<-checker.started
	var pb problemBody
	r := tb.post(t, c.Key, body, ct, &pb, "Idempotency-Key", "order-7")
	if r.StatusCode != http.StatusConflict || pb.Code != "idempotency_request_in_progress" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("duplicate while the first is checked: %d %q", r.StatusCode, pb.Code)
	}
	close(checker.gate)
	j := <-first
	var again api.Job
	r = tb.post(t, c.Key, body, ct, &again, "Idempotency-Key", "order-7")
	if r.StatusCode != 202 || again.ID != j.ID || j.ID == "" {
		t.Fatalf("retry after: %d %s, first %s", r.StatusCode, again.ID, j.ID)
	}
	// Only the first counted: one of the two is left.
	_, r = tb.submit(t, c.Key, portrait, speech)
	if r.StatusCode != 202 || r.Header.Get("RateLimit") != `"hourly";r=0;t=3600` {
		t.Fatalf("the next request: %d RateLimit %q, want the last one left", r.StatusCode, r.Header.Get("RateLimit"))
	}
}

// TestIdempotencyAcrossKeyRotation: an Idempotency-Key belongs to the
// customer, so a retry sent with the key that replaced a rotated one gets
// the first job back.
func TestIdempotencyAcrossKeyRotation(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{noWorkers: true})
	var c createdKey
	tb.json(t, http.MethodPost, "/admin/keys", keyA, map[string]any{"customer": "rotating"}, &c)
	body, ct := multipartBody(t, portrait, speech)
	raw, _ := io.ReadAll(body)
	var first, again api.Job
	if r := tb.post(t, c.Key, raw, ct, &first, "Idempotency-Key", "order-7"); r.StatusCode != http.StatusAccepted {
		t.Fatalf("first: %d", r.StatusCode)
	}
	var rot createdKey
	if r := tb.json(t, http.MethodPost, "/admin/keys/"+c.Record.ID+"/rotate", keyA, map[string]any{"grace": "0s"}, &rot); r.StatusCode != http.StatusCreated {
		t.Fatalf("rotate: %d", r.StatusCode)
	}
	r := tb.post(t, rot.Key, raw, ct, &again, "Idempotency-Key", "order-7")
	if r.StatusCode != http.StatusAccepted || again.ID != first.ID || r.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry with the new key: %d, job %s (first %s), replayed %q", r.StatusCode, again.ID, first.ID, r.Header.Get("Idempotent-Replayed"))
	}
}
