// Package notify delivers one alert to one channel: a webhook or an email.
// It knows nothing of rules, state or queues; the caller decides what fires,
// retries a failed Delivery and passes the same delivery id on every retry.
//
// Webhooks carry Alertmanager's webhook payload, version "4" (the shape of
// prometheus/alertmanager notify/webhook Message embedding template.Data),
// because many receivers already parse it: one alert per message, labels
// alertname (the rule), severity and key (the de-duplication key) plus the
// caller's labels, annotations summary, description, figures and
// dashboard_url, endsAt "0001-01-01T00:00:00Z" while firing and a
// fingerprint computed as Prometheus computes a label set's. A URL whose host
// is hooks.slack.com gets Slack's incoming-webhook payload instead (text plus
// a few blocks). When Webhook.Secret is set every request is signed with the
// Standard Webhooks headers (webhook-id, webhook-timestamp,
// webhook-signature "v1,<base64 HMAC-SHA256>"), webhook-id being the delivery
// id so a receiver can drop a retried duplicate. Only a 2xx answer within the
// timeout (10 s by default) counts as delivered; redirects are not followed.
//
// Email is sent with wneessen/go-mail as multipart/alternative, plain text
// and HTML (html/template, so alert text is escaped). smtps:// uses implicit
// TLS (port 465 by default); smtp:// requires STARTTLS (port 587 by default),
// except to a loopback host (localhost, 127.0.0.0/8, ::1) where STARTTLS is
// used when offered and plain SMTP otherwise, so local test servers and a
// relay on the same machine work. With a user in the URL, PLAIN or LOGIN
// authentication is used. The Message-ID is derived from the delivery id so a
// retried email is recognisable.
//
// Secrets: Delivery.Target holds the host only (a Slack URL's path is its
// secret), and no error returned here holds the SMTP password or the URL's
// path or query.
package notify

import (
	"strings"
	"time"
)

// Alert is one notification: a rule firing or resolved.
type Alert struct {
	Rule        string            // stable name, e.g. "cost_daily"
	Key         string            // the de-duplication key: rule + period + threshold, e.g. "cost_daily/2026-12-03/10"
	Status      string            // StatusFiring or StatusResolved
	Severity    string            // "warning", "critical"
	Summary     string            // one line, e.g. "GPU cost today is $12.40, over the $10.00 threshold"
	Description string            // what it means and what to do
	Figures     []Figure          // shown in the message: cost today, threshold, forecast…
	Labels      map[string]string // extra labels (bounded by the caller, no customer secrets)
	StartsAt    time.Time         // when the rule started firing
	EndsAt      time.Time         // zero while firing
	// DashboardURL links to the dashboard; it is the webhook's generatorURL.
	DashboardURL string
}

// Figure is one named number shown in a message, already formatted.
type Figure struct{ Name, Value string }

// The two values of Alert.Status, as Alertmanager spells them.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Delivery is the outcome of one attempt to send an alert on one channel,
// to be recorded by the caller. Err is nil exactly when it was delivered.
type Delivery struct {
	Channel string // "webhook" or "email"
	// Target is where it went, redacted: the host (and port) only, never a
	// path, a query or user information.
	Target string
	// Status is the HTTP status for a webhook; for email 250 when accepted,
	// else the SMTP reply code when the server gave one, else 0.
	Status  int
	Err     error
	Latency time.Duration
}

// Delivered reports whether the attempt succeeded.
func (d Delivery) Delivered() bool { return d.Err == nil }

// statusWord is the upper-case status for a subject line: [FIRING].
func statusWord(a Alert) string {
	return strings.ToUpper(a.Status)
}

// oneLine removes line breaks and control characters, for headers and
// subjects.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
