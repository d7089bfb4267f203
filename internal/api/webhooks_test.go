package api_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/avatar-api/avatar-api/internal/api"
	"github.com/avatar-api/avatar-api/internal/app"
	"github.com/avatar-api/avatar-api/internal/config"
	"github.com/avatar-api/avatar-api/internal/queue"
	"github.com/avatar-api/avatar-api/internal/testkit"
	"github.com/avatar-api/avatar-api/internal/webhook"
)

// hookToken is a secret in the receivers' URLs: it must never show in
// the database, the logs or an answer.
const hookToken = "receiver-token-7f3a"

// webhookSecret makes (or rotates, with grace seconds) key's customer's
// signing secret through the API.
func (tb *testBundle) webhookSecret(t *testing.T, key string, grace int) webhook.Secret {
	t.Helper()
	body := `{}`
	if grace >= 0 {
		body = `{"grace_seconds":` + strconv.Itoa(grace) + `}`
	}
	var s webhook.Secret
	if resp := tb.call(t, http.MethodPost, "/webhooks/secret", key, strings.NewReader(body), "application/json", &s); resp.StatusCode != http.StatusCreated ||
		!strings.HasPrefix(s.Secret, "whsec_") {
		t.Fatalf("POST /webhooks/secret: %d %+v", resp.StatusCode, s)
	}
	return s
}

// hooked is small sent with a webhook to r asking for events.
func hooked(r *receiver, events string) []part {
	parts := append(slices.Clone(small), part{Name: "webhook_url", Value: r.URL + "/hook?token=" + hookToken})
	if events != "" {
		parts = append(parts, part{Name: "webhook_events", Value: events})
	}
	return parts
}

// event is a received webhook, verified with the Standard Webhooks
// reference library under secret.
type event struct {
	ID   string
	Body api.WebhookEvent
	Raw  map[string]json.RawMessage
}

func verifiedEvent(t *testing.T, secret string, h hook) event {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(h.body, h.header); err != nil {
		t.Fatalf("webhook %s does not verify: %v", h.header.Get("webhook-id"), err)
	}
	var e event
	e.ID = h.header.Get("webhook-id")
	if err := json.Unmarshal(h.body, &e.Body); err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Data map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(h.body, &raw); err != nil {
		t.Fatal(err)
	}
	e.Raw = raw.Data
	return e
}

// deliveries is GET /jobs/{id}/webhooks.
func (tb *testBundle) deliveries(t *testing.T, key, id string) []webhook.Delivery {
	t.Helper()
	var out struct {
		Webhooks []webhook.Delivery `json:"webhooks"`
	}
	if resp := tb.call(t, http.MethodGet, "/jobs/"+id+"/webhooks", key, nil, "", &out); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /jobs/%s/webhooks: %d", id, resp.StatusCode)
	}
	return out.Webhooks
}

// waitDeliveries waits until each of a job's n deliveries has left
// pending.
func (tb *testBundle) waitDeliveries(t *testing.T, key, id string, n int) []webhook.Delivery {
	t.Helper()
	var ds []webhook.Delivery
	testkit.WaitFor(t, 30*time.Second, "the job's webhooks to be delivered", func() bool {
		ds = tb.deliveries(t, key, id)
		if len(ds) != n {
			return false
		}
		for _, d := range ds {
			if d.State == "pending" {
				return false
			}
		}
		return true
	})
	return ds
}

// TestWebhookCompleted: a job with a webhook asking for job.started and
// job.completed sends both, each signed (the reference library verifies
// them, and refuses a tampered body), the completed one carrying the job
// as GET /status shows it and its download; the deliveries and their
// attempts are listed; the URL's token is in neither the database, the
// logs nor an answer.
func TestWebhookCompleted(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{})
	r := newReceiver(t)
	secret := tb.webhookSecret(t, keyA, -1)

	j := tb.submitSmall(t, hooked(r, "job.started,job.completed")...)
	tb.waitFor(t, keyA, j.ID, "completed")
	ds := tb.waitDeliveries(t, keyA, j.ID, 2)
	got := r.delivered()
	if len(got) != 2 {
		t.Fatalf("the receiver got %d deliveries, want 2", len(got))
	}
	byType := map[string]event{}
	for _, h := range got {
		e := verifiedEvent(t, secret.Secret, h)
		byType[e.Body.Type] = e
		if h.header.Get("Content-Type") != "application/json" {
			t.Errorf("Content-Type %q", h.header.Get("Content-Type"))
		}
	}
	started, completed := byType["job.started"], byType["job.completed"]
	if started.ID == "" || completed.ID == "" || started.ID == completed.ID {
		t.Fatalf("events %v", byType)
	}
	var status api.Job
	tb.call(t, http.MethodGet, "/status/"+j.ID, keyA, nil, "", &status)
	c := completed.Body
	c.Data.Job.Progress = status.Progress // both 1
	if c.Data.Job.ID != j.ID || c.Data.Job.State != "completed" || c.Data.Result == nil || c.Data.Result.URL == "" {
		t.Fatalf("job.completed data: %+v", c.Data)
	}
	wantJSON, _ := json.Marshal(status)
	gotJSON, _ := json.Marshal(c.Data.Job)
	if !bytes.Equal(wantJSON, gotJSON) {
		t.Errorf("job.completed data\n%s\nwant GET /status's\n%s", gotJSON, wantJSON)
	}
	if c.Timestamp.IsZero() || c.Timestamp.Before(j.CreatedAt) {
		t.Errorf("timestamp %v", c.Timestamp)
	}
	// The download works.
	resp, err := http.Get(c.Data.Result.URL)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("downloading the webhook's result URL: %v %v", resp, err)
	}
	resp.Body.Close()

	// A tampered body does not verify.
	wh, _ := standardwebhooks.NewWebhook(secret.Secret)
	tampered := bytes.Replace(got[0].body, []byte(`"job_id"`), []byte(`"job_Id"`), 1)
	if err := wh.Verify(tampered, got[0].header); err == nil {
		t.Error("a tampered body verifies")
	}

	for _, d := range ds {
		if d.State != "delivered" || len(d.Attempts) != 1 || !d.Attempts[0].Delivered || d.Attempts[0].Status != 200 ||
			d.DeliveredAt == nil || strings.Contains(d.Endpoint, hookToken) || !strings.HasPrefix(d.Endpoint, "http://127.0.0.1:") {
			t.Errorf("delivery %+v", d)
		}
		if d.WebhookID != started.ID && d.WebhookID != completed.ID {
			t.Errorf("delivery %s is none of the received ids", d.WebhookID)
		}
	}
	// The token is sealed: not in the database's files, nor in the logs.
	for _, f := range []string{tb.db, tb.db + "-wal"} {
		if b, err := os.ReadFile(f); (err != nil && !os.IsNotExist(err)) || bytes.Contains(b, []byte(hookToken)) {
			t.Errorf("%s holds the webhook URL's token in clear (read: %v)", f, err)
		}
	}
	if strings.Contains(tb.logs.String(), hookToken) {
		t.Error("the logs hold the webhook URL's token")
	}
}

// TestWebhookDefaultURLAndRotation: a key's default webhook URL (set by
// an operator) applies to jobs that give none; after a rotation with a
// grace period both secrets verify each webhook, after one without only
// the new one does; another customer's job's webhooks are not listed.
func TestWebhookDefaultURLAndRotation(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{})
	r := newReceiver(t)
	first := tb.webhookSecret(t, keyA, -1)
	second := tb.webhookSecret(t, keyA, 3600)
	if second.Secret == first.Secret || second.PreviousUntil == nil {
		t.Fatalf("rotation: %+v", second)
	}
	keys, err := tb.keys.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var idA string
	for _, k := range keys {
		if k.Customer == "customer-a" {
			idA = k.ID
		}
	}
	url := r.URL + "/default?token=" + hookToken
	var k struct {
		Webhook string `json:"webhook_url"`
	}
	if resp := tb.call(t, http.MethodPatch, "/admin/keys/"+idA, keyA, strings.NewReader(`{"webhook_url":"`+url+`"}`), "application/json", &k); resp.StatusCode != http.StatusOK ||
		k.Webhook == "" || strings.Contains(k.Webhook, hookToken) {
		t.Fatalf("PATCH webhook_url: %d %+v", resp.StatusCode, k)
	}

	j := tb.submitSmall(t)
	tb.waitFor(t, keyA, j.ID, "completed")
	tb.waitDeliveries(t, keyA, j.ID, 1)
	h := r.delivered()[0]
	for _, s := range []string{first.Secret, second.Secret} {
		verifiedEvent(t, s, h) // fails the test if either does not verify
	}
	if n := strings.Count(h.header.Get("webhook-signature"), "v1,"); n != 2 {
		t.Errorf("%d signatures during the grace period, want 2", n)
	}

	third := tb.webhookSecret(t, keyA, 0)
	if third.PreviousUntil != nil {
		t.Errorf("a rotation without grace keeps the previous secret until %v", third.PreviousUntil)
	}
	j2 := tb.submitSmall(t)
	tb.waitFor(t, keyA, j2.ID, "completed")
	tb.waitDeliveries(t, keyA, j2.ID, 1)
	var last hook
	for _, h := range r.delivered() {
		if bytes.Contains(h.body, []byte(j2.ID)) {
			last = h
		}
	}
	verifiedEvent(t, third.Secret, last)
	if wh, _ := standardwebhooks.NewWebhook(second.Secret); wh.Verify(last.body, last.header) == nil {
		t.Error("the replaced secret still verifies after a rotation without grace")
	}
	// Customer B has no secret: giving B's key a default URL makes one,
	// shown once; B's jobs then send webhooks signed with it.
	var idB string
	for _, k := range keys {
		if k.Customer == "customer-b" {
			idB = k.ID
		}
	}
	var kb struct {
		Secret string `json:"webhook_secret"`
	}
	if resp := tb.call(t, http.MethodPatch, "/admin/keys/"+idB, keyA, strings.NewReader(`{"webhook_url":"`+url+`"}`), "application/json", &kb); resp.StatusCode != http.StatusOK ||
		!strings.HasPrefix(kb.Secret, "whsec_") {
		t.Fatalf("PATCH webhook_url of a customer without a secret: %d %+v", resp.StatusCode, kb)
	}
	jb, resp := tb.submit(t, keyB, small...)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("customer B's job with the key's default webhook: %d", resp.StatusCode)
	}
	tb.waitFor(t, keyB, jb.ID, "completed")
	tb.waitDeliveries(t, keyB, jb.ID, 1)
	for _, h := range r.delivered() {
		if bytes.Contains(h.body, []byte(jb.ID)) {
			verifiedEvent(t, kb.Secret, h)
		}
	}
	// A rotation needs no body.
	var s webhook.Secret
	if resp := tb.call(t, http.MethodPost, "/webhooks/secret", keyB, nil, "", &s); resp.StatusCode != http.StatusCreated || s.PreviousUntil == nil {
		t.Errorf("POST /webhooks/secret without a body: %d %+v", resp.StatusCode, s)
	}

	// Customer B sees none of A's deliveries.
	var pb problemBody
	if resp := tb.call(t, http.MethodGet, "/jobs/"+j.ID+"/webhooks", keyB, nil, "", &pb); resp.StatusCode != http.StatusNotFound {
		t.Errorf("another customer's job's webhooks: %d, want 404", resp.StatusCode)
	}
	if resp := tb.call(t, http.MethodPost, "/jobs/"+j.ID+"/webhooks/redeliver", keyB, nil, "", &pb); resp.StatusCode != http.StatusNotFound {
		t.Errorf("redelivery of another customer's job: %d, want 404", resp.StatusCode)
	}
}

// TestWebhookRetriesAcrossRestart: the receiver answers 500 until the
// service is stopped mid-backoff; a new service over the same database
// delivers the event, once, under the same webhook-id, every attempt
// recorded; a redelivery then sends it again under that id.
func TestWebhookRetriesAcrossRestart(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{webhookBackoff: func(int) time.Duration { return 200 * time.Millisecond }})
	r := newReceiver(t)
	r.status.Store(http.StatusInternalServerError)
	secret := tb.webhookSecret(t, keyA, -1)
	j := tb.submitSmall(t, hooked(r, "")...)
	tb.waitFor(t, keyA, j.ID, "completed")
	testkit.WaitFor(t, 30*time.Second, "a failed attempt", func() bool {
		ds := tb.deliveries(t, keyA, j.ID)
		return len(ds) == 1 && len(ds[0].Attempts) >= 1
	})
	// Stop the first service's workers (the delivery waits for its retry),
	// then answer 200 to whoever comes next: only the second service.
	if err := tb.app.StopWorkers(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	r.status.Store(http.StatusOK)
	second, err := app.New(context.Background(), tb.cfg, tb.log, tb.overrides)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = second.StopWorkers(5 * time.Second); second.Close() })

	ds := tb.waitDeliveries(t, keyA, j.ID, 1)
	d := ds[0]
	if d.State != "delivered" || len(d.Attempts) < 2 || !d.Attempts[len(d.Attempts)-1].Delivered {
		t.Fatalf("delivery after the restart: %+v", d)
	}
	for _, a := range d.Attempts[:len(d.Attempts)-1] {
		if a.Delivered || a.Status != 500 || !strings.Contains(a.Error, "status 500") {
			t.Errorf("failed attempt %+v", a)
		}
	}
	all := r.all()
	ok := r.delivered()
	if len(ok) != 1 || len(all) != len(d.Attempts) {
		t.Fatalf("the receiver got %d requests (%d answered 200); %d attempts recorded", len(all), len(ok), len(d.Attempts))
	}
	for _, h := range all {
		if h.header.Get("webhook-id") != d.WebhookID {
			t.Errorf("an attempt with webhook-id %s, want %s on every one", h.header.Get("webhook-id"), d.WebhookID)
		}
	}
	verifiedEvent(t, secret.Secret, ok[0])
	// Its queue entry has ended: nothing more will be sent.
	testkit.WaitFor(t, 10*time.Second, "the delivery's queue entry to complete", func() bool {
		return deliveryJobState(t, tb, d.WebhookID) == "completed"
	})

	// A redelivery sends it again, under the same id.
	var again webhook.Delivery
	if resp := tb.call(t, http.MethodPost, "/jobs/"+j.ID+"/webhooks/redeliver", keyA, nil, "", &again); resp.StatusCode != http.StatusAccepted ||
		again.WebhookID != d.WebhookID {
		t.Fatalf("redeliver: %d %+v", resp.StatusCode, again)
	}
	testkit.WaitFor(t, 30*time.Second, "the redelivery", func() bool { return len(r.delivered()) == 2 })
	if id := r.delivered()[1].header.Get("webhook-id"); id != d.WebhookID {
		t.Errorf("redelivered under %s, want %s", id, d.WebhookID)
	}
	after := tb.waitDeliveries(t, keyA, j.ID, 1)[0]
	if after.State != "delivered" || len(after.Attempts) != len(d.Attempts)+1 {
		t.Errorf("after the redelivery: %+v", after)
	}
}

// deliveryJobState is the state of a delivery's River job.
func deliveryJobState(t *testing.T, tb *testBundle, deliveryID string) string {
	t.Helper()
	var state string
	db, err := sql.Open("sqlite", tb.db)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.QueryRow(`SELECT state FROM river_job WHERE kind = ? AND CAST(args AS TEXT) LIKE ? ORDER BY id DESC LIMIT 1`,
		queue.DeliverWebhookArgs{}.Kind(), "%"+deliveryID+"%").Scan(&state)
	if err != nil {
		t.Fatal(err)
	}
	return state
}

// TestWebhookRefused: webhook settings that cannot be used are refused
// at submission with a stable code, and nothing is queued: a URL to a
// non-public address (each spelling, and a name that resolves to
// 127.0.0.1), a URL that is not http(s), an unknown event, events
// without a URL, and a webhook before the customer has a secret. A
// public address is accepted. Redelivery of a job without webhooks is
// refused.
func TestWebhookRefused(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{noWorkers: true, configure: func(cfg *config.Config) { cfg.WebhookAllowPrivate = false }})
	with := func(fields ...string) []part {
		p := slices.Clone(small)
		for i := 0; i+1 < len(fields); i += 2 {
			p = append(p, part{Name: fields[i], Value: fields[i+1]})
		}
		return p
	}
	refuse := func(name, code string, parts []part) {
		t.Helper()
		var pb problemBody
		body, ct := multipartBody(t, parts...)
		if resp := tb.call(t, http.MethodPost, "/generate", keyA, body, ct, &pb); resp.StatusCode != http.StatusUnprocessableEntity || pb.Code != code {
			t.Errorf("%s: %d %s (%s), want 422 %s", name, resp.StatusCode, pb.Code, pb.Detail, code)
		}
		if strings.Contains(pb.Detail, hookToken) {
			t.Errorf("%s: the answer quotes the URL's token: %s", name, pb.Detail)
		}
	}
	refuse("no secret yet", webhook.CodeSecretMissing, with("webhook_url", "http://93.184.215.14/hook"))
	tb.webhookSecret(t, keyA, -1)
	for _, u := range []string{
		"http://127.0.0.1/hook", "http://localhost/hook", "http://0x7f.1/hook", "http://2130706433/hook", "http://0177.0.0.1/hook",
		"http://[::1]/hook", "http://[::ffff:127.0.0.1]/hook", "http://[::ffff:7f00:1]/hook", "http://10.1.2.3/hook",
		"http://192.168.0.1/hook", "http://172.16.0.1/hook", "http://169.254.169.254/latest/meta-data", "http://[fe80::1]/hook",
		"http://0.0.0.0/hook", "http://[::]/hook", "http://224.0.0.1/hook", "http://100.64.0.1/hook",
	} {
		refuse(u, webhook.CodeURLForbidden, with("webhook_url", u+"?token="+hookToken))
	}
	for _, u := range []string{"ftp://example.com/hook", "file:///etc/passwd", "gopher://93.184.215.14/", "http://user:pw@93.184.215.14/", "not a url", "http://93.184.215.14:99999/"} {
		refuse(u, webhook.CodeURLInvalid, with("webhook_url", u))
	}
	refuse("unknown event", webhook.CodeEventsInvalid, with("webhook_url", "http://93.184.215.14/hook", "webhook_events", "job.completed,job.exploded"))
	refuse("events without a URL", webhook.CodeEventsInvalid, with("webhook_events", "job.completed"))

	j := tb.submitSmall(t, with("webhook_url", "http://93.184.215.14/hook", "webhook_events", "job.completed, job.failed")...)
	if j.State != "queued" {
		t.Fatalf("a job with a public webhook URL: %+v", j)
	}
	var pb problemBody
	if resp := tb.call(t, http.MethodPost, "/jobs/"+j.ID+"/webhooks/redeliver", keyA, nil, "", &pb); resp.StatusCode != http.StatusConflict || pb.Code != api.CodeNoWebhook {
		t.Errorf("redelivery before any event: %d %s, want 409 %s", resp.StatusCode, pb.Code, api.CodeNoWebhook)
	}
	var jobs struct {
		Jobs []api.Job `json:"jobs"`
	}
	tb.call(t, http.MethodGet, "/jobs", keyA, nil, "", &jobs)
	if len(jobs.Jobs) != 1 {
		t.Errorf("%d jobs queued, want only the accepted one", len(jobs.Jobs))
	}
	// The key default is checked alike.
	keys, _ := tb.keys.List(context.Background())
	var pk problemBody
	if resp := tb.call(t, http.MethodPatch, "/admin/keys/"+keys[0].ID, keyA, strings.NewReader(`{"webhook_url":"http://[::ffff:127.0.0.1]/x"}`), "application/json", &pk); resp.StatusCode != http.StatusUnprocessableEntity ||
		pk.Code != webhook.CodeURLForbidden {
		t.Errorf("a key's private default webhook URL: %d %s", resp.StatusCode, pk.Code)
	}
}
