package stats_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/avatar-api/avatar-api/internal/stats"
	"github.com/avatar-api/avatar-api/internal/store"
)

// TestWebhooksPanel: on a real SQLite store, the panel lists the
// customers with a delivery of the last 24 h retrying or given up — with
// their counts, last attempt, last error (cut) and last delivery — and
// neither a customer whose deliveries all arrived nor one whose failures
// are older than the window. A service that does not read deliveries
// answers webhooks null.
func TestWebhooksPanel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHistory(t)
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

	// deliver makes a job of customer with a webhook, completed at at, and
	// answers the id of its job.completed delivery.
	deliver := func(customer, display string, at time.Time) string {
		t.Helper()
		id := uuid.Must(uuid.NewV7()).String()
		j := &store.Job{ID: id, Owner: store.CustomerOwner(customer), ImageKey: "i/" + id, AudioKey: "a/" + id,
			Width: 512, Height: 512, FPS: 25, Seed: 1, Price: price, AudioDuration: 3 * time.Second,
			WebhookURL: "sealed:" + display, WebhookDisplay: display}
		h.now = at.Add(-2 * time.Minute)
		if _, err := h.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		h.now = at.Add(-time.Minute)
		if _, err := h.Apply(ctx, store.ApplyParams{JobID: id, Transition: store.Start, Attempt: 1, Worker: "w1"}); err != nil {
			t.Fatal(err)
		}
		h.now = at
		if _, err := h.Apply(ctx, store.ApplyParams{JobID: id, Transition: store.Complete, Attempt: 1,
			Result: store.Result{Key: "r/" + id, ExpiresAt: at.Add(6 * time.Hour)}}); err != nil {
			t.Fatal(err)
		}
		ds, _, err := h.JobWebhooks(ctx, id)
		if err != nil || len(ds) != 1 || ds[0].Type != store.WebhookCompleted {
			t.Fatalf("the job's deliveries: %+v, %v", ds, err)
		}
		return ds[0].ID
	}
	attempt := func(id string, at time.Time, status int, msg string, delivered, final bool) {
		t.Helper()
		if err := h.RecordWebhookAttempt(ctx, store.WebhookAttempt{DeliveryID: id, At: at, Delivered: delivered,
			Status: status, Error: msg, Latency: 120 * time.Millisecond, Final: final}); err != nil {
			t.Fatal(err)
		}
	}
	const acme = "https://hooks.acme.example/… #1f2e3d4c"

	// acme: one delivery retrying, one delivered after a failure, one
	// given up (its last attempt the latest failure: no answer).
	d1 := deliver("acme", acme, now.Add(-2*time.Hour))
	attempt(d1, now.Add(-2*time.Hour), 500, `status 500 "oops"`, false, false)
	attempt(d1, now.Add(-110*time.Minute), 503, `status 503 "busy"`, false, false)
	d2 := deliver("acme", acme, now.Add(-3*time.Hour))
	attempt(d2, now.Add(-3*time.Hour), 502, `status 502 ""`, false, false)
	attempt(d2, now.Add(-150*time.Minute), 204, "", true, false)
	d3 := deliver("acme", acme, now.Add(-20*time.Hour))
	attempt(d3, now.Add(-20*time.Hour), 500, `status 500 ""`, false, false)
	refused := "post to " + acme + ": dial tcp 203.0.113.7:443: connect: connection refused"
	attempt(d3, now.Add(-30*time.Minute), 0, refused, false, true)

	// umbrella: one delivery retrying, with a long error.
	long := `status 500 "` + strings.Repeat("x", 300) + `"`
	d4 := deliver("umbrella", "https://umbrella.example/… #0a0b0c0d", now.Add(-time.Hour))
	attempt(d4, now.Add(-time.Hour), 500, long, false, false)

	// globex: every delivery arrived, one after a retry.
	d5 := deliver("globex", "https://globex.example/… #99aa88bb", now.Add(-time.Hour))
	attempt(d5, now.Add(-time.Hour), 0, "timeout", false, false)
	attempt(d5, now.Add(-50*time.Minute), 200, "", true, false)
	attempt(deliver("globex", "https://globex.example/… #99aa88bb", now.Add(-40*time.Minute)), now.Add(-40*time.Minute), 200, "", true, false)

	// initech: given up, but on a delivery older than the window.
	d6 := deliver("initech", "https://initech.example/… #12345678", now.Add(-25*time.Hour))
	attempt(d6, now.Add(-25*time.Hour), 500, "status 500", false, false)
	attempt(d6, now.Add(-90*time.Minute), 500, "status 500", false, true)

	// hooli: a delivery not attempted yet is not a failure.
	deliver("hooli", "https://hooli.example/… #cafef00d", now.Add(-time.Minute))

	svc := &stats.Service{History: h, Location: time.UTC, Price: price, Now: func() time.Time { return now }, Webhooks: h}
	d, err := svc.Dashboard(ctx, "1h") // the window is 24 h whatever the range
	if err != nil {
		t.Fatal(err)
	}
	p := d.Webhooks
	if p == nil {
		t.Fatal("webhooks is null with a store that keeps deliveries")
	}
	if !p.Since.Equal(now.Add(-24 * time.Hour)) {
		t.Errorf("since %v, want 24 h before %v", p.Since, now)
	}
	if len(p.Failing) != 2 {
		t.Fatalf("failing: %+v, want acme and umbrella", p.Failing)
	}
	a, u := p.Failing[0], p.Failing[1]
	lastDelivered := now.Add(-150 * time.Minute)
	if a.Customer != "acme" || a.Endpoint != acme || a.Deliveries != 3 || a.Delivered != 1 || a.Retrying != 1 || a.Failed != 1 ||
		a.LastStatus != 0 || a.LastError != refused || !a.LastAttemptAt.Equal(now.Add(-30*time.Minute)) ||
		a.LastDeliveredAt == nil || !a.LastDeliveredAt.Equal(lastDelivered) {
		t.Errorf("acme: %+v", a)
	}
	if u.Customer != "umbrella" || u.Endpoint != "https://umbrella.example/… #0a0b0c0d" || u.Deliveries != 1 ||
		u.Delivered != 0 || u.Retrying != 1 || u.Failed != 0 || u.LastStatus != 500 || u.LastDeliveredAt != nil ||
		!u.LastAttemptAt.Equal(now.Add(-time.Hour)) {
		t.Errorf("umbrella: %+v", u)
	}
	if n := len([]rune(u.LastError)); n != 160 || !strings.HasSuffix(u.LastError, "…") || !strings.HasPrefix(u.LastError, `status 500 "xxx`) {
		t.Errorf("umbrella's long error is %d characters: %q", n, u.LastError)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"sealed:", "globex", "initech", "hooli"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("the panel's JSON holds %q", secret)
		}
	}

	// A day later, none are in the window: an empty list, not null.
	later := &stats.Service{History: h, Location: time.UTC, Price: price, Now: func() time.Time { return now.Add(25 * time.Hour) }, Webhooks: h}
	if d, err := later.Dashboard(ctx, "24h"); err != nil || d.Webhooks == nil || len(d.Webhooks.Failing) != 0 {
		t.Errorf("a day later: %+v, %v", d.Webhooks, err)
	} else if b, _ := json.Marshal(d.Webhooks); !strings.Contains(string(b), `"failing":[]`) {
		t.Errorf("no failing endpoint is not an empty list: %s", b)
	}

	// Without a store that reads deliveries: null.
	plain := &stats.Service{History: h, Location: time.UTC, Price: price, Now: func() time.Time { return now }}
	d, err = plain.Dashboard(ctx, "24h")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(d); d.Webhooks != nil || !strings.Contains(string(b), `"webhooks":null`) {
		t.Errorf("without webhook health: %+v", d.Webhooks)
	}
}
