package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/testkit"
	"github.com/avatar-api/avatar-api/internal/webhook"
)

// hangingReceiver accepts webhooks and, while hang is set, never answers
// one: the request is held until its client gives up.
type hangingReceiver struct {
	*httptest.Server
	hang     atomic.Bool
	requests atomic.Int32 // received
	answered atomic.Int32 // answered 200
}

func newHangingReceiver(t *testing.T) *hangingReceiver {
	t.Helper()
	r := &hangingReceiver{}
	r.hang.Store(true)
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body) // then the server notices the sender hanging up
		r.requests.Add(1)
		if r.hang.Load() {
			<-req.Context().Done()
			return
		}
		r.answered.Add(1)
	}))
	t.Cleanup(r.Close)
	return r
}

// TestFaultWebhookReceiverHangs: customer A's webhook receiver accepts
// the connection and never answers. A's job completes on time all the
// same; the attempt ends at the documented 10 s with no status (GET
// /jobs/{id}/webhooks shows it, and it should count in
// avatar_webhook_attempts_total{outcome="retrying"}), and customer B's
// webhook is delivered meanwhile, undelayed. Once A's receiver answers
// again, the retry delivers A's webhook.
func TestFaultWebhookReceiverHangs(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{metricsToken: metricsToken})
	hanging, prompt := newHangingReceiver(t), newReceiver(t)
	tb.webhookSecret(t, keyA, -1)
	tb.webhookSecret(t, keyB, -1)
	a, resp := tb.submit(t, keyA, append(slices.Clone(small),
		part{Name: "webhook_url", Value: hanging.URL + "/hook"}, part{Name: "webhook_events", Value: "job.completed"})...)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("A: %d", resp.StatusCode)
	}
	tb.waitFor(t, keyA, a.ID, "completed") // not held by its webhook
	testkit.WaitFor(t, 10*time.Second, "A's receiver to get the webhook", func() bool { return hanging.requests.Load() == 1 })

	b, resp := tb.submit(t, keyB, hooked(prompt, "job.completed")...)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("B: %d", resp.StatusCode)
	}
	tb.waitFor(t, keyB, b.ID, "completed")
	ds := tb.waitDeliveries(t, keyB, b.ID, 1)
	if ds[0].State != "delivered" {
		t.Fatalf("B's webhook: %+v", ds[0])
	}
	// B's was delivered while every attempt at A's hung (on a loaded
	// machine A's first may have ended, and its retry hangs too).
	if got := tb.deliveries(t, keyA, a.ID); hanging.answered.Load() != 0 || len(got) != 1 || got[0].State != "pending" {
		t.Fatalf("A's delivery while its receiver hangs: %+v", got)
	}
	hanging.hang.Store(false) // an attempt under way still hangs; the next is answered

	ds = tb.waitDeliveries(t, keyA, a.ID, 1)
	attempts := ds[0].Attempts
	if ds[0].State != "delivered" || len(attempts) < 2 || !attempts[len(attempts)-1].Delivered || hanging.answered.Load() != 1 {
		t.Fatalf("A's delivery, its receiver answering again: %+v", ds[0])
	}
	hung := attempts[:len(attempts)-1]
	for _, a := range hung {
		if a.Delivered || a.Status != 0 || a.Error == "" ||
			time.Duration(a.LatencyMS)*time.Millisecond < webhook.Timeout-time.Second {
			t.Errorf("a hung attempt: %+v; want no status and an error after %s", a, webhook.Timeout)
		}
	}
	t.Run("metric", func(t *testing.T) {
		// (app.New built the webhook service before the metrics once, and
		// no attempt was counted.)
		m := scrape(t, tb.url+"/metrics", metricsToken)
		if v := value(m, `avatar_webhook_attempts_total{event="job.completed",outcome="retrying"}`); v != float64(len(hung)) {
			t.Errorf("attempts retrying: %g, want %d (A's that hung)", v, len(hung))
		}
		if v := value(m, `avatar_webhook_attempts_total{event="job.completed",outcome="delivered"}`); v != 2 {
			t.Errorf("attempts delivered: %g, want 2 (B's, and A's retry)", v)
		}
	})
}
