package store

import (
	"context"
	"slices"
	"time"
)

// The webhook events a job's transitions send (webhook_events).
const (
	WebhookStarted   = "job.started"
	WebhookCompleted = "job.completed"
	WebhookFailed    = "job.failed"
	WebhookCancelled = "job.cancelled"
	WebhookExpired   = "job.expired"
)

// WebhookEvents are every event, and DefaultWebhookEvents those a job
// sends when it names none: its ends.
var (
	WebhookEvents        = []string{WebhookStarted, WebhookCompleted, WebhookFailed, WebhookCancelled, WebhookExpired}
	DefaultWebhookEvents = []string{WebhookCompleted, WebhookFailed, WebhookCancelled, WebhookExpired}
)

// WebhookEvent is the event a transition sends, or "": a job's first
// start (a start after a requeue is the same job going on), its
// completion, failure and cancellation, and its expiry (a lapse of its
// max_queue_seconds, or its video's deletion after completion).
func WebhookEvent(t Transition, firstStart bool) string {
	switch t {
	case Start:
		if firstStart {
			return WebhookStarted
		}
	case Complete:
		return WebhookCompleted
	case Fail:
		return WebhookFailed
	case Cancel:
		return WebhookCancelled
	case Lapse, Expire:
		return WebhookExpired
	}
	return ""
}

// Wants reports whether a job with these webhook events sends event e.
func Wants(events []string, e string) bool {
	if len(events) == 0 {
		events = DefaultWebhookEvents
	}
	return e != "" && slices.Contains(events, e)
}

// WebhookSecret is a customer's signing secret as stored: a random salt
// from which, with the service's own secret, the secret is derived, never
// the secret itself. After a rotation the previous salt signs too, until
// PreviousUntil.
type WebhookSecret struct {
	Customer      string
	Salt          string
	CreatedAt     time.Time
	PreviousSalt  string
	PreviousUntil *time.Time
}

// WebhookDelivery is one event of one job sent to the job's webhook URL,
// written in the transaction of the transition it tells of. Its ID is the
// webhook-id of every attempt, redeliveries included.
type WebhookDelivery struct {
	ID        string
	JobID     string
	Owner     string
	EventID   int64
	Type      string // job.completed, …
	URL       string // sealed
	Display   string
	EventAt   time.Time // the transition's time
	CreatedAt time.Time
	State     string // DeliveryPending, DeliveryDelivered, DeliveryFailed
	// Redeliveries counts the customer's redeliveries: each enqueues a
	// queue entry of its own, of this generation, and an entry of an
	// older one stops.
	Redeliveries  int
	Attempts      int
	LastAttemptAt *time.Time
	LastStatus    int
	LastError     string
	DeliveredAt   *time.Time
}

// WebhookAttempt is one attempt to deliver a webhook.
type WebhookAttempt struct {
	ID         int64
	DeliveryID string
	At         time.Time
	Delivered  bool
	Status     int // HTTP status; 0: no answer
	Error      string
	Latency    time.Duration
	Final      bool // no attempt follows: the delivery failed
	// Generation is the redelivery whose queue entry made the attempt: a
	// final failure of an older one does not fail the delivery.
	Generation int
}

// WebhookHealth is how one customer's endpoints fared since a time: the
// deliveries still retrying or given up, and the last attempt.
type WebhookHealth struct {
	Owner         string
	Display       string // the endpoint of the last failed attempt
	Deliveries    int
	Delivered     int
	Retrying      int // pending, with failed attempts
	Failed        int // given up
	LastError     string
	LastStatus    int
	LastAttemptAt time.Time
	LastDelivered *time.Time
}

// Webhooks persists customers' webhook secrets and the deliveries of
// their jobs' events. Deliveries themselves are written by Apply, in the
// transaction of the transition, with their River job.
type Webhooks interface {
	// PutWebhookSecret creates a customer's secret with salt, or rotates
	// it: the current salt becomes the previous one, valid until until
	// (now or earlier: not at all). ErrConflict if another call created
	// it meanwhile (call again: it rotates).
	PutWebhookSecret(ctx context.Context, customer, salt string, now, until time.Time) (*WebhookSecret, error)
	// AddWebhookSecret creates a customer's secret with salt only if they
	// have none; created reports whether it did.
	AddWebhookSecret(ctx context.Context, customer, salt string, now time.Time) (created bool, err error)
	// WebhookSecret returns a customer's secret, or ErrNotFound.
	WebhookSecret(ctx context.Context, customer string) (*WebhookSecret, error)
	// WebhookDelivery returns one delivery, or ErrNotFound.
	WebhookDelivery(ctx context.Context, id string) (*WebhookDelivery, error)
	// JobWebhooks lists a job's deliveries, oldest first, and their
	// attempts, oldest first.
	JobWebhooks(ctx context.Context, jobID string) ([]WebhookDelivery, []WebhookAttempt, error)
	// RecordWebhookAttempt records an attempt and updates its delivery:
	// delivered, failed when final and of the delivery's current
	// generation, else pending. ErrConflict, recording nothing, when the
	// delivery was delivered already.
	RecordWebhookAttempt(ctx context.Context, a WebhookAttempt) error
	// RedeliverWebhook sets a job's last delivery pending again, counts
	// the redelivery and enqueues it as a new generation at once (an
	// entry of an older one still waiting stops when it runs), returning
	// it; ErrNotFound when the job has none.
	RedeliverWebhook(ctx context.Context, jobID string) (*WebhookDelivery, error)
	// WebhookHealth sums, per owner with at least one delivery retrying
	// or given up, the deliveries created at or after since that were
	// attempted.
	WebhookHealth(ctx context.Context, since time.Time) ([]WebhookHealth, error)
}
