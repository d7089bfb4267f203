package api_test

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/testkit"
)

// trickle starts an upload that sends a multipart head, then one byte
// every interval: an attacker holding an upload slot. It returns the
// response when the server ends it.
func (tb *testBundle) trickle(t *testing.T, key string, interval time.Duration) <-chan *http.Response {
	t.Helper()
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	req, _ := http.NewRequest(http.MethodPost, tb.url+"/generate", pr)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "multipart/form-data; boundary=b")
	done := make(chan *http.Response, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- nil
			return
		}
		resp.Body.Close()
		done <- resp
	}()
	go func() {
		_, _ = pw.Write([]byte("--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\r\n\x89PNG"))
		for {
			time.Sleep(interval)
			if _, err := pw.Write([]byte{0}); err != nil {
				return
			}
		}
	}()
	return done
}

// TestTricklingUploadsAreCutOff: each body read used to push a 30 s idle
// deadline forward, so uploads sending a byte every few seconds held every
// upload slot for as long as they liked while other customers got 503.
// Now an upload must average 32 KiB/s once its grace (here 200 ms) is over:
// the trickler is cut off with 408 and the slot goes to the next customer.
func TestTricklingUploadsAreCutOff(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{noWorkers: true, maxUploads: 1, uploadsPerCustomer: 1, uploadGrace: 200 * time.Millisecond})
	start := time.Now()
	cut := tb.trickle(t, keyB, 200*time.Millisecond)
	tb.waitUploads(t, 1) // the trickler holds the only slot
	if _, r := tb.submit(t, keyA, portrait, speech, prompt); r.StatusCode != http.StatusAccepted {
		t.Fatalf("another customer's upload: %d after %s", r.StatusCode, time.Since(start))
	}
	select {
	case r := <-cut:
		if r != nil && r.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("trickler: %d", r.StatusCode)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the trickler was not cut off")
	}
}

// TestUploadSlotsAreShared: one customer holds at most its share of the
// upload slots; its next upload waits for one of its own and is then
// refused with 429 (not counted), while another customer's goes through.
func TestUploadSlotsAreShared(t *testing.T) {
	t.Parallel()
	clock := &testkit.Clock{}
	tb := setup(t, options{noWorkers: true, maxUploads: 2, uploadsPerCustomer: 1, clock: clock})
	tb.trickle(t, keyA, 50*time.Millisecond) // within its grace (1 min here), it holds its slot
	tb.waitUploads(t, 1)
	second := tb.submitAsync(keyA, portrait, speech)
	clock.WaitTimers(t, 1) // it waits for a slot of its customer's share
	clock.Advance(10 * time.Second)
	r := <-second
	if r.status != http.StatusTooManyRequests || r.problem.Code != "too_many_concurrent_uploads" || r.header.Get("Retry-After") == "" {
		t.Fatalf("the same customer's second upload: %d %q (%v)", r.status, r.problem.Code, r.err)
	}
	if _, r := tb.submit(t, keyB, portrait, speech, prompt); r.StatusCode != http.StatusAccepted {
		t.Fatalf("another customer's upload: %d", r.StatusCode)
	}
}
