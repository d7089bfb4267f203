package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/avatar-api/avatar-api/internal/queue"
	"github.com/avatar-api/avatar-api/internal/store"
)

// The writes of the alerts (store.Alerts): an evaluation's decisions with
// their notifications and delivery jobs, and the delivery attempts. The
// reads are in alertlist.go.
//
// No lock is taken and none is needed: each decision is one statement
// whose WHERE is the state it changes (not firing, firing and notified
// long enough ago, firing), and a notification is written only when that
// statement changed the row. On PostgreSQL (READ COMMITTED) a second
// evaluation's statement waits for the first's row lock, then re-checks
// its WHERE against the committed row, finds the change made and changes
// nothing; an INSERT … ON CONFLICT waits likewise for a row inserted but
// not yet committed. SQLite runs one write transaction at a time.

// RecordAlerts implements store.Alerts. The keys are visited in order, the
// firing ones and those to resolve together, so that two evaluations lock
// the rows they share in the same order and cannot deadlock.
func (s *Store) RecordAlerts(ctx context.Context, p store.RecordAlertsParams) ([]store.Notification, error) {
	now := p.Now.UTC().Truncate(time.Microsecond)
	firing := map[string]store.FiringAlert{}
	for _, a := range p.Firing {
		firing[a.Key] = a
	}
	var out []store.Notification
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		keys, err := s.firingKeys(ctx, tx)
		if err != nil {
			return err
		}
		for k := range firing {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range slices.Compact(keys) {
			var n *store.Notification
			if a, ok := firing[k]; ok {
				n, err = s.fire(ctx, tx, a, now, p.Repeat)
			} else {
				n, err = s.resolve(ctx, tx, k, now, p.ResolveAfter)
			}
			if err != nil {
				return err
			}
			if n == nil {
				continue
			}
			n.CreatedAt = now
			for _, ch := range p.Channels {
				sent, err := s.notify(ctx, tx, *n, ch)
				if err != nil {
					return err
				}
				out = append(out, sent)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// firingKeys lists the keys of the alerts firing now.
func (s *Store) firingKeys(ctx context.Context, tx *sql.Tx) ([]string, error) {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT key FROM alerts WHERE firing`))
	if err != nil {
		return nil, s.interpret(err, "listing firing alerts")
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, s.interpret(err, "listing firing alerts")
		}
		keys = append(keys, k)
	}
	return keys, s.interpret(rows.Err(), "listing firing alerts")
}

// fire records that a holds at now, and returns the notification to send
// about it (channel left empty), or nil when it needs none: it starts
// firing (no row, or a resolved one), or is due a reminder, or else its
// content is brought up to date.
func (s *Store) fire(ctx context.Context, tx *sql.Tx, a store.FiringAlert, now time.Time, repeat time.Duration) (*store.Notification, error) {
	n := &store.Notification{AlertKey: a.Key, Rule: a.Rule, Status: store.AlertFiring, Payload: a.Payload, StartsAt: now}
	res, err := tx.ExecContext(ctx, s.q(`INSERT INTO alerts (key, rule, severity, summary, payload, firing,
		started_at, notified_at, resolved_at, evaluated_at) VALUES (?, ?, ?, ?, ?, true, ?, ?, NULL, ?)
		ON CONFLICT (key) DO UPDATE SET rule = excluded.rule, severity = excluded.severity, summary = excluded.summary,
		payload = excluded.payload, firing = true, started_at = excluded.started_at, notified_at = excluded.notified_at,
		resolved_at = NULL, evaluated_at = excluded.evaluated_at
		WHERE alerts.firing = false`),
		a.Key, a.Rule, a.Severity, a.Summary, string(a.Payload), s.t(now), s.t(now), s.t(now))
	if err != nil {
		return nil, s.interpret(err, "starting alert")
	}
	if started, err := res.RowsAffected(); err != nil {
		return nil, s.interpret(err, "starting alert")
	} else if started == 1 {
		return n, nil
	}
	if repeat > 0 {
		var startedAt timeValue
		err := tx.QueryRowContext(ctx, s.q(`UPDATE alerts SET severity = ?, summary = ?, payload = ?, notified_at = ?, evaluated_at = ?
			WHERE key = ? AND firing AND notified_at <= ? RETURNING started_at`),
			a.Severity, a.Summary, string(a.Payload), s.t(now), s.t(now), a.Key, s.t(now.Add(-repeat))).Scan(&startedAt)
		switch {
		case err == nil:
			n.Repeat, n.StartsAt = true, startedAt.t
			return n, nil
		case !errors.Is(err, sql.ErrNoRows):
			return nil, s.interpret(err, "repeating alert")
		}
	}
	_, err = tx.ExecContext(ctx, s.q(`UPDATE alerts SET severity = ?, summary = ?, payload = ?, evaluated_at = ?
		WHERE key = ? AND firing`), a.Severity, a.Summary, string(a.Payload), s.t(now), a.Key)
	return nil, s.interpret(err, "updating alert")
}

// resolve ends the alert of key if it still fires and was last found
// firing hold or more ago, and returns the resolved notification to send
// (channel left empty) with its last content, or nil if it is not due or
// another evaluation resolved it first.
func (s *Store) resolve(ctx context.Context, tx *sql.Tx, key string, now time.Time, hold time.Duration) (*store.Notification, error) {
	var payload string
	var started timeValue
	n := &store.Notification{AlertKey: key, Status: store.AlertResolved, EndsAt: &now}
	err := tx.QueryRowContext(ctx, s.q(`UPDATE alerts SET firing = false, resolved_at = ?, evaluated_at = ?
		WHERE key = ? AND firing AND evaluated_at <= ? RETURNING rule, payload, started_at`),
		s.t(now), s.t(now), key, s.t(now.Add(-hold))).Scan(&n.Rule, &payload, &started)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, s.interpret(err, "resolving alert")
	}
	n.Payload, n.StartsAt = []byte(payload), started.t
	return n, nil
}

// notify writes n for channel ch as a pending notification and enqueues
// its delivery.
func (s *Store) notify(ctx context.Context, tx *sql.Tx, n store.Notification, ch string) (store.Notification, error) {
	n.ID, n.Channel, n.State = uuid.Must(uuid.NewV7()).String(), ch, store.DeliveryPending
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO alert_notifications (id, alert_key, rule, status, is_repeat, channel,
		payload, starts_at, ends_at, created_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		n.ID, n.AlertKey, n.Rule, n.Status, n.Repeat, n.Channel, string(n.Payload),
		s.t(n.StartsAt), s.tp(n.EndsAt), s.t(n.CreatedAt), n.State)
	if err != nil {
		return n, s.interpret(err, "writing notification")
	}
	if _, err := s.river.InsertTx(ctx, tx, queue.DeliverAlertArgs{NotificationID: n.ID}, nil); err != nil {
		return n, fmt.Errorf("enqueuing notification: %w", err)
	}
	return n, nil
}

// RequeuePending implements store.Alerts.
func (s *Store) RequeuePending(ctx context.Context, t time.Time, limit int) (int, error) {
	var ids []string
	err := s.rows(ctx, "listing pending notifications", `SELECT id FROM alert_notifications
		WHERE state = ? AND created_at < ? ORDER BY created_at LIMIT ?`, []any{store.DeliveryPending, s.t(t), limit},
		func(r *sql.Rows) error {
			var id string
			ids = append(ids, id)
			return r.Scan(&ids[len(ids)-1])
		})
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		if _, err := s.river.Insert(ctx, queue.DeliverAlertArgs{NotificationID: id}, nil); err != nil {
			return 0, fmt.Errorf("enqueuing notification: %w", err)
		}
	}
	return len(ids), nil
}

// RecordAttempt implements store.Alerts: the notification is updated only
// while not delivered (one conditional statement, so that of two attempts
// racing after a delivery neither is recorded), then the attempt's row
// written with the notification's channel.
func (s *Store) RecordAttempt(ctx context.Context, a store.DeliveryAttempt) error {
	id, ok := store.ParseID(a.NotificationID)
	if !ok {
		return store.ErrNotFound
	}
	at := a.At.UTC().Truncate(time.Microsecond)
	state := store.DeliveryPending
	lastError := a.Error
	var deliveredAt *time.Time
	switch {
	case a.Delivered:
		state, lastError, deliveredAt = store.DeliveryDelivered, "", &at
	case a.Final:
		state = store.DeliveryFailed
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var channel string
		err := tx.QueryRowContext(ctx, s.q(`UPDATE alert_notifications SET attempts = attempts + 1, last_attempt_at = ?,
			last_status = ?, last_error = ?, state = ?, delivered_at = COALESCE(?, delivered_at)
			WHERE id = ? AND state <> ? RETURNING channel`),
			s.t(at), a.Status, lastError, state, s.tp(deliveredAt), id, store.DeliveryDelivered).Scan(&channel)
		if errors.Is(err, sql.ErrNoRows) {
			if _, err := s.notification(ctx, tx, id); err != nil {
				return err
			}
			return store.ErrConflict
		}
		if err != nil {
			return s.interpret(err, "recording delivery attempt")
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO alert_attempts (notification_id, channel, at, delivered, status, error,
			latency_ms, final) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
			id, channel, s.t(at), a.Delivered, a.Status, a.Error, a.Latency.Milliseconds(), a.Final)
		return s.interpret(err, "recording delivery attempt")
	})
}

var _ store.Alerts = (*Store)(nil)
