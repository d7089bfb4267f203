package store

import (
	"context"
	"time"
)

// Alerts is the alerts' recorded state: which rules fire, the
// notifications to send about them, and each attempt to deliver one.
//
// A notification is an outbox row: it is written, and its delivery job
// enqueued on River's queue, in the transaction that decides it, so that
// an alert is notified once whatever crashes, and a second replica
// evaluating the same facts at the same moment finds the decision made.
type Alerts interface {
	// RecordAlerts records one evaluation of the rules at p.Now, in one
	// transaction, and returns the notifications it decided (one per
	// channel of p.Channels for each alert that needs telling):
	//   - an alert of p.Firing whose key has no row, or whose row is
	//     resolved, starts firing: its row says so (StartedAt, NotifiedAt
	//     p.Now) and a firing notification goes out;
	//   - an alert of p.Firing already firing gets its content (summary,
	//     severity, payload) updated, and if its last notification is
	//     p.Repeat or more before p.Now, a firing notification again
	//     (Repeat set) and NotifiedAt p.Now;
	//   - a firing row whose key is not in p.Firing, and was last found
	//     firing p.ResolveAfter or more before p.Now, is resolved
	//     (ResolvedAt p.Now) with a resolved notification carrying its
	//     last content.
	// Each change is made by a statement whose condition is the state it
	// changes (INSERT … ON CONFLICT, UPDATE … WHERE), so that of two
	// evaluations racing, only one makes it and notifies. With no
	// channels the state is still recorded.
	RecordAlerts(ctx context.Context, p RecordAlertsParams) ([]Notification, error)
	// Notification returns one notification, or ErrNotFound.
	Notification(ctx context.Context, id string) (Notification, error)
	// RecordAttempt records one attempt to deliver a notification and
	// its outcome: the attempt's row, and on the notification its count,
	// last outcome and state (delivered; failed when a.Final and not
	// delivered; else still pending). An attempt for a notification
	// already delivered is not recorded and returns ErrConflict.
	RecordAttempt(ctx context.Context, a DeliveryAttempt) error
	// AlertStates lists the alerts: the firing ones, then the others most
	// recently resolved first, at most limit.
	AlertStates(ctx context.Context, limit int) ([]AlertState, error)
	// Notifications lists the latest notifications, newest first, at
	// most limit.
	Notifications(ctx context.Context, limit int) ([]Notification, error)
	// Attempts lists a notification's delivery attempts, oldest first.
	Attempts(ctx context.Context, notificationID string) ([]DeliveryAttempt, error)
	// ChannelStates sums up each channel that has a notification: its
	// pending, delivered and failed notifications and its last attempt.
	ChannelStates(ctx context.Context) ([]ChannelState, error)
	// RequeuePending enqueues again the delivery of the pending
	// notifications decided before t (at most limit, oldest first) and
	// returns how many it looked at. A delivery job is unique while it
	// waits, runs or retries, so one still alive is left as it is; one
	// that River gave up on (its process died on its last attempt) gets a
	// new job: a notification never stays pending for good.
	RequeuePending(ctx context.Context, t time.Time, limit int) (int, error)
}

// Notification statuses: what a notification says about its alert.
const (
	AlertFiring   = "firing"
	AlertResolved = "resolved"
)

// Delivery states of a notification.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed" // given up: every attempt failed
)

// FiringAlert is an alert that holds at an evaluation.
type FiringAlert struct {
	Key      string // rule, period and threshold: one alert per key
	Rule     string
	Severity string
	Summary  string
	// Payload is the alert's content as its notifications carry it
	// (JSON, opaque to the store).
	Payload []byte
}

// RecordAlertsParams are one evaluation's outcome.
type RecordAlertsParams struct {
	Now    time.Time
	Firing []FiringAlert // every alert that holds at Now
	Repeat time.Duration // a firing alert is notified again after this long; 0: never
	// ResolveAfter is how long an alert must have stopped holding before
	// it is resolved, so that one hovering at its threshold does not
	// notify at every evaluation; 0: at once.
	ResolveAfter time.Duration
	Channels     []string // the channels to notify, by id
}

// AlertState is an alert's recorded state.
type AlertState struct {
	Key, Rule, Severity, Summary string
	Payload                      []byte
	Firing                       bool
	StartedAt                    time.Time  // when it last started firing
	NotifiedAt                   time.Time  // when a firing notification was last decided
	ResolvedAt                   *time.Time // nil while firing
	EvaluatedAt                  time.Time  // the last evaluation that found it firing, or resolved it
}

// Notification is one message about one alert to one channel.
type Notification struct {
	ID       string // a UUID: the webhook-id and Message-ID of every attempt
	AlertKey string
	Rule     string
	Status   string // AlertFiring or AlertResolved
	Repeat   bool   // a reminder of an alert already notified
	Channel  string
	Payload  []byte // the alert's content when it was decided
	StartsAt time.Time
	EndsAt   *time.Time // when it resolved; nil while firing
	// CreatedAt is when it was decided.
	CreatedAt time.Time

	State         string // DeliveryPending, DeliveryDelivered, DeliveryFailed
	Attempts      int
	LastAttemptAt *time.Time
	LastStatus    int    // the last attempt's HTTP status or SMTP code (0: none)
	LastError     string // the last failed attempt's error ("" once delivered)
	DeliveredAt   *time.Time
}

// DeliveryAttempt is one attempt to deliver a notification.
type DeliveryAttempt struct {
	NotificationID string
	Channel        string // filled in by Attempts
	At             time.Time
	Delivered      bool
	Status         int // HTTP status or SMTP reply code; 0: none
	Error          string
	Latency        time.Duration
	// Final says no attempt follows: the notification failed for good if
	// this one did not deliver it.
	Final bool
}

// ChannelState sums up one channel's notifications.
type ChannelState struct {
	Channel                    string
	Pending, Delivered, Failed int64
	LastAttemptAt              *time.Time
	LastDelivered              bool // the last attempt's outcome
	LastError                  string
	LastStatus                 int
	LastDeliveredAt            *time.Time
	// FailingSince is the first failed attempt after the last delivery
	// (nil when the last attempt delivered, or none was made).
	FailingSince *time.Time
}

// RefusalCount is one replica's rate-limit refusals of one owner's
// requests in one minute.
type RefusalCount struct {
	Minute   time.Time
	Replica  string
	Owner    string
	Refusals int64
}

// OwnerRequestCount is one owner's requests of one minute answered by one
// replica.
type OwnerRequestCount struct {
	Minute   time.Time
	Replica  string
	Owner    string
	Requests int64
}

// OwnerRefusals is how many of one owner's requests the rate limit
// refused.
type OwnerRefusals struct {
	Owner    string
	Refusals int64
}
