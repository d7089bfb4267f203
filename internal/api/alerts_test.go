package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/avatar-api/avatar-api/internal/api"
	"github.com/avatar-api/avatar-api/internal/app"
	"github.com/avatar-api/avatar-api/internal/config"
	"github.com/avatar-api/avatar-api/internal/generator/face"
	"github.com/avatar-api/avatar-api/internal/logging"
	"github.com/avatar-api/avatar-api/internal/ratelimit"
	"github.com/avatar-api/avatar-api/internal/runpod/runpodtest"
	"github.com/avatar-api/avatar-api/internal/runpod/serverless"
	"github.com/avatar-api/avatar-api/internal/store"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

// The alerts' tests run the whole service (app.New, as `serve` builds it)
// with a real SMTP server (emersion/go-smtp) and a real HTTP receiver on
// loopback, and evaluate the rules when the test says so (no periodic
// evaluation, unless alertEvery asks), so that what the test counts is
// what it caused.

// receiver is an HTTP endpoint of alert webhooks: it keeps every request
// and answers with the status it is set to.
type receiver struct {
	*httptest.Server
	status atomic.Int32
	mu     sync.Mutex
	got    []hook
}

// hook is one request the receiver got, and what it answered.
type hook struct {
	header http.Header
	body   []byte
	status int
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{}
	r.status.Store(http.StatusOK)
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		st := int(r.status.Load())
		r.mu.Lock()
		r.got = append(r.got, hook{header: req.Header.Clone(), body: b, status: st})
		r.mu.Unlock()
		w.WriteHeader(st)
	}))
	t.Cleanup(r.Close)
	return r
}

// delivered is the requests the receiver answered with a 2xx.
func (r *receiver) delivered() []hook {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []hook
	for _, h := range r.got {
		if h.status < 300 {
			out = append(out, h)
		}
	}
	return out
}

func (r *receiver) all() []hook {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hook(nil), r.got...)
}

// amPayload is what the tests read of Alertmanager's webhook payload.
type amPayload struct {
	Version  string `json:"version"`
	Status   string `json:"status"`
	Receiver string `json:"receiver"`
	Alerts   []struct {
		Status       string            `json:"status"`
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		StartsAt     time.Time         `json:"startsAt"`
		EndsAt       time.Time         `json:"endsAt"`
		GeneratorURL string            `json:"generatorURL"`
		Fingerprint  string            `json:"fingerprint"`
	} `json:"alerts"`
	ExternalURL string `json:"externalURL"`
}

// verified checks a delivery's Standard Webhooks signature with the
// reference library and returns its payload.
func verified(t *testing.T, secret string, h hook) amPayload {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(h.body, h.header); err != nil {
		t.Fatalf("signature: %v", err)
	}
	var p amPayload
	if err := json.Unmarshal(h.body, &p); err != nil {
		t.Fatalf("payload: %v: %s", err, h.body)
	}
	return p
}

// newSecret is a Standard Webhooks secret.
func newSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// alertChannels configures a webhook to r (signed with secret), and
// email through smtp when it is not nil.
func alertChannels(r *receiver, secret string, smtp *testkit.SMTP) func(*config.Config) {
	return func(cfg *config.Config) {
		if r != nil {
			cfg.AlertWebhookURLs = []string{r.URL + "/hooks/alerts?token=receiver-token"}
			cfg.AlertWebhookSecret = secret
		}
		if smtp != nil {
			cfg.AlertEmailTo, cfg.AlertEmailFrom = []string{"ops@example.com"}, "Avatar API <alerts@example.com>"
			cfg.SMTPURL = "smtp://" + smtp.Addr
		}
	}
}

// firstNotification waits for the periodic evaluation to notify a
// crossing, and returns the first notification's id.
func (tb *testBundle) firstNotification(t *testing.T) string {
	t.Helper()
	var notes []store.Notification
	testkit.WaitFor(t, 20*time.Second, "the periodic evaluation to notify the crossing", func() bool {
		var err error
		notes, err = tb.store.Notifications(context.Background(), 10)
		if err != nil {
			t.Fatal(err)
		}
		return len(notes) > 0
	})
	return notes[0].ID
}

// evaluate runs one evaluation of the bundle's rules now.
func (tb *testBundle) evaluate(t *testing.T) []store.Notification {
	t.Helper()
	ev, err := tb.app.Alerts().Evaluate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ev.Notifications
}

// waitDelivered waits until every notification recorded is delivered,
// and checks there are n.
func (tb *testBundle) waitDelivered(t *testing.T, n int) []store.Notification {
	t.Helper()
	var notes []store.Notification
	testkit.WaitFor(t, 30*time.Second, fmt.Sprintf("%d notifications delivered", n), func() bool {
		var err error
		if notes, err = tb.store.Notifications(context.Background(), 1000); err != nil {
			t.Fatal(err)
		}
		for _, nt := range notes {
			if nt.State != store.DeliveryDelivered {
				return false
			}
		}
		return len(notes) >= n
	})
	if len(notes) != n {
		t.Fatalf("%d notifications recorded, want %d", len(notes), n)
	}
	return notes
}

// runJob submits a small job and waits for it to complete: it is billed.
func (tb *testBundle) runJob(t *testing.T, parts ...part) api.Job {
	t.Helper()
	j := tb.submitSmall(t, parts...)
	return tb.waitFor(t, keyA, j.ID, "completed")
}

// TestCostAlertByEmailAndWebhook: the day's cost crossing its threshold
// is told once on each channel — a signed webhook in Alertmanager's
// format and an email with a text and an HTML part — and never again by a
// re-evaluation or a restarted process; the next day resolves it (a
// resolved notice on each channel) and a crossing that day is a new
// alert.
func TestCostAlertByEmailAndWebhook(t *testing.T) {
	t.Parallel()
	rcv, smtp, secret := newReceiver(t), testkit.StartSMTP(t, "", ""), newSecret(t)
	shift, noon := atNoon()
	var cfg *config.Config
	tb := setup(t, options{shift: shift, configure: func(c *config.Config) {
		alertChannels(rcv, secret, smtp)(c)
		c.CostDailyThreshold = 1000 // $0.000001: one job crosses it
		cfg = c
	}})
	if notes := tb.evaluate(t); len(notes) != 0 {
		t.Fatalf("before any job: %d notifications", len(notes))
	}
	tb.runJob(t)
	notes := tb.evaluate(t)
	key := "cost_daily/" + noon.Format("2006-01-02") + "/1000n"
	if len(notes) != 2 || notes[0].AlertKey != key || notes[1].AlertKey != key {
		t.Fatalf("after the crossing: %+v; want two notifications of %s", notes, key)
	}
	// Evaluating again, here and in a restarted process over the same
	// database, decides nothing more.
	if again := tb.evaluate(t); len(again) != 0 {
		t.Fatalf("a re-evaluation decided %d notifications", len(again))
	}
	restarted := app.NewAlerts(cfg, tb.store, tb.log, func() time.Time { return time.Now().Add(time.Duration(shift.Load())) })
	if ev, err := restarted.Evaluate(context.Background()); err != nil || len(ev.Notifications) != 0 || len(ev.Firing) != 1 {
		t.Fatalf("a restarted process: %d notifications, %d firing, %v; want 0 and 1", len(ev.Notifications), len(ev.Firing), err)
	}
	delivered := tb.waitDelivered(t, 2)

	hooks := rcv.all()
	if len(hooks) != 1 {
		t.Fatalf("the receiver got %d requests, want 1", len(hooks))
	}
	p := verified(t, secret, hooks[0])
	var webhookID string
	for _, n := range delivered {
		if strings.HasPrefix(n.Channel, "webhook:") {
			webhookID = n.ID
		}
	}
	a := p.Alerts
	if p.Version != "4" || p.Status != "firing" || p.Receiver != "avatar-api" || len(a) != 1 ||
		a[0].Labels["alertname"] != "cost_daily" || a[0].Labels["key"] != key || a[0].Labels["severity"] != "warning" ||
		!strings.HasPrefix(a[0].Annotations["summary"], "GPU cost today is $0.0") ||
		!strings.Contains(a[0].Annotations["figures"], "threshold: $0.0000") ||
		a[0].GeneratorURL != tb.url+"/dashboard" || !a[0].EndsAt.IsZero() || a[0].Fingerprint == "" ||
		hooks[0].header.Get("webhook-id") != webhookID {
		t.Errorf("webhook payload %s (webhook-id %q, want %q)", hooks[0].body, hooks[0].header.Get("webhook-id"), webhookID)
	}
	mails := smtp.Mail()
	if len(mails) != 1 {
		t.Fatalf("%d emails, want 1", len(mails))
	}
	subject, text, html := readMail(t, mails[0].Data)
	if !strings.Contains(subject, "[FIRING]") || !strings.Contains(subject, "GPU cost today") ||
		!strings.Contains(text, "cost today: $0.0") || !strings.Contains(text, tb.url+"/dashboard") ||
		!strings.Contains(text, "COST_DAILY_THRESHOLD_USD") || !strings.Contains(html, "threshold") ||
		!strings.Contains(html, `href="`+tb.url+`/dashboard"`) || mails[0].To[0] != "ops@example.com" {
		t.Errorf("email %q:\n%s\n---\n%s", subject, text, html)
	}

	// The next day (the clocks of the store and the alerts move 24 h):
	// yesterday's alert resolves, on both channels, and nothing fires yet.
	shift.Add(int64(24 * time.Hour))
	notes = tb.evaluate(t)
	if len(notes) != 2 || notes[0].Status != store.AlertResolved || notes[0].AlertKey != key {
		t.Fatalf("the next day: %+v; want two resolved notices of %s", notes, key)
	}
	tb.waitDelivered(t, 4)
	if hooks = rcv.delivered(); len(hooks) != 2 {
		t.Fatalf("%d webhooks delivered, want 2", len(hooks))
	}
	if p := verified(t, secret, hooks[1]); p.Status != "resolved" || p.Alerts[0].EndsAt.IsZero() ||
		!strings.HasPrefix(p.Alerts[0].Annotations["summary"], "resolved: GPU cost today") {
		t.Errorf("resolved webhook: %s", hooks[1].body)
	}
	if subject, _, _ := readMail(t, smtp.Mail()[1].Data); !strings.Contains(subject, "[RESOLVED]") {
		t.Errorf("resolved email subject %q", subject)
	}
	// A job that day crosses that day's threshold: a new alert.
	tb.runJob(t)
	notes = tb.evaluate(t)
	next := "cost_daily/" + noon.AddDate(0, 0, 1).Format("2006-01-02") + "/1000n"
	if len(notes) != 2 || notes[0].AlertKey != next || notes[0].Status != store.AlertFiring {
		t.Fatalf("the next day's crossing: %+v; want two firing notifications of %s", notes, next)
	}
	tb.waitDelivered(t, 6)
	if n := len(rcv.all()); n != 3 || len(smtp.Mail()) != 3 {
		t.Errorf("%d webhooks and %d emails in all, want 3 each", n, len(smtp.Mail()))
	}
}

// atNoon is a shift of the store's and the alerts' clocks that makes them
// read today's noon (UTC) now, so that no test of days meets a real
// midnight; the test moves it on.
func atNoon() (*atomic.Int64, time.Time) {
	now := time.Now().UTC()
	noon := time.Date(now.Year(), now.Month(), now.Day(), 12, 0, 0, 0, time.UTC)
	var shift atomic.Int64
	shift.Store(int64(noon.Sub(now)))
	return &shift, noon
}

// readMail returns an email's subject and its plain-text and HTML parts.
func readMail(t *testing.T, data []byte) (subject, text, html string) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q: %v", m.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b := decodePart(t, p)
		switch ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct {
		case "text/plain":
			text = b
		case "text/html":
			html = b
		}
	}
	if text == "" || html == "" {
		t.Fatalf("email lacks a text or an HTML part")
	}
	return subject, text, html
}

// decodePart reads a part, undoing its transfer encoding.
func decodePart(t *testing.T, p *multipart.Part) string {
	t.Helper()
	var r io.Reader = p
	switch strings.ToLower(p.Header.Get("Content-Transfer-Encoding")) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, p)
	case "quoted-printable":
		// multipart.Part already decodes quoted-printable.
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAlertOnceAcrossReplicas: two processes over one PostgreSQL
// database evaluating the same crossing at the same moment, again and
// again, notify it once per channel.
func TestAlertOnceAcrossReplicas(t *testing.T) {
	t.Parallel()
	rcv, smtp, secret := newReceiver(t), testkit.StartSMTP(t, "", ""), newSecret(t)
	var cfg *config.Config
	tb := setup(t, options{postgres: true, configure: func(c *config.Config) {
		alertChannels(rcv, secret, smtp)(c)
		c.CostDailyThreshold = 1000
		cfg = c
	}})
	// The second replica: the same database and storage, with workers
	// that deliver too.
	cfg2 := *cfg
	second, err := app.New(context.Background(), &cfg2, logging.New(io.Discard, slog.LevelInfo), app.Overrides{
		Store: tb.store, PollInterval: 100 * time.Millisecond, AlertEvery: -1,
		AlertBackoff: func(int) time.Duration { return 50 * time.Millisecond },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = second.StopWorkers(5 * time.Second); second.Close() })
	tb.runJob(t)
	var decided atomic.Int64
	for round := range 5 {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, a := range []*app.App{tb.app, second, tb.app, second} {
			wg.Go(func() {
				<-start
				ev, err := a.Alerts().Evaluate(context.Background())
				if err != nil {
					t.Errorf("round %d: %v", round, err)
				}
				decided.Add(int64(len(ev.Notifications)))
			})
		}
		close(start)
		wg.Wait()
	}
	if decided.Load() != 2 {
		t.Fatalf("%d notifications decided by 20 evaluations on two replicas, want 2", decided.Load())
	}
	tb.waitDelivered(t, 2)
	if len(rcv.all()) != 1 || len(smtp.Mail()) != 1 {
		t.Fatalf("%d webhooks and %d emails, want 1 each", len(rcv.all()), len(smtp.Mail()))
	}
}

// TestAlertReceiverDownThenBack: the periodic evaluation notices the
// crossing by itself; a receiver that fails gets the alert once it
// answers again, every attempt recorded and carrying the same
// webhook-id; while it fails, /ready says so (still ready) and its
// channel's gauge is 1.
func TestAlertReceiverDownThenBack(t *testing.T) {
	t.Parallel()
	rcv, secret := newReceiver(t), newSecret(t)
	rcv.status.Store(http.StatusServiceUnavailable)
	tb := setup(t, options{metricsToken: metricsToken, alertEvery: 200 * time.Millisecond, configure: func(c *config.Config) {
		alertChannels(rcv, secret, nil)(c)
		c.CostDailyThreshold = 1000
	}})
	tb.runJob(t)
	id := tb.firstNotification(t)
	var attempts []store.DeliveryAttempt
	testkit.WaitFor(t, 30*time.Second, "three failed attempts", func() bool {
		var err error
		attempts, err = tb.store.Attempts(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return len(attempts) >= 3
	})
	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	testkit.WaitFor(t, 10*time.Second, "/ready to name the failing channel", func() bool {
		resp := tb.call(t, http.MethodGet, "/ready", "", nil, "", &ready)
		return resp.StatusCode == http.StatusOK && strings.HasPrefix(ready.Checks["alerts"], "degraded: 1 of 1 alert channels failing")
	})
	if ready.Status != "ready" || strings.Contains(ready.Checks["alerts"], "127.0.0.1") {
		t.Errorf("/ready (public: no channel named): %+v", ready)
	}
	// The alert gauges are read from the database at scrape time, within
	// 2 s: a scrape on a loaded machine may come without them.
	var m string
	gauges := func() bool {
		m = scrape(t, tb.url+"/metrics", metricsToken)
		return strings.Contains(m, `avatar_alert_channel_failing{channel="webhook:127.0.0.1:`) &&
			value(m, `avatar_alerts_firing{rule="cost_daily"}`) == 1
	}
	testkit.WaitFor(t, 20*time.Second, "the alert gauges of a failing channel", gauges)
	testkit.Promtool(t, []byte(m))

	rcv.status.Store(http.StatusNoContent) // back
	tb.waitDelivered(t, 1)                 // and only one: the evaluations since decided nothing more
	attempts, err := tb.store.Attempts(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	last := attempts[len(attempts)-1]
	if !last.Delivered || last.Status != http.StatusNoContent || attempts[0].Delivered || attempts[0].Status != http.StatusServiceUnavailable ||
		!strings.Contains(attempts[0].Error, "503") {
		t.Errorf("attempts: first %+v, last %+v", attempts[0], last)
	}
	hooks := rcv.all()
	if len(hooks) != len(attempts) || len(rcv.delivered()) != 1 {
		t.Errorf("the receiver got %d requests (%d answered 2xx) for %d recorded attempts", len(hooks), len(rcv.delivered()), len(attempts))
	}
	for _, h := range hooks {
		if h.header.Get("webhook-id") != id {
			t.Errorf("an attempt's webhook-id %q, want %q on every one", h.header.Get("webhook-id"), id)
		}
	}
	testkit.WaitFor(t, 10*time.Second, "/ready's alerts check to be ok again", func() bool {
		tb.call(t, http.MethodGet, "/ready", "", nil, "", &ready)
		return ready.Checks["alerts"] == "ok"
	})
	m = scrape(t, tb.url+"/metrics", metricsToken)
	if strings.Contains(m, "receiver-token") || strings.Contains(m, "/hooks/alerts") || strings.Contains(m, secret) {
		t.Error("the metrics show the webhook's path, query or secret")
	}
	if strings.Contains(tb.logs.String(), "receiver-token") || strings.Contains(tb.logs.String(), secret) {
		t.Error("the logs show the webhook's query or secret")
	}
}

// TestFailureRatioAlertOnFailedJobs: the failure-ratio rule counts jobs
// that really failed (RunPod's worker refuses them), and waits for
// ALERT_FAILURE_MIN_JOBS of them.
func TestFailureRatioAlertOnFailedJobs(t *testing.T) {
	t.Parallel()
	d := newDouble(t, runpodtest.Options{})
	tb := setup(t, options{runpod: d, maxAttempts: 1, configure: func(c *config.Config) {
		c.AlertFailureMinJobs, c.CostDailyThreshold = 3, 0
	}})
	real := &serverless.Generate{Generator: nil, Name: "still", WorkDir: t.TempDir(), Log: tb.log}
	tb.runpodHandler(t, failing(real))
	firing := func() []string {
		ev, err := tb.app.Alerts().Evaluate(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var rules []string
		for _, f := range ev.Firing {
			rules = append(rules, f.Rule)
		}
		return rules
	}
	for i := range 3 {
		j := tb.submitSmall(t, withPrompt(promptRefuse)...)
		tb.wantFailed(t, j.ID, face.CodeNoFace, 1)
		got := firing()
		if i < 2 && len(got) != 0 {
			t.Fatalf("after %d failed jobs (fewer than ALERT_FAILURE_MIN_JOBS): firing %v", i+1, got)
		}
		if i == 2 && (len(got) != 1 || got[0] != "failure_ratio") {
			t.Fatalf("after 3 failed jobs: firing %v, want failure_ratio", got)
		}
	}
	states, err := tb.store.AlertStates(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 1 || !states[0].Firing || states[0].Rule != "failure_ratio" ||
		!strings.HasPrefix(states[0].Summary, "100.0% of the jobs of the last hour failed (3 of 3)") {
		t.Errorf("alert states: %+v", states)
	}
}

// TestSpendingCap: once the day's cost reaches COST_DAILY_CAP_USD, new
// jobs are refused with 429 budget_exhausted until midnight (a retry of
// an accepted job still gets it back, and a job accepted before still
// runs); after midnight they are accepted again.
func TestSpendingCap(t *testing.T) {
	t.Parallel()
	shift, noon := atNoon()
	// Jobs wait at the RunPod double until both are accepted: were the
	// first done before the second came, the second would be refused.
	d := newDouble(t, runpodtest.Options{})
	tb := setup(t, options{runpod: d, shift: shift, configure: func(c *config.Config) {
		c.CostDailyCap = 1 // a nano-dollar: one job reaches it
	}})
	body, ct := multipartBody(t, small...)
	var first api.Job
	if resp := tb.call(t, http.MethodPost, "/generate", keyA, body, ct, &first, "Idempotency-Key", "first-job"); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("first job: %d", resp.StatusCode)
	}
	second := tb.submitSmall(t)
	tb.runpodWorker(t)
	tb.waitFor(t, keyA, first.ID, "completed")
	// The cap reads the cost at most every 5 s: 6 s later (the clocks of
	// the store and the cap move), a new job is refused.
	shift.Add(int64(6 * time.Second))
	var pb struct {
		problemBody
		ResetsAt time.Time `json:"resets_at"`
	}
	body, ct = multipartBody(t, small...)
	resp := tb.call(t, http.MethodPost, "/generate", keyA, body, ct, &pb)
	midnight := time.Date(noon.Year(), noon.Month(), noon.Day()+1, 0, 0, 0, 0, time.UTC)
	if resp.StatusCode != http.StatusTooManyRequests || pb.Code != "budget_exhausted" || !pb.ResetsAt.Equal(midnight) || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(pb.Detail, "daily spending cap") || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("refusal: %+v, Retry-After %q, %s", pb, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"))
	}
	// A retry of the first job gets it back; accepted jobs still run.
	body, ct = multipartBody(t, small...)
	var again api.Job
	if resp := tb.call(t, http.MethodPost, "/generate", keyA, body, ct, &again, "Idempotency-Key", "first-job"); resp.StatusCode != http.StatusAccepted ||
		again.ID != first.ID || resp.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("a retry of the first job while the cap holds: %d, job %s (want 202, %s, replayed)", resp.StatusCode, again.ID, first.ID)
	}
	tb.waitFor(t, keyA, second.ID, "completed")
	// Just after midnight, new jobs are accepted again.
	shift.Store(int64(time.Until(midnight) + time.Second))
	if _, resp := tb.submit(t, keyA, small...); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("after midnight: %d", resp.StatusCode)
	}
}

// TestAlertSecretsStayHidden: the SMTP password, the webhook secret and
// the webhook URL's path and query (a Slack URL's credential) appear in
// no log, metric, /ready answer, recorded attempt or database file, even
// when every delivery fails (the SMTP password is wrong, the receiver
// answers 500).
func TestAlertSecretsStayHidden(t *testing.T) {
	t.Parallel()
	rcv, secret := newReceiver(t), newSecret(t)
	rcv.status.Store(http.StatusInternalServerError)
	smtp := testkit.StartSMTP(t, "alerts", "right-pa55word")
	const password = "wr0ng-pa55word-4f9c"
	tb := setup(t, options{metricsToken: metricsToken, configure: func(c *config.Config) {
		alertChannels(rcv, secret, smtp)(c)
		c.SMTPURL = "smtp://alerts:" + password + "@" + smtp.Addr
		c.CostDailyThreshold = 1000
	}})
	tb.runJob(t)
	notes := tb.evaluate(t)
	if len(notes) != 2 {
		t.Fatalf("%d notifications, want 2", len(notes))
	}
	var all []store.DeliveryAttempt
	testkit.WaitFor(t, 30*time.Second, "two failed attempts on each channel", func() bool {
		all = nil
		for _, n := range notes {
			a, err := tb.store.Attempts(context.Background(), n.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(a) < 2 {
				return false
			}
			all = append(all, a...)
		}
		return true
	})
	var ready struct {
		Checks map[string]string `json:"checks"`
	}
	testkit.WaitFor(t, 10*time.Second, "/ready to name both failing channels", func() bool {
		tb.call(t, http.MethodGet, "/ready", "", nil, "", &ready)
		return strings.HasPrefix(ready.Checks["alerts"], "degraded: 2 of 2 alert channels failing")
	})
	var errs []string
	for _, a := range all {
		if a.Delivered {
			t.Fatalf("an attempt was delivered: %+v", a)
		}
		errs = append(errs, a.Error)
	}
	if !strings.Contains(strings.Join(errs, "\n"), "535") {
		t.Errorf("no attempt says the SMTP server refused the password: %q", errs)
	}
	recorded, err := tb.store.Notifications(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range recorded {
		errs = append(errs, n.LastError, n.Channel)
	}
	texts := map[string]string{
		"logs":     tb.logs.String(),
		"metrics":  scrape(t, tb.url+"/metrics", metricsToken),
		"/ready":   fmt.Sprint(ready.Checks),
		"attempts": strings.Join(errs, "\n"),
	}
	for _, f := range []string{tb.db, tb.db + "-wal"} {
		if b, err := os.ReadFile(f); err == nil {
			texts[f] = string(b)
		}
	}
	for where, text := range texts {
		for _, s := range []string{password, secret, strings.TrimPrefix(secret, "whsec_"), "receiver-token", "/hooks/alerts"} {
			if strings.Contains(text, s) {
				t.Errorf("%s shows %q", where, s)
			}
		}
	}
}

// TestRateLimitSpikeAlert: the refusals of one customer's requests by its
// rate limit are counted (per minute, in the rollups of every replica)
// and, past ALERT_RATE_LIMIT_REFUSALS in the last hour, alert once for
// that customer.
func TestRateLimitSpikeAlert(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{noWorkers: true, limiter: ratelimit.NewMemory(), configure: func(c *config.Config) {
		c.AlertRateLimitRefusals, c.CostDailyThreshold = 3, 0
	}})
	var c createdKey
	tb.json(t, http.MethodPost, "/admin/keys", keyA, map[string]any{"customer": "acme", "rate_limit": 1}, &c)
	for i := range 4 { // one allowed, three refused
		body, ct := multipartBody(t, part{Name: "prompt", Value: "no image"})
		var pb problemBody
		resp := tb.call(t, http.MethodPost, "/generate", c.Key, body, ct, &pb)
		if (i == 0) != (resp.StatusCode != http.StatusTooManyRequests) || (i > 0 && pb.Code != "rate_limited") {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, pb.Code)
		}
	}
	var refusals []store.OwnerRefusals
	testkit.WaitFor(t, 10*time.Second, "the refusals in the rollups", func() bool {
		var err error
		refusals, err = tb.store.RefusalsByOwner(context.Background(), store.Window{From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Minute)}, 10)
		if err != nil {
			t.Fatal(err)
		}
		return len(refusals) == 1 && refusals[0].Refusals == 3
	})
	if refusals[0].Owner != store.CustomerOwner("acme") {
		t.Fatalf("refusals: %+v", refusals)
	}
	ev, err := tb.app.Alerts().Evaluate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Firing) != 1 || ev.Firing[0].Key != "rate_limit_spike/acme" ||
		!strings.HasPrefix(ev.Firing[0].Summary, "customer acme was refused 3 requests") {
		t.Fatalf("firing: %+v", ev.Firing)
	}
}
