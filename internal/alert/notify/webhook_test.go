package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/avatar-api/avatar-api/internal/alert/notify"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func costAlert() notify.Alert {
	return notify.Alert{
		Rule:         "cost_daily",
		Key:          "cost_daily/2026-12-03/10",
		Status:       notify.StatusFiring,
		Severity:     "warning",
		Summary:      "GPU cost today is $12.40, over the $10.00 threshold",
		Description:  "Lower max workers: avatar-api runpod scale --max-workers N",
		Figures:      []notify.Figure{{Name: "Cost today", Value: "$12.40"}, {Name: "Threshold", Value: "$10.00"}},
		Labels:       map[string]string{"period": "2026-12-03"},
		StartsAt:     time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC),
		DashboardURL: "https://avatar.example.com/dashboard",
	}
}

// received is one request as the receiver saw it.
type received struct {
	header http.Header
	body   []byte
}

// receiver is a real HTTP server that answers status and hands each
// request to the test.
func receiver(t *testing.T, status int) (*httptest.Server, <-chan received) {
	t.Helper()
	got := make(chan received, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- received{header: r.Header.Clone(), body: b}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

// amPayload is Alertmanager's webhook message, written here from its
// documentation rather than taken from the package.
type amPayload struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   *int              `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []struct {
		Status       string            `json:"status"`
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		StartsAt     string            `json:"startsAt"`
		EndsAt       string            `json:"endsAt"`
		GeneratorURL string            `json:"generatorURL"`
		Fingerprint  string            `json:"fingerprint"`
	} `json:"alerts"`
}

func TestWebhookAlertmanagerSigned(t *testing.T) {
	t.Parallel()
	srv, got := receiver(t, http.StatusOK)
	wh := &notify.Webhook{URL: srv.URL + "/hook?token=abc", Secret: testSecret, ExternalURL: "https://avatar.example.com"}
	verifier, err := standardwebhooks.NewWebhook(testSecret)
	if err != nil {
		t.Fatal(err)
	}

	var fingerprints []string
	for attempt := range 2 {
		d := wh.Send(context.Background(), costAlert(), "msg_delivery42")
		if d.Err != nil || d.Status != 200 || d.Channel != "webhook" {
			t.Fatalf("attempt %d: %+v", attempt, d)
		}
		if d.Target != strings.TrimPrefix(srv.URL, "http://") {
			t.Errorf("Target = %q, want the host only", d.Target)
		}
		r := <-got
		if err := verifier.Verify(r.body, r.header); err != nil {
			t.Fatalf("attempt %d: Standard Webhooks verification: %v", attempt, err)
		}
		if id := r.header.Get("webhook-id"); id != "msg_delivery42" {
			t.Errorf("webhook-id = %q, want the delivery id on every attempt", id)
		}
		var p amPayload
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		if p.Version != "4" || p.Status != "firing" || p.Receiver == "" || p.TruncatedAlerts == nil || *p.TruncatedAlerts != 0 ||
			p.ExternalURL != "https://avatar.example.com" || p.GroupLabels["alertname"] != "cost_daily" ||
			p.GroupKey != `{}:{alertname="cost_daily"}` {
			t.Errorf("message fields: %+v", p)
		}
		if len(p.Alerts) != 1 {
			t.Fatalf("%d alerts, want 1", len(p.Alerts))
		}
		a := p.Alerts[0]
		wantLabels := map[string]string{"alertname": "cost_daily", "severity": "warning", "key": "cost_daily/2026-12-03/10", "period": "2026-12-03"}
		if len(a.Labels) != len(wantLabels) {
			t.Errorf("labels = %v, want %v", a.Labels, wantLabels)
		}
		for k, v := range wantLabels {
			if a.Labels[k] != v || p.CommonLabels[k] != v {
				t.Errorf("label %s = %q (common %q), want %q", k, a.Labels[k], p.CommonLabels[k], v)
			}
		}
		if a.Status != "firing" || a.StartsAt != "2026-12-03T09:00:00Z" || a.EndsAt != "0001-01-01T00:00:00Z" ||
			a.GeneratorURL != "https://avatar.example.com/dashboard" {
			t.Errorf("alert fields: %+v", a)
		}
		if a.Annotations["summary"] != costAlert().Summary || a.Annotations["description"] != costAlert().Description ||
			a.Annotations["figures"] != "Cost today: $12.40\nThreshold: $10.00" || p.CommonAnnotations["summary"] != costAlert().Summary {
			t.Errorf("annotations: %v", a.Annotations)
		}
		if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(a.Fingerprint) {
			t.Errorf("fingerprint %q is not 16 hex digits", a.Fingerprint)
		}
		fingerprints = append(fingerprints, a.Fingerprint)
	}
	if fingerprints[0] != fingerprints[1] {
		t.Errorf("fingerprint changed between attempts: %v", fingerprints)
	}
}

func TestWebhookResolved(t *testing.T) {
	t.Parallel()
	srv, got := receiver(t, http.StatusNoContent)
	a := costAlert()
	a.Status = notify.StatusResolved
	a.EndsAt = time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	d := (&notify.Webhook{URL: srv.URL}).Send(context.Background(), a, "d1")
	if d.Err != nil || d.Status != 204 {
		t.Fatalf("%+v", d)
	}
	r := <-got
	if r.header.Get("webhook-signature") != "" {
		t.Error("signed without a secret")
	}
	var p amPayload
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Status != "resolved" || p.Alerts[0].Status != "resolved" || p.Alerts[0].EndsAt != "2026-12-04T00:00:00Z" {
		t.Errorf("resolved message: %+v", p)
	}
}

// TestSignHeadersVector checks the signing against the example in the
// Standard Webhooks specification, independently of the library.
func TestSignHeadersVector(t *testing.T) {
	t.Parallel()
	h, err := notify.SignHeaders(testSecret, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := h.Get("webhook-signature"), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("signature = %q, want %q", got, want)
	}
	if _, err := notify.SignHeaders("whsec_!!!", "id", time.Now(), nil); err == nil || strings.Contains(err.Error(), "!!!") {
		t.Errorf("bad secret: err = %v", err)
	}
}

// slackClient sends every request to srv whatever the URL's host, so a
// hooks.slack.com URL reaches the test's receiver.
func slackClient(srv *httptest.Server) *http.Client {
	addr := srv.Listener.Addr().String()
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
}

func TestWebhookSlack(t *testing.T) {
	t.Parallel()
	srv, got := receiver(t, http.StatusOK)
	wh := &notify.Webhook{URL: "http://hooks.slack.com/services/T0/B0/sEcReTpAtH", HTTP: slackClient(srv), Secret: testSecret}
	d := wh.Send(context.Background(), costAlert(), "d2")
	if d.Err != nil || d.Target != "hooks.slack.com" {
		t.Fatalf("%+v", d)
	}
	r := <-got
	var m struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type   string `json:"type"`
			Text   *struct{ Type, Text string }
			Fields []struct{ Type, Text string }
		} `json:"blocks"`
	}
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatal(err)
	}
	if m.Text != "[FIRING] GPU cost today is $12.40, over the $10.00 threshold" {
		t.Errorf("text = %q", m.Text)
	}
	if len(m.Blocks) != 3 || m.Blocks[0].Type != "section" || m.Blocks[1].Type != "section" || m.Blocks[2].Type != "context" ||
		len(m.Blocks[1].Fields) != 2 || m.Blocks[1].Fields[0].Text != "*Cost today*\n$12.40" {
		t.Errorf("blocks: %s", r.body)
	}
	if strings.Contains(string(r.body), `"version"`) {
		t.Error("Slack got Alertmanager's payload")
	}
}

func TestWebhookFailures(t *testing.T) {
	t.Parallel()

	t.Run("status 500", func(t *testing.T) {
		t.Parallel()
		srv, got := receiver(t, http.StatusInternalServerError)
		d := (&notify.Webhook{URL: srv.URL}).Send(context.Background(), costAlert(), "d3")
		<-got
		if d.Err == nil || d.Status != 500 || d.Delivered() {
			t.Errorf("%+v", d)
		}
	})

	t.Run("slow past the timeout", func(t *testing.T) {
		t.Parallel()
		arrived := make(chan struct{}, 1)
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body) // so the server notices the client leave
			arrived <- struct{}{}
			select { // answers only once the client gives up, or the test ends
			case <-r.Context().Done():
			case <-release:
			}
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(release) })
		d := (&notify.Webhook{URL: srv.URL, Timeout: 100 * time.Millisecond}).Send(context.Background(), costAlert(), "d4")
		<-arrived
		if !errors.Is(d.Err, context.DeadlineExceeded) || d.Status != 0 {
			t.Errorf("%+v", d)
		}
	})

	t.Run("redirect not followed", func(t *testing.T) {
		t.Parallel()
		var followed atomic.Int32
		mux := http.NewServeMux()
		mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
		})
		mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) { followed.Add(1) })
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		d := (&notify.Webhook{URL: srv.URL + "/hook", HTTP: srv.Client()}).Send(context.Background(), costAlert(), "d5")
		if d.Err == nil || d.Status != http.StatusTemporaryRedirect || followed.Load() != 0 {
			t.Errorf("%+v, followed %d", d, followed.Load())
		}
	})

	t.Run("receiver down, URL path not in the error", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL + "/services/sEcReTpAtH?token=tOkEn"
		srv.Close()
		d := (&notify.Webhook{URL: url}).Send(context.Background(), costAlert(), "d6")
		if d.Err == nil {
			t.Fatal("delivered to a closed server")
		}
		for _, secret := range []string{"sEcReTpAtH", "tOkEn"} {
			if strings.Contains(d.Err.Error(), secret) || strings.Contains(d.Target, secret) {
				t.Errorf("delivery shows %q: %+v", secret, d)
			}
		}
	})

	t.Run("invalid alert", func(t *testing.T) {
		t.Parallel()
		a := costAlert()
		a.Status = "pending"
		if d := (&notify.Webhook{URL: "http://127.0.0.1:1"}).Send(context.Background(), a, "d7"); d.Err == nil {
			t.Error("sent an alert with status pending")
		}
	})
}
