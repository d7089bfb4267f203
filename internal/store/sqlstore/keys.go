package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/avatar-api/avatar-api/internal/store"
)

const keyColumns = `id, hash, display, customer, scopes, rate_limit, notes, created_by,
	COALESCE(CAST(rotated_from AS TEXT), ''), created_at, expires_at, revoked_at, last_used_at, webhook_url, webhook_display`

// CreateKey implements store.KeyStore.
func (s *Store) CreateKey(ctx context.Context, k *store.APIKey, a store.Audit) error {
	return s.inTx(ctx, func(tx *sql.Tx) error { return s.insertKey(ctx, tx, k, a) })
}

func (s *Store) insertKey(ctx context.Context, tx *sql.Tx, k *store.APIKey, a store.Audit) error {
	k.CreatedAt = s.now().UTC().Truncate(time.Microsecond)
	k.CreatedBy = a.Actor
	var rotated any
	if k.RotatedFrom != "" {
		rotated = k.RotatedFrom
	}
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO api_keys (id, hash, display, customer, scopes, rate_limit, notes,
		created_by, rotated_from, created_at, expires_at, webhook_url, webhook_display) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		k.ID, k.Hash, k.Display, k.Customer, strings.Join(k.Scopes, ","), k.RateLimit, k.Notes,
		a.Actor, rotated, s.t(k.CreatedAt), s.tp(k.ExpiresAt), k.WebhookURL, k.WebhookDisplay)
	if err != nil {
		return s.interpret(err, "inserting key")
	}
	return s.event(ctx, tx, k.ID, a)
}

func (s *Store) event(ctx context.Context, tx *sql.Tx, keyID string, a store.Audit) error {
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO api_key_events (key_id, action, actor, detail, at) VALUES (?, ?, ?, ?, ?)`),
		keyID, a.Action, a.Actor, a.Detail, s.t(s.now()))
	return s.interpret(err, "recording key event")
}

// BootstrapKey implements store.KeyStore.
func (s *Store) BootstrapKey(ctx context.Context, k *store.APIKey, a store.Audit) (bool, error) {
	created := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if s.dialect.LockFirstKey != "" {
			if _, err := tx.ExecContext(ctx, s.dialect.LockFirstKey); err != nil {
				return s.interpret(err, "locking first key")
			}
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM api_keys`).Scan(&n); err != nil {
			return s.interpret(err, "counting keys")
		}
		if n > 0 {
			return nil
		}
		if err := s.insertKey(ctx, tx, k, a); err != nil {
			return err
		}
		created = true
		return nil
	})
	return created, err
}

// KeyByHash implements store.KeyStore.
func (s *Store) KeyByHash(ctx context.Context, hash string) (*store.APIKey, error) {
	return s.oneKey(ctx, s.reads, "hash = ?", hash)
}

// GetKey implements store.KeyStore.
func (s *Store) GetKey(ctx context.Context, id string) (*store.APIKey, error) {
	return s.oneKey(ctx, s.reads, "id = ?", id)
}

// ListKeys implements store.KeyStore.
func (s *Store) ListKeys(ctx context.Context) ([]*store.APIKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+keyColumns+` FROM api_keys ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, s.interpret(err, "listing keys")
	}
	defer rows.Close()
	var keys []*store.APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, s.interpret(err, "reading key")
		}
		keys = append(keys, k)
	}
	return keys, s.interpret(rows.Err(), "listing keys")
}

// CountKeys implements store.KeyStore.
func (s *Store) CountKeys(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM api_keys`).Scan(&n)
	return n, s.interpret(err, "counting keys")
}

// UpdateKey implements store.KeyStore.
func (s *Store) UpdateKey(ctx context.Context, u store.KeyUpdate) (*store.APIKey, error) {
	var k *store.APIKey
	id := u.ID
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if k, err = s.oneKey(ctx, tx, "id = ?"+s.dialect.ForUpdate, id); err != nil {
			return err
		}
		var changes []string
		if u.RateLimit != nil {
			k.RateLimit = *u.RateLimit
			changes = append(changes, fmt.Sprintf("rate_limit=%d", k.RateLimit))
		}
		if u.Notes != nil {
			k.Notes = *u.Notes
			changes = append(changes, "notes")
		}
		if u.ExpiresAt != nil {
			k.ExpiresAt = nil
			changes = append(changes, "expires_at=never")
			if !u.ExpiresAt.IsZero() {
				e := u.ExpiresAt.UTC()
				k.ExpiresAt = &e
				changes[len(changes)-1] = "expires_at=" + e.Format(time.RFC3339)
			}
		}
		if u.WebhookURL != nil {
			k.WebhookURL, k.WebhookDisplay = *u.WebhookURL, u.WebhookDisplay
			if k.WebhookURL == "" {
				k.WebhookDisplay = ""
			}
			changes = append(changes, "webhook_url="+cmp.Or(k.WebhookDisplay, "none"))
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE api_keys SET rate_limit = ?, notes = ?, expires_at = ?, webhook_url = ?,
			webhook_display = ? WHERE id = ?`), k.RateLimit, k.Notes, s.tp(k.ExpiresAt), k.WebhookURL, k.WebhookDisplay, id); err != nil {
			return s.interpret(err, "updating key")
		}
		return s.event(ctx, tx, id, store.Audit{Action: "updated", Actor: u.Actor, Detail: strings.Join(changes, ", ")})
	})
	return k, err
}

// RevokeKey implements store.KeyStore.
func (s *Store) RevokeKey(ctx context.Context, r store.Revocation) (*store.APIKey, error) {
	var k *store.APIKey
	id, t := r.ID, r.At
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if k, err = s.oneKey(ctx, tx, "id = ?"+s.dialect.ForUpdate, id); err != nil {
			return err
		}
		if k.RevokedAt != nil {
			return store.ErrConflict
		}
		t = t.UTC().Truncate(time.Microsecond)
		k.RevokedAt = &t
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE api_keys SET revoked_at = ? WHERE id = ?`), s.t(t), id); err != nil {
			return s.interpret(err, "revoking key")
		}
		return s.event(ctx, tx, id, store.Audit{Action: "revoked", Actor: r.Actor})
	})
	return k, err
}

// RotateKey implements store.KeyStore.
func (s *Store) RotateKey(ctx context.Context, r store.Rotation) error {
	old, next, oldExpires := r.Old, r.Next, r.OldExpires
	return s.inTx(ctx, func(tx *sql.Tx) error {
		k, err := s.oneKey(ctx, tx, "id = ?"+s.dialect.ForUpdate, old)
		if err != nil {
			return err
		}
		if k.RevokedAt != nil {
			return store.ErrConflict
		}
		if k.ExpiresAt == nil || oldExpires.Before(*k.ExpiresAt) {
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE api_keys SET expires_at = ? WHERE id = ?`), s.t(oldExpires), old); err != nil {
				return s.interpret(err, "expiring rotated key")
			}
		}
		next.RotatedFrom = old
		if err := s.insertKey(ctx, tx, next, store.Audit{Action: "created", Actor: r.Actor, Detail: "rotation of " + old}); err != nil {
			return err
		}
		return s.event(ctx, tx, old, store.Audit{Action: "rotated", Actor: r.Actor,
			Detail: "replaced by " + next.ID + "; valid until " + oldExpires.UTC().Format(time.RFC3339)})
	})
}

// TouchKeys implements store.KeyStore.
func (s *Store) TouchKeys(ctx context.Context, used map[string]time.Time) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for id, t := range used {
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE api_keys SET last_used_at = ?
				WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`), s.t(t), id, s.t(t)); err != nil {
				return s.interpret(err, "recording key use")
			}
		}
		return nil
	})
}

// KeyEvents implements store.KeyStore.
func (s *Store) KeyEvents(ctx context.Context, keyID string, limit int) ([]store.KeyEvent, error) {
	where, args := "", []any{}
	if keyID != "" {
		where, args = "WHERE key_id = ?", append(args, keyID)
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, key_id, action, actor, detail, at FROM api_key_events `+where+` ORDER BY id LIMIT ?`), append(args, limit)...)
	if err != nil {
		return nil, s.interpret(err, "listing key events")
	}
	defer rows.Close()
	var events []store.KeyEvent
	for rows.Next() {
		var e store.KeyEvent
		var at timeValue
		if err := rows.Scan(&e.ID, &e.KeyID, &e.Action, &e.Actor, &e.Detail, &at); err != nil {
			return nil, s.interpret(err, "reading key event")
		}
		e.At = at.t
		events = append(events, e)
	}
	return events, s.interpret(rows.Err(), "listing key events")
}

func (s *Store) oneKey(ctx context.Context, db querier, where string, args ...any) (*store.APIKey, error) {
	k, err := scanKey(db.QueryRowContext(ctx, s.q(`SELECT `+keyColumns+` FROM api_keys WHERE `+where), args...))
	return k, s.interpret(err, "reading key")
}

func scanKey(row scanner) (*store.APIKey, error) {
	var k store.APIKey
	var scopes string
	var created, expires, revoked, used timeValue
	if err := row.Scan(&k.ID, &k.Hash, &k.Display, &k.Customer, &scopes, &k.RateLimit, &k.Notes, &k.CreatedBy,
		&k.RotatedFrom, &created, &expires, &revoked, &used, &k.WebhookURL, &k.WebhookDisplay); err != nil {
		return nil, err
	}
	if scopes != "" {
		k.Scopes = strings.Split(scopes, ",")
	}
	k.CreatedAt, k.ExpiresAt, k.RevokedAt, k.LastUsedAt = created.t, expires.ptr(), revoked.ptr(), used.ptr()
	return &k, nil
}
