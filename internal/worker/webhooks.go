package worker

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/riverqueue/river"

	"github.com/avatar-api/avatar-api/internal/queue"
)

// Webhooker delivers customers' webhooks (webhook.Service).
type Webhooker interface {
	// Deliver makes one attempt to deliver a webhook; final says no
	// attempt follows. An error asks for another.
	Deliver(ctx context.Context, deliveryID string, generation int, final bool) error
}

// WebhookWindow is how long after its event a webhook is retried.
const WebhookWindow = 24 * time.Hour

// webhookWorker makes one attempt to deliver a webhook. A failed attempt
// is retried with exponential backoff and jitter (NextRetry) until
// WebhookWindow after the delivery was enqueued; the attempt at its end is
// the last.
type webhookWorker struct {
	river.WorkerDefaults[queue.DeliverWebhookArgs]
	webhooks Webhooker
	// backoff is the wait before retry n (1: the first); nil:
	// WebhookBackoff.
	backoff func(n int) time.Duration
	window  time.Duration
}

func (w *webhookWorker) Work(ctx context.Context, j *river.Job[queue.DeliverWebhookArgs]) error {
	final := j.Attempt >= j.MaxAttempts || !time.Now().Before(j.CreatedAt.Add(w.window-time.Second))
	return w.webhooks.Deliver(ctx, j.Args.DeliveryID, j.Args.Redelivery, final)
}

// Timeout bounds one attempt: the endpoint's 10 s and the records around
// it.
func (w *webhookWorker) Timeout(*river.Job[queue.DeliverWebhookArgs]) time.Duration {
	return 30 * time.Second
}

// NextRetry schedules the next attempt after a failed one, at the latest
// at the end of the window.
func (w *webhookWorker) NextRetry(j *river.Job[queue.DeliverWebhookArgs]) time.Time {
	b := w.backoff
	if b == nil {
		b = WebhookBackoff
	}
	next := time.Now().Add(b(j.Attempt))
	if end := j.CreatedAt.Add(w.window); next.After(end) {
		next = end
	}
	return next
}

// WebhookBackoff is the wait before retry n of a webhook: 5 s doubling to
// at most an hour, each ±20 % so that many retries spread out (about 30
// attempts in a day).
func WebhookBackoff(n int) time.Duration {
	d := time.Hour
	if n < 11 {
		d = min(d, 5*time.Second<<max(n-1, 0))
	}
	jitter := 0.8 + 0.4*rand.Float64() //nolint:gosec // spreading retries, not a secret
	return time.Duration(float64(d) * jitter)
}
