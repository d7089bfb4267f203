package worker

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/riverqueue/river"

	"github.com/avatar-api/avatar-api/internal/queue"
)

// Alerter evaluates the alert rules and delivers their notifications
// (alert.Engine).
type Alerter interface {
	// EvaluateAlerts evaluates the rules once and records what fires;
	// the notifications it decides are enqueued with it.
	EvaluateAlerts(ctx context.Context) error
	// Deliver makes one attempt to deliver a notification; final says
	// no attempt follows. An error asks for another.
	Deliver(ctx context.Context, notificationID string, final bool) error
}

// evaluateWorker runs one evaluation of the alert rules: a periodic job
// that River's leader enqueues, so once across every process.
type evaluateWorker struct {
	river.WorkerDefaults[queue.EvaluateAlertsArgs]
	alerts Alerter
}

func (w *evaluateWorker) Work(ctx context.Context, _ *river.Job[queue.EvaluateAlertsArgs]) error {
	return w.alerts.EvaluateAlerts(ctx)
}

// Timeout bounds an evaluation: a few queries.
func (w *evaluateWorker) Timeout(*river.Job[queue.EvaluateAlertsArgs]) time.Duration {
	return time.Minute
}

// deliverWorker makes one attempt to deliver a notification. A failed
// attempt is retried with backoff (NextRetry) up to
// queue.DeliverAlertAttempts times, about a day, so that a receiver that
// is down gets the alert when it comes back.
type deliverWorker struct {
	river.WorkerDefaults[queue.DeliverAlertArgs]
	alerts Alerter
	// backoff is the wait before retry n (1: the first); nil: AlertBackoff.
	backoff func(n int) time.Duration
}

func (w *deliverWorker) Work(ctx context.Context, j *river.Job[queue.DeliverAlertArgs]) error {
	return w.alerts.Deliver(ctx, j.Args.NotificationID, j.Attempt >= j.MaxAttempts)
}

// Timeout bounds one attempt: a channel's own limit (10 s) and the
// records around it.
func (w *deliverWorker) Timeout(*river.Job[queue.DeliverAlertArgs]) time.Duration {
	return 30 * time.Second
}

// NextRetry schedules the next attempt after a failed one.
func (w *deliverWorker) NextRetry(j *river.Job[queue.DeliverAlertArgs]) time.Time {
	b := w.backoff
	if b == nil {
		b = AlertBackoff
	}
	return time.Now().Add(b(j.Attempt))
}

// AlertBackoff is the wait before retry n of a notification: 10 s
// doubling to at most 30 min, each ±20 % so that many retries spread out.
// 60 attempts span about a day.
func AlertBackoff(n int) time.Duration {
	d := 30 * time.Minute
	if n < 8 {
		d = min(d, 10*time.Second<<max(n-1, 0))
	}
	jitter := 0.8 + 0.4*rand.Float64() //nolint:gosec // spreading retries, not a secret
	return time.Duration(float64(d) * jitter)
}
