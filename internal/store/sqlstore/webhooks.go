package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/avatar-api/avatar-api/internal/queue"
	"github.com/avatar-api/avatar-api/internal/store"
)

// webhook writes the delivery of the event e of job j, if j has a webhook
// URL that asks for it, with its River job: called by Apply after the
// event, in its transaction, so that a transition and its webhook commit
// together or not at all.
func (s *Store) webhook(ctx context.Context, tx *sql.Tx, j *store.Job, e store.Event, firstStart bool) error {
	typ := store.WebhookEvent(e.Transition, firstStart)
	if j.WebhookURL == "" || !store.Wants(j.WebhookEvents, typ) {
		return nil
	}
	id := "msg_" + strings.ReplaceAll(uuid.Must(uuid.NewV7()).String(), "-", "")
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO webhook_deliveries (id, job_id, owner, event_id, type, url, display,
		event_at, created_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		id, j.ID, j.Owner, e.ID, typ, j.WebhookURL, j.WebhookDisplay, s.t(e.At), s.t(e.At), store.DeliveryPending)
	if err != nil {
		return s.interpret(err, "writing webhook delivery")
	}
	if _, err := s.river.InsertTx(ctx, tx, queue.DeliverWebhookArgs{DeliveryID: id}, nil); err != nil {
		return fmt.Errorf("enqueuing webhook delivery: %w", err)
	}
	return nil
}

// PutWebhookSecret implements store.Webhooks.
func (s *Store) PutWebhookSecret(ctx context.Context, customer, salt string, now, until time.Time) (*store.WebhookSecret, error) {
	now = now.UTC().Truncate(time.Microsecond)
	until = until.UTC().Truncate(time.Microsecond)
	var out *store.WebhookSecret
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		cur, err := s.webhookSecret(ctx, tx, customer, s.dialect.ForUpdate)
		switch {
		case errors.Is(err, store.ErrNotFound):
			out = &store.WebhookSecret{Customer: customer, Salt: salt, CreatedAt: now}
			created, err := s.addSecret(ctx, tx, customer, salt, now)
			if err == nil && !created {
				err = store.ErrConflict
			}
			return err
		case err != nil:
			return err
		}
		out = &store.WebhookSecret{Customer: customer, Salt: salt, CreatedAt: now}
		if until.After(now) {
			out.PreviousSalt, out.PreviousUntil = cur.Salt, &until
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE webhook_secrets SET salt = ?, created_at = ?, previous_salt = ?,
			previous_until = ? WHERE customer = ?`), salt, s.t(now), out.PreviousSalt, s.tp(out.PreviousUntil), customer)
		return s.interpret(err, "rotating webhook secret")
	})
	return out, err
}

// AddWebhookSecret implements store.Webhooks.
func (s *Store) AddWebhookSecret(ctx context.Context, customer, salt string, now time.Time) (bool, error) {
	return s.addSecret(ctx, s.db, customer, salt, now.UTC().Truncate(time.Microsecond))
}

// addSecret inserts a customer's first secret unless they have one.
func (s *Store) addSecret(ctx context.Context, db querier, customer, salt string, now time.Time) (bool, error) {
	res, err := db.ExecContext(ctx, s.q(`INSERT INTO webhook_secrets (customer, salt, created_at) VALUES (?, ?, ?)
		ON CONFLICT (customer) DO NOTHING`), customer, salt, s.t(now))
	if err != nil {
		return false, s.interpret(err, "creating webhook secret")
	}
	n, err := res.RowsAffected()
	return n == 1, s.interpret(err, "creating webhook secret")
}

// WebhookSecret implements store.Webhooks.
func (s *Store) WebhookSecret(ctx context.Context, customer string) (*store.WebhookSecret, error) {
	return s.webhookSecret(ctx, s.db, customer, "")
}

func (s *Store) webhookSecret(ctx context.Context, db querier, customer, lock string) (*store.WebhookSecret, error) {
	var w store.WebhookSecret
	var created, until timeValue
	err := db.QueryRowContext(ctx, s.q(`SELECT customer, salt, created_at, previous_salt, previous_until
		FROM webhook_secrets WHERE customer = ?`+lock), customer).Scan(&w.Customer, &w.Salt, &created, &w.PreviousSalt, &until)
	if err != nil {
		return nil, s.interpret(err, "reading webhook secret")
	}
	w.CreatedAt, w.PreviousUntil = created.t, until.ptr()
	return &w, nil
}

const deliveryColumns = `id, job_id, owner, event_id, type, url, display, event_at, created_at, state, redeliveries, attempts,
	last_attempt_at, last_status, last_error, delivered_at`

func scanDelivery(r scanner) (store.WebhookDelivery, error) {
	var d store.WebhookDelivery
	var eventAt, created, last, delivered timeValue
	err := r.Scan(&d.ID, &d.JobID, &d.Owner, &d.EventID, &d.Type, &d.URL, &d.Display, &eventAt, &created, &d.State,
		&d.Redeliveries, &d.Attempts, &last, &d.LastStatus, &d.LastError, &delivered)
	d.EventAt, d.CreatedAt, d.LastAttemptAt, d.DeliveredAt = eventAt.t, created.t, last.ptr(), delivered.ptr()
	return d, err
}

// WebhookDelivery implements store.Webhooks.
func (s *Store) WebhookDelivery(ctx context.Context, id string) (*store.WebhookDelivery, error) {
	d, err := scanDelivery(s.db.QueryRowContext(ctx, s.q(`SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE id = ?`), id))
	if err != nil {
		return nil, s.interpret(err, "reading webhook delivery")
	}
	return &d, nil
}

// JobWebhooks implements store.Webhooks.
func (s *Store) JobWebhooks(ctx context.Context, jobID string) ([]store.WebhookDelivery, []store.WebhookAttempt, error) {
	var ds []store.WebhookDelivery
	err := s.rows(ctx, "listing webhook deliveries", `SELECT `+deliveryColumns+` FROM webhook_deliveries
		WHERE job_id = ? ORDER BY event_id, id`, []any{jobID}, func(r *sql.Rows) error {
		d, err := scanDelivery(r)
		ds = append(ds, d)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	var as []store.WebhookAttempt
	err = s.rows(ctx, "listing webhook attempts", `SELECT a.id, a.delivery_id, a.at, a.delivered, a.status, a.error,
		a.latency_ms, a.final FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
		WHERE d.job_id = ? ORDER BY a.id`, []any{jobID}, func(r *sql.Rows) error {
		var a store.WebhookAttempt
		var at timeValue
		var ms int64
		err := r.Scan(&a.ID, &a.DeliveryID, &at, &a.Delivered, &a.Status, &a.Error, &ms, &a.Final)
		a.At, a.Latency = at.t, time.Duration(ms)*time.Millisecond
		as = append(as, a)
		return err
	})
	return ds, as, err
}

// RecordWebhookAttempt implements store.Webhooks: the delivery is updated
// only while not delivered (one conditional statement, so that of two
// attempts racing after a delivery neither is recorded), then the
// attempt's row written.
func (s *Store) RecordWebhookAttempt(ctx context.Context, a store.WebhookAttempt) error {
	at := a.At.UTC().Truncate(time.Microsecond)
	lastError := a.Error
	var deliveredAt *time.Time
	if a.Delivered {
		lastError, deliveredAt = "", &at
	}
	// Delivered by any generation; failed only by the current one's last
	// attempt (a redelivery since goes on); else pending.
	failed := !a.Delivered && a.Final
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = ?,
			last_status = ?, last_error = ?, delivered_at = COALESCE(?, delivered_at),
			state = CASE WHEN ? THEN ? WHEN ? AND redeliveries = ? THEN ? ELSE ? END
			WHERE id = ? AND state <> ?`),
			s.t(at), a.Status, lastError, s.tp(deliveredAt),
			a.Delivered, store.DeliveryDelivered, failed, a.Generation, store.DeliveryFailed, store.DeliveryPending,
			a.DeliveryID, store.DeliveryDelivered)
		if err != nil {
			return s.interpret(err, "recording webhook attempt")
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			var one int
			if err := tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM webhook_deliveries WHERE id = ?`), a.DeliveryID).Scan(&one); err != nil {
				return s.interpret(err, "reading webhook delivery")
			}
			return store.ErrConflict
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO webhook_attempts (delivery_id, at, delivered, status, error,
			latency_ms, final) VALUES (?, ?, ?, ?, ?, ?, ?)`),
			a.DeliveryID, s.t(at), a.Delivered, a.Status, a.Error, a.Latency.Milliseconds(), a.Final)
		return s.interpret(err, "recording webhook attempt")
	})
}

// RedeliverWebhook implements store.Webhooks.
func (s *Store) RedeliverWebhook(ctx context.Context, jobID string) (*store.WebhookDelivery, error) {
	var out *store.WebhookDelivery
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		d, err := scanDelivery(tx.QueryRowContext(ctx, s.q(`SELECT `+deliveryColumns+` FROM webhook_deliveries
			WHERE job_id = ? ORDER BY event_id DESC, id DESC LIMIT 1`+s.dialect.ForUpdate), jobID))
		if err != nil {
			return s.interpret(err, "reading webhook delivery")
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE webhook_deliveries SET state = ?, delivered_at = NULL,
			redeliveries = redeliveries + 1 WHERE id = ?`), store.DeliveryPending, d.ID); err != nil {
			return s.interpret(err, "redelivering webhook")
		}
		d.State, d.DeliveredAt, d.Redeliveries = store.DeliveryPending, nil, d.Redeliveries+1
		out = &d
		if _, err := s.river.InsertTx(ctx, tx, queue.DeliverWebhookArgs{DeliveryID: d.ID, Redelivery: d.Redeliveries}, nil); err != nil {
			return fmt.Errorf("enqueuing webhook delivery: %w", err)
		}
		return nil
	})
	return out, err
}

// WebhookHealth implements store.Webhooks.
func (s *Store) WebhookHealth(ctx context.Context, since time.Time) ([]store.WebhookHealth, error) {
	var out []store.WebhookHealth
	err := s.rows(ctx, "summing webhook deliveries", `SELECT owner, COUNT(*),
		SUM(CASE WHEN state = ? THEN 1 ELSE 0 END),
		SUM(CASE WHEN state = ? AND attempts > 0 THEN 1 ELSE 0 END),
		SUM(CASE WHEN state = ? THEN 1 ELSE 0 END),
		MAX(last_attempt_at), MAX(delivered_at)
		FROM webhook_deliveries WHERE created_at >= ? AND attempts > 0 GROUP BY owner
		HAVING SUM(CASE WHEN state <> ? THEN 1 ELSE 0 END) > 0 ORDER BY owner`,
		[]any{store.DeliveryDelivered, store.DeliveryPending, store.DeliveryFailed, s.t(since), store.DeliveryDelivered},
		func(r *sql.Rows) error {
			var h store.WebhookHealth
			var last, delivered timeValue
			err := r.Scan(&h.Owner, &h.Deliveries, &h.Delivered, &h.Retrying, &h.Failed, &last, &delivered)
			h.LastAttemptAt, h.LastDelivered = last.t, delivered.ptr()
			out = append(out, h)
			return err
		})
	if err != nil {
		return nil, err
	}
	for i := range out {
		h := &out[i]
		err := s.db.QueryRowContext(ctx, s.q(`SELECT display, last_error, last_status FROM webhook_deliveries
			WHERE owner = ? AND created_at >= ? AND state <> ? AND attempts > 0 ORDER BY last_attempt_at DESC LIMIT 1`),
			h.Owner, s.t(since), store.DeliveryDelivered).Scan(&h.Display, &h.LastError, &h.LastStatus)
		if err != nil {
			return nil, s.interpret(err, "reading failing webhook")
		}
	}
	return out, nil
}

var _ store.Webhooks = (*Store)(nil)
