package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/avatar-api/avatar-api/internal/store"
)

// The reads of the alerts (store.Alerts): their states, the notifications
// and their attempts, and each channel's summary.

const notificationColumns = `id, alert_key, rule, status, is_repeat, channel, payload, starts_at, ends_at, created_at,
	state, attempts, last_attempt_at, last_status, last_error, delivered_at`

func scanNotification(row scanner) (store.Notification, error) {
	var (
		n                        store.Notification
		payload                  string
		starts, ends, created    timeValue
		lastAttempt, deliveredAt timeValue
	)
	err := row.Scan(&n.ID, &n.AlertKey, &n.Rule, &n.Status, &n.Repeat, &n.Channel, &payload, &starts, &ends, &created,
		&n.State, &n.Attempts, &lastAttempt, &n.LastStatus, &n.LastError, &deliveredAt)
	n.Payload = []byte(payload)
	n.StartsAt, n.EndsAt, n.CreatedAt = starts.t, ends.ptr(), created.t
	n.LastAttemptAt, n.DeliveredAt = lastAttempt.ptr(), deliveredAt.ptr()
	return n, err
}

// Notification implements store.Alerts.
func (s *Store) Notification(ctx context.Context, id string) (store.Notification, error) {
	id, ok := store.ParseID(id)
	if !ok {
		return store.Notification{}, store.ErrNotFound
	}
	return s.notification(ctx, s.db, id)
}

// notification reads one notification by its canonical id.
func (s *Store) notification(ctx context.Context, db querier, id string) (store.Notification, error) {
	n, err := scanNotification(db.QueryRowContext(ctx, s.q(`SELECT `+notificationColumns+` FROM alert_notifications WHERE id = ?`), id))
	return n, s.interpret(err, "reading notification")
}

// Notifications implements store.Alerts.
func (s *Store) Notifications(ctx context.Context, limit int) ([]store.Notification, error) {
	var out []store.Notification
	err := s.rows(ctx, "listing notifications", `SELECT `+notificationColumns+` FROM alert_notifications
		ORDER BY created_at DESC, id DESC LIMIT ?`, []any{limit},
		func(r *sql.Rows) error {
			n, err := scanNotification(r)
			out = append(out, n)
			return err
		})
	return out, err
}

// AlertStates implements store.Alerts: the firing ones most recently
// started first, then the others most recently resolved first.
func (s *Store) AlertStates(ctx context.Context, limit int) ([]store.AlertState, error) {
	var out []store.AlertState
	err := s.rows(ctx, "listing alerts", `SELECT key, rule, severity, summary, payload, firing,
		started_at, notified_at, resolved_at, evaluated_at FROM alerts
		ORDER BY firing DESC, CASE WHEN firing THEN started_at ELSE resolved_at END DESC, key LIMIT ?`, []any{limit},
		func(r *sql.Rows) error {
			var a store.AlertState
			var payload string
			var started, notified, resolved, evaluated timeValue
			err := r.Scan(&a.Key, &a.Rule, &a.Severity, &a.Summary, &payload, &a.Firing,
				&started, &notified, &resolved, &evaluated)
			a.Payload = []byte(payload)
			a.StartedAt, a.NotifiedAt, a.ResolvedAt, a.EvaluatedAt = started.t, notified.t, resolved.ptr(), evaluated.t
			out = append(out, a)
			return err
		})
	return out, err
}

// Attempts implements store.Alerts.
func (s *Store) Attempts(ctx context.Context, notificationID string) ([]store.DeliveryAttempt, error) {
	id, ok := store.ParseID(notificationID)
	if !ok {
		return nil, nil
	}
	var out []store.DeliveryAttempt
	err := s.rows(ctx, "listing delivery attempts", `SELECT notification_id, channel, at, delivered, status, error, latency_ms, final
		FROM alert_attempts WHERE notification_id = ? ORDER BY at, id`, []any{id},
		func(r *sql.Rows) error {
			var a store.DeliveryAttempt
			var at timeValue
			var ms int64
			err := r.Scan(&a.NotificationID, &a.Channel, &at, &a.Delivered, &a.Status, &a.Error, &ms, &a.Final)
			a.At, a.Latency = at.t, time.Duration(ms)*time.Millisecond
			out = append(out, a)
			return err
		})
	return out, err
}

// ChannelStates implements store.Alerts: the counts in one pass over the
// notifications, then each channel's attempts read from their indexes.
func (s *Store) ChannelStates(ctx context.Context) ([]store.ChannelState, error) {
	var out []store.ChannelState
	err := s.rows(ctx, "summing up channels", `SELECT channel,
		SUM(CASE WHEN state = ? THEN 1 ELSE 0 END), SUM(CASE WHEN state = ? THEN 1 ELSE 0 END),
		SUM(CASE WHEN state = ? THEN 1 ELSE 0 END)
		FROM alert_notifications GROUP BY channel ORDER BY channel`,
		[]any{store.DeliveryPending, store.DeliveryDelivered, store.DeliveryFailed},
		func(r *sql.Rows) error {
			var c store.ChannelState
			err := r.Scan(&c.Channel, &c.Pending, &c.Delivered, &c.Failed)
			out = append(out, c)
			return err
		})
	if err != nil {
		return nil, err
	}
	// After the rows are closed: SQLite has one connection.
	for i := range out {
		if err := s.channelAttempts(ctx, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// channelAttempts fills in c's last attempt, last delivery, and the first
// failure since. The booleans are compared to true and false, not tested
// bare, so that SQLite's planner uses alert_attempts_channel_delivered.
func (s *Store) channelAttempts(ctx context.Context, c *store.ChannelState) error {
	var last, delivered, failing timeValue
	err := s.db.QueryRowContext(ctx, s.q(`SELECT at, delivered, status, error FROM alert_attempts
		WHERE channel = ? ORDER BY at DESC, id DESC LIMIT 1`), c.Channel).Scan(&last, &c.LastDelivered, &c.LastStatus, &c.LastError)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return s.interpret(err, "reading channel's last attempt")
	}
	c.LastAttemptAt = last.ptr()
	err = s.db.QueryRowContext(ctx, s.q(`SELECT MAX(at) FROM alert_attempts WHERE channel = ? AND delivered = true`), c.Channel).Scan(&delivered)
	if err != nil {
		return s.interpret(err, "reading channel's last delivery")
	}
	c.LastDeliveredAt = delivered.ptr()
	if c.LastAttemptAt == nil || c.LastDelivered {
		return nil
	}
	where, args := `channel = ? AND delivered = false`, []any{c.Channel}
	if delivered.valid {
		where, args = where+` AND at > ?`, append(args, s.t(delivered.t))
	}
	err = s.db.QueryRowContext(ctx, s.q(`SELECT MIN(at) FROM alert_attempts WHERE `+where), args...).Scan(&failing)
	c.FailingSince = failing.ptr()
	return s.interpret(err, "reading channel's failures")
}
