package store

import (
	"context"
	"time"
)

// APIKey is a customer's key as stored: its hash and metadata, never the
// key itself.
type APIKey struct {
	ID          string // UUID
	Hash        string // apikey.Hash of the key
	Display     string // first characters of the key, to tell keys apart
	Customer    string // whose key it is; jobs belong to the customer
	Scopes      []string
	RateLimit   int // generation requests per hour; 0: the configured default
	Notes       string
	CreatedBy   string
	RotatedFrom string // the key this one replaced, if any
	CreatedAt   time.Time
	ExpiresAt   *time.Time
	RevokedAt   *time.Time
	LastUsedAt  *time.Time
}

// Active reports whether the key opens the API at now: not revoked, and
// not past its expiry. Every check of a key's liveness is this one.
func (k *APIKey) Active(now time.Time) bool {
	return k.RevokedAt == nil && (k.ExpiresAt == nil || now.Before(*k.ExpiresAt))
}

// KeyEvent is one line of the keys' audit trail.
type KeyEvent struct {
	ID     int64
	KeyID  string
	Action string // created, updated, revoked, rotated, imported
	Actor  string
	Detail string
	At     time.Time
}

// KeyUpdate changes some of a key's metadata; nil fields stay.
type KeyUpdate struct {
	RateLimit *int
	Notes     *string
	ExpiresAt *time.Time // a zero time clears the expiry
}

// KeyStore persists API keys. Every change writes its audit event in the
// same transaction.
type KeyStore interface {
	// CreateKey stores k and a "created" (or other action) event by actor.
	CreateKey(ctx context.Context, k *APIKey, action, actor, detail string) error
	// KeyByHash finds a key by its hash, or ErrNotFound.
	KeyByHash(ctx context.Context, hash string) (*APIKey, error)
	// GetKey finds a key by id, or ErrNotFound.
	GetKey(ctx context.Context, id string) (*APIKey, error)
	// ListKeys lists every key, newest first.
	ListKeys(ctx context.Context) ([]*APIKey, error)
	// CountKeys counts the keys, revoked ones included.
	CountKeys(ctx context.Context) (int, error)
	// UpdateKey changes a key's metadata; ErrNotFound if absent.
	UpdateKey(ctx context.Context, id string, u KeyUpdate, actor string) (*APIKey, error)
	// RevokeKey revokes a key at t; ErrConflict if it already is.
	RevokeKey(ctx context.Context, id string, t time.Time, actor string) (*APIKey, error)
	// RotateKey stores next, a replacement of key old, and makes old expire
	// at oldExpires (unless it expires sooner), in one transaction.
	RotateKey(ctx context.Context, old string, next *APIKey, oldExpires time.Time, actor string) error
	// BootstrapKey stores k, with its event, only if no key exists yet, in
	// a transaction that concurrent bootstraps wait for. created reports
	// whether k was stored.
	BootstrapKey(ctx context.Context, k *APIKey, action, actor, detail string) (created bool, err error)
	// TouchKeys records when keys were last used (batched by the caller);
	// a time never moves backwards.
	TouchKeys(ctx context.Context, used map[string]time.Time) error
	// KeyEvents lists the audit trail of one key ("" for all), oldest first.
	KeyEvents(ctx context.Context, keyID string, limit int) ([]KeyEvent, error)
}
