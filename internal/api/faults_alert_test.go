package api_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/alert/notify"
	"github.com/avatar-api/avatar-api/internal/config"
	"github.com/avatar-api/avatar-api/internal/store"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

// TestFaultAlertReceiverHangs: the operator's alert webhook accepts the
// connection and never answers. The attempt ends at the channel's limit
// (notify.DefaultTimeout, 10 s), recorded as failed; meanwhile the API
// serves customers as usual (a job is accepted and completes), /ready
// stays 200 with its alerts check "degraded" and
// avatar_alert_channel_failing is 1. When the receiver answers again, the
// retry delivers the alert, once.
func TestFaultAlertReceiverHangs(t *testing.T) {
	t.Parallel()
	var hang atomic.Bool
	hang.Store(true)
	release := make(chan struct{})
	rcv := &receiver{}
	rcv.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		if hang.Load() {
			select { // never answers: the service's limit ends the attempt
			case <-req.Context().Done():
			case <-release:
			}
			return
		}
		rcv.mu.Lock()
		rcv.got = append(rcv.got, hook{header: req.Header.Clone(), body: b, status: http.StatusNoContent})
		rcv.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(func() { close(release); rcv.Close() })
	secret := newSecret(t)
	tb := setup(t, options{metricsToken: metricsToken, alertEvery: 200 * time.Millisecond, configure: func(c *config.Config) {
		alertChannels(rcv, secret, nil)(c)
		c.CostDailyThreshold = 1000
	}})
	tb.runJob(t) // crosses the threshold: the periodic evaluation notifies
	id := tb.firstNotification(t)

	// While the first attempt hangs, customers are served.
	started := time.Now()
	if j := tb.runJob(t); j.State != "completed" {
		t.Fatalf("a job while the alert receiver hangs: %s", j.State)
	}
	var attempts []store.DeliveryAttempt
	testkit.WaitFor(t, 30*time.Second, "the hung attempt to end", func() bool {
		var err error
		attempts, err = tb.store.Attempts(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return len(attempts) >= 1
	})
	first := attempts[0]
	if first.Delivered || first.Status != 0 || first.Error == "" {
		t.Errorf("the hung attempt: %+v; want no status and an error", first)
	}
	if took := time.Since(started); took > notify.DefaultTimeout+15*time.Second {
		t.Errorf("the hung attempt ended %s after it began, past its limit of %s", took, notify.DefaultTimeout)
	}
	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	testkit.WaitFor(t, 15*time.Second, "/ready and the channel's gauge to show the failing channel", func() bool {
		resp := tb.call(t, http.MethodGet, "/ready", "", nil, "", &ready)
		m := scrape(t, tb.url+"/metrics", metricsToken)
		return resp.StatusCode == http.StatusOK && strings.HasPrefix(ready.Checks["alerts"], "degraded") &&
			strings.Contains(m, `avatar_alert_channel_failing{channel="webhook:127.0.0.1:`) &&
			value(m, `avatar_alerts_firing{rule="cost_daily"}`) == 1
	})

	hang.Store(false) // the receiver answers again
	tb.waitDelivered(t, 1)
	if got := rcv.delivered(); len(got) != 1 || got[0].header.Get("webhook-id") != id {
		t.Errorf("the receiver got %d deliveries once it answered, want 1 of notification %s", len(got), id)
	}
	testkit.WaitFor(t, 10*time.Second, "/ready's alerts check to be ok again", func() bool {
		tb.call(t, http.MethodGet, "/ready", "", nil, "", &ready)
		return ready.Checks["alerts"] == "ok"
	})
}
