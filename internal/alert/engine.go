package alert

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/avatar-api/avatar-api/internal/alert/notify"
	"github.com/avatar-api/avatar-api/internal/stats"
	"github.com/avatar-api/avatar-api/internal/store"
)

// Store is what the engine reads and records: the history its facts come
// from, and the alerts' state and outbox.
type Store interface {
	store.History
	store.Alerts
}

// Engine evaluates the rules over the store's facts, records what fires
// (store.Alerts decides, once across every process, which notifications
// go out) and delivers each notification to its channel. The queue calls
// Evaluate periodically and Deliver once per attempt of a notification.
type Engine struct {
	Rules    Rules
	Store    Store
	Location *time.Location // COST_TIMEZONE
	// Repeat is how long after its last notification a firing alert is
	// notified again (ALERT_REPEAT_INTERVAL); 0: never.
	Repeat time.Duration
	// ResolveAfter is how long an alert must have stopped holding before
	// it is resolved (0: ResolveAfter): one hovering at its threshold
	// does not flap.
	ResolveAfter time.Duration
	Channels     []Channel
	// DashboardURL is linked from every notification.
	DashboardURL string
	Now          func() time.Time // nil: time.Now
	Log          *slog.Logger
	// Delivered, if set, is told of each attempt's outcome (metrics).
	Delivered func(channel Channel, d notify.Delivery)
}

// Channel is one place notifications go: a webhook URL or the email
// recipients. Its ID is stable across restarts and holds no secret.
type Channel interface {
	ID() string   // e.g. "webhook:hooks.slack.com:3f2a9c1e", "email:smtp.example.com:9b1d04aa"
	Kind() string // "webhook" or "email"
	Send(ctx context.Context, a notify.Alert, id string) notify.Delivery
}

// ResolveAfter is how long an alert must have stopped holding before it
// is resolved, as Alertmanager's resolve_timeout.
const ResolveAfter = 5 * time.Minute

// requeueAfter is how old a pending notification must be before an
// evaluation enqueues its delivery again (a no-op while its job lives).
const requeueAfter = 10 * time.Minute

// content is an alert's content as a notification carries it: the
// store's opaque payload (a Firing, with JSON names).
type content struct {
	Rule        string   `json:"rule"`
	Key         string   `json:"key"`
	Severity    string   `json:"severity"`
	Summary     string   `json:"summary"`
	Description string   `json:"description"`
	Figures     []Figure `json:"figures"`
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Evaluation is what one evaluation found and decided.
type Evaluation struct {
	Facts         Facts
	Firing        []Firing
	Notifications []store.Notification // decided now, to be delivered by the queue
}

// Evaluate gathers the facts of now, evaluates the rules and records the
// outcome. The notifications it decides are already enqueued.
func (e *Engine) Evaluate(ctx context.Context) (Evaluation, error) {
	f, err := e.Facts(ctx, e.now())
	if err != nil {
		return Evaluation{}, err
	}
	firing := e.Rules.Evaluate(f)
	p := store.RecordAlertsParams{Now: f.Now, Repeat: e.Repeat, ResolveAfter: cmp.Or(e.ResolveAfter, ResolveAfter)}
	for _, ch := range e.Channels {
		p.Channels = append(p.Channels, ch.ID())
	}
	for _, a := range firing {
		payload, err := json.Marshal(content(a))
		if err != nil {
			return Evaluation{}, fmt.Errorf("encoding alert: %w", err)
		}
		p.Firing = append(p.Firing, store.FiringAlert{Key: a.Key, Rule: a.Rule, Severity: a.Severity, Summary: a.Summary, Payload: payload})
	}
	if p.Firing, err = e.keepForecasts(ctx, p.Firing); err != nil {
		return Evaluation{}, err
	}
	notes, err := e.Store.RecordAlerts(ctx, p)
	if err != nil {
		return Evaluation{}, fmt.Errorf("recording alerts: %w", err)
	}
	for _, n := range notes {
		e.log().InfoContext(ctx, "alert notification decided", "alert", n.AlertKey, "status", n.Status,
			"repeat", n.Repeat, "channel", n.Channel, "notification", n.ID)
	}
	// A delivery whose job River gave up on (its process died on its last
	// attempt) is enqueued again: nothing stays pending for good.
	if _, err := e.Store.RequeuePending(ctx, f.Now.Add(-requeueAfter), 100); err != nil {
		return Evaluation{}, fmt.Errorf("requeueing pending notifications: %w", err)
	}
	return Evaluation{Facts: f, Firing: firing, Notifications: notes}, nil
}

// keepForecasts keeps a forecast alert that fires firing once the actual
// spend reaches its share: the forecast came true, and a "resolved"
// notice would read as good news. It ends with its month.
func (e *Engine) keepForecasts(ctx context.Context, firing []store.FiringAlert) ([]store.FiringAlert, error) {
	actual := map[string]bool{}
	for _, a := range firing {
		if a.Rule == RuleBudgetActual {
			actual[strings.TrimPrefix(a.Key, RuleBudgetActual)] = true
		}
	}
	if len(actual) == 0 {
		return firing, nil
	}
	states, err := e.Store.AlertStates(ctx, 1000)
	if err != nil {
		return nil, fmt.Errorf("reading alerts: %w", err)
	}
	for _, st := range states {
		if st.Firing && st.Rule == RuleBudgetForecast && actual[strings.TrimPrefix(st.Key, RuleBudgetForecast)] {
			firing = append(firing, store.FiringAlert{Key: st.Key, Rule: st.Rule, Severity: st.Severity, Summary: st.Summary, Payload: st.Payload})
		}
	}
	return firing, nil
}

// EvaluateAlerts is Evaluate for the queue's periodic job.
func (e *Engine) EvaluateAlerts(ctx context.Context) error {
	_, err := e.Evaluate(ctx)
	return err
}

// Facts gathers what the rules look at, as of now: the day's and month's
// cost, the last hour's ended and failed jobs and rate-limit refusals,
// and the oldest queued job.
func (e *Engine) Facts(ctx context.Context, now time.Time) (Facts, error) {
	loc := e.Location
	if loc == nil {
		loc = time.UTC
	}
	f := Facts{Now: now, Location: loc}
	var err error
	if f.Cost, err = stats.SpendAt(ctx, e.Store, now, loc); err != nil {
		return Facts{}, err
	}
	hour := store.Window{From: now.Add(-time.Hour), To: now.Add(time.Second)}
	outcomes, err := e.Store.Outcomes(ctx, store.BucketParams{Window: hour, Step: time.Hour})
	if err != nil {
		return Facts{}, fmt.Errorf("the last hour's outcomes: %w", err)
	}
	for _, o := range outcomes {
		switch o.State {
		case store.StateFailed:
			f.Failed += int(o.Jobs)
			f.Ended += int(o.Jobs)
		case store.StateCompleted:
			f.Ended += int(o.Jobs)
		}
	}
	oldest, err := e.Store.OldestQueued(ctx)
	if err != nil {
		return Facts{}, fmt.Errorf("the oldest queued job: %w", err)
	}
	if oldest != nil && now.After(*oldest) {
		f.OldestQueued = now.Sub(*oldest)
	}
	refusals, err := e.Store.RefusalsByOwner(ctx, hour, 100)
	if err != nil {
		return Facts{}, fmt.Errorf("the last hour's refusals: %w", err)
	}
	for _, r := range refusals {
		if f.Refusals == nil {
			f.Refusals = map[string]int{}
		}
		f.Refusals[store.OwnerCustomer(r.Owner)] += int(r.Refusals)
	}
	return f, nil
}

// ErrUndelivered is the error of an attempt that did not deliver: the
// queue retries it.
var ErrUndelivered = errors.New("notification not delivered")

// Deliver makes one attempt to deliver a notification and records it;
// final says no attempt follows. A notification already delivered, or
// given up, is left alone. It returns an error (wrapping ErrUndelivered
// when the attempt failed) when another attempt should follow; on the
// final attempt, whatever failed is recorded as the notification's
// failure.
func (e *Engine) Deliver(ctx context.Context, id string, final bool) (err error) {
	defer func() {
		if err != nil && final {
			e.giveUp(ctx, id, err)
			err = nil
		}
	}()
	n, err := e.Store.Notification(ctx, id)
	if err != nil {
		return fmt.Errorf("reading notification %s: %w", id, err)
	}
	if n.State != store.DeliveryPending {
		return nil
	}
	ch := e.channel(n.Channel)
	if ch == nil {
		// Another process may have it (a rolling change of channels): it
		// is retried, and fails for good only on its last attempt.
		return fmt.Errorf("%w: channel %s is not configured in this process", ErrUndelivered, n.Channel)
	}
	a, err := e.Alert(n)
	if err != nil {
		return err
	}
	d := ch.Send(ctx, a, id)
	if e.Delivered != nil {
		e.Delivered(ch, d)
	}
	at := e.now()
	attempt := store.DeliveryAttempt{NotificationID: id, At: at, Delivered: d.Delivered(), Status: d.Status,
		Latency: d.Latency, Final: final}
	if d.Err != nil {
		attempt.Error = d.Err.Error()
	}
	// The record must outlive a cancelled attempt: it says what happened.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := e.Store.RecordAttempt(rctx, attempt); err != nil && !errors.Is(err, store.ErrConflict) {
		if d.Delivered() {
			// Sent, but not recorded: it stays pending, and a later
			// evaluation sends it again, with the same id, for the
			// receiver to drop.
			e.log().ErrorContext(ctx, "recording a delivered notification failed", "notification", id, "error", err)
			return nil
		}
		return fmt.Errorf("recording delivery attempt: %w", err)
	}
	log := e.log().With("notification", id, "alert", n.AlertKey, "status", n.Status, "channel", n.Channel,
		"target", d.Target, "code", d.Status, "latency_ms", d.Latency.Milliseconds())
	if d.Delivered() {
		log.InfoContext(ctx, "alert notification delivered")
		return nil
	}
	if final {
		log.ErrorContext(ctx, "alert notification failed for good", "error", d.Err)
		return nil
	}
	log.WarnContext(ctx, "alert notification not delivered; retrying", "error", d.Err)
	return fmt.Errorf("%w: %s", ErrUndelivered, attempt.Error)
}

// giveUp records that a notification's last attempt failed before it was
// sent (its channel missing here, the store failing). If even that cannot
// be recorded, the notification stays pending and a later evaluation
// enqueues it again.
func (e *Engine) giveUp(ctx context.Context, id string, cause error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := e.Store.RecordAttempt(rctx, store.DeliveryAttempt{NotificationID: id, At: e.now(), Final: true, Error: cause.Error()})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		e.log().ErrorContext(ctx, "recording a notification's failure failed; a later evaluation retries it",
			"notification", id, "error", err)
		return
	}
	e.log().ErrorContext(ctx, "alert notification failed for good", "notification", id, "error", cause)
}

// Alert is the message a notification carries.
func (e *Engine) Alert(n store.Notification) (notify.Alert, error) {
	var c content
	if err := json.Unmarshal(n.Payload, &c); err != nil {
		return notify.Alert{}, fmt.Errorf("decoding notification %s: %w", n.ID, err)
	}
	a := notify.Alert{
		Rule: c.Rule, Key: n.AlertKey, Status: n.Status, Severity: c.Severity, Summary: c.Summary,
		Description: c.Description, StartsAt: n.StartsAt, DashboardURL: e.DashboardURL,
	}
	if n.EndsAt != nil {
		a.EndsAt = *n.EndsAt
	}
	if n.Status == store.AlertResolved {
		a.Summary = "resolved: " + c.Summary
		a.Description = "This alert no longer holds (its condition cleared, or its day or month ended). What it said: " + c.Description
	}
	for _, f := range c.Figures {
		a.Figures = append(a.Figures, notify.Figure{Name: f.Name, Value: f.Value})
	}
	return a, nil
}

// Test sends a test alert through each channel of the given kind ("":
// all) now, outside the queue and the recorded state, and returns what
// happened on each.
func (e *Engine) Test(ctx context.Context, kind string) []notify.Delivery {
	now := e.now()
	a := notify.Alert{
		Rule: "test", Key: "test/" + now.UTC().Format(time.RFC3339), Status: notify.StatusFiring, Severity: "info",
		Summary:     "Test alert from avatar-api: this channel works",
		Description: "Sent by `avatar-api alerts test`. Nothing is wrong; real alerts arrive here in the same form.",
		Figures:     []notify.Figure{{Name: "sent at", Value: now.UTC().Format(time.RFC3339)}},
		StartsAt:    now, DashboardURL: e.DashboardURL,
	}
	var out []notify.Delivery
	for i, ch := range e.Channels {
		if kind != "" && ch.Kind() != kind {
			continue
		}
		out = append(out, ch.Send(ctx, a, fmt.Sprintf("test-%d-%d", now.UnixNano(), i)))
	}
	return out
}

func (e *Engine) channel(id string) Channel {
	for _, ch := range e.Channels {
		if ch.ID() == id {
			return ch
		}
	}
	return nil
}

func (e *Engine) log() *slog.Logger {
	if e.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Log
}
