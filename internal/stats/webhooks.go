package stats

import (
	"context"
	"fmt"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/avatar-api/avatar-api/internal/store"
)

// WebhookWindow is how far back the webhooks panel looks: the deliveries
// created in the last 24 h, as long as a delivery is retried.
const WebhookWindow = 24 * time.Hour

// webhookErrorMax is how many characters of an attempt's error the panel
// shows; a longer one is cut, with "…".
const webhookErrorMax = 160

// WebhookHealthReader sums customers' webhook deliveries
// (store.Webhooks.WebhookHealth).
type WebhookHealthReader interface {
	WebhookHealth(ctx context.Context, since time.Time) ([]store.WebhookHealth, error)
}

// WebhooksPanel is the customers whose webhook endpoints fail: those with
// a delivery created since Since still retrying or given up.
type WebhooksPanel struct {
	Since   time.Time        `json:"since" doc:"The start of the window (24 h before generated_at): deliveries created since then are counted"`
	Failing []FailingWebhook `json:"failing" doc:"One row per customer with a delivery of the window retrying or given up, most given up first; empty when none"`
}

// FailingWebhook is one customer's webhook deliveries of the window. Its
// endpoint is the display form (scheme, host and a hash), never the URL.
type FailingWebhook struct {
	Customer        string     `json:"customer"`
	Endpoint        string     `json:"endpoint" doc:"The endpoint of the last failed attempt: its scheme and host and a hash that tells URLs apart, never the URL" example:"https://example.com/… #1f2e3d4c"`
	Deliveries      int        `json:"deliveries" doc:"The customer's deliveries of the window that were attempted"`
	Delivered       int        `json:"delivered" doc:"Of those, delivered (after retries, perhaps)"`
	Retrying        int        `json:"retrying" doc:"Still pending after failed attempts: retried with backoff for up to 24 h"`
	Failed          int        `json:"failed" doc:"Given up after 24 h of retries"`
	LastStatus      int        `json:"last_status" doc:"The HTTP status of the last failed attempt; 0: no answer (timeout, refused, TLS)"`
	LastError       string     `json:"last_error" doc:"Why the last failed attempt failed, cut to 160 characters"`
	LastAttemptAt   time.Time  `json:"last_attempt_at" doc:"The customer's last attempt of the window"`
	LastDeliveredAt *time.Time `json:"last_delivered_at" doc:"The customer's last successful delivery of the window; null: none"`
}

// Webhooks reads what the webhooks panel shows at now: the customers with
// deliveries created in the WebhookWindow before it that are retrying or
// given up, those with most given up first, then most retrying, then by
// name.
func Webhooks(ctx context.Context, w WebhookHealthReader, now time.Time) (*WebhooksPanel, error) {
	since := now.Add(-WebhookWindow).UTC()
	hs, err := w.WebhookHealth(ctx, since)
	if err != nil {
		return nil, fmt.Errorf("reading webhook health: %w", err)
	}
	p := &WebhooksPanel{Since: since, Failing: []FailingWebhook{}}
	for _, h := range hs {
		if h.Retrying == 0 && h.Failed == 0 {
			continue
		}
		p.Failing = append(p.Failing, FailingWebhook{
			Customer: store.OwnerCustomer(h.Owner), Endpoint: h.Display,
			Deliveries: h.Deliveries, Delivered: h.Delivered, Retrying: h.Retrying, Failed: h.Failed,
			LastStatus: h.LastStatus, LastError: cut(h.LastError, webhookErrorMax),
			LastAttemptAt: h.LastAttemptAt.UTC(), LastDeliveredAt: utc(h.LastDelivered),
		})
	}
	sort.SliceStable(p.Failing, func(i, j int) bool {
		a, b := p.Failing[i], p.Failing[j]
		if a.Failed != b.Failed {
			return a.Failed > b.Failed
		}
		if a.Retrying != b.Retrying {
			return a.Retrying > b.Retrying
		}
		return a.Customer < b.Customer
	})
	return p, nil
}

// cut is s cut to max characters, the last of them "…".
func cut(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}
