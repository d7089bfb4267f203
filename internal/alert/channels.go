package alert

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"

	"github.com/avatar-api/avatar-api/internal/alert/notify"
)

// Webhook is a webhook channel: one URL (ALERT_WEBHOOK_URLS).
type Webhook struct{ notify.Webhook }

// NewWebhook is the channel of one URL, signed with secret when it is set.
func NewWebhook(rawURL, secret, externalURL string) *Webhook {
	return &Webhook{notify.Webhook{URL: rawURL, Secret: secret, ExternalURL: externalURL}}
}

// ID names the channel by its host and a short hash of its URL: a Slack
// URL's path is its credential, and must not be shown.
func (w *Webhook) ID() string { return "webhook:" + host(w.URL) + ":" + shortHash(w.URL) }

// Kind implements Channel.
func (w *Webhook) Kind() string { return "webhook" }

// Send implements Channel.
func (w *Webhook) Send(ctx context.Context, a notify.Alert, id string) notify.Delivery {
	return w.Webhook.Send(ctx, a, id)
}

// Email is the email channel: the recipients (ALERT_EMAIL_TO) through one
// server (SMTP_URL).
type Email struct{ notify.Email }

// NewEmail is the email channel; smtpURL holds the password, if any.
func NewEmail(smtpURL, from string, to []string) *Email {
	return &Email{notify.Email{SMTPURL: smtpURL, From: from, To: to}}
}

// ID names the channel by the server's host and a short hash of the
// recipients, so that a changed password is the same channel.
func (e *Email) ID() string {
	h := ""
	if cfg, err := notify.ParseSMTPURL(e.SMTPURL); err == nil {
		h = cfg.Host
	}
	return "email:" + h + ":" + shortHash(strings.Join(e.To, ","))
}

// Kind implements Channel.
func (e *Email) Kind() string { return "email" }

// Send implements Channel.
func (e *Email) Send(ctx context.Context, a notify.Alert, id string) notify.Delivery {
	return e.Email.Send(ctx, a, id)
}

// host is a URL's host name, "" if it has none.
func host(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// shortHash is 8 hex digits of SHA-256: enough to tell channels apart,
// too few to recover what was hashed.
func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}
