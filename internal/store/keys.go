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
	// WebhookURL is the default webhook URL of the key's jobs, sealed,
	// and WebhookDisplay its display form; empty: none.
	WebhookURL     string
	WebhookDisplay string
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

// Audit is the event a change of a key is written with: what was done,
// by whom, and a detail.
type Audit struct {
	Action string // created, imported, …
	Actor  string
	Detail string
}

// KeyUpdate changes some of a key's metadata; nil fields stay.
type KeyUpdate struct {
	ID        string
	RateLimit *int
	Notes     *string
	ExpiresAt *time.Time // a zero time clears the expiry
	// WebhookURL, sealed, and WebhookDisplay set the default webhook URL
	// together; an empty one clears it.
	WebhookURL     *string
	WebhookDisplay string
	Actor          string
}

// Revocation stops a key from At.
type Revocation struct {
	ID    string
	At    time.Time
	Actor string
}

// Rotation stores Next, a replacement of key Old, and makes Old expire at
// OldExpires (unless it expires sooner).
type Rotation struct {
	Old        string
	Next       *APIKey
	OldExpires time.Time
	Actor      string
}

// KeyStore persists API keys. Every change writes its audit event in the
// same transaction.
type KeyStore interface {
	// CreateKey stores k and its event.
	CreateKey(ctx context.Context, k *APIKey, a Audit) error
	// KeyByHash finds a key by its hash, or ErrNotFound.
	KeyByHash(ctx context.Context, hash string) (*APIKey, error)
	// GetKey finds a key by id, or ErrNotFound.
	GetKey(ctx context.Context, id string) (*APIKey, error)
	// ListKeys lists every key, newest first.
	ListKeys(ctx context.Context) ([]*APIKey, error)
	// CountKeys counts the keys, revoked ones included.
	CountKeys(ctx context.Context) (int, error)
	// UpdateKey changes a key's metadata; ErrNotFound if absent.
	UpdateKey(ctx context.Context, u KeyUpdate) (*APIKey, error)
	// RevokeKey revokes a key; ErrConflict if it already is.
	RevokeKey(ctx context.Context, r Revocation) (*APIKey, error)
	// RotateKey makes a rotation in one transaction; ErrConflict if the old
	// key is revoked.
	RotateKey(ctx context.Context, r Rotation) error
	// BootstrapKey stores k, with its event, only if no key exists yet, in
	// a transaction that concurrent bootstraps wait for. created reports
	// whether k was stored.
	BootstrapKey(ctx context.Context, k *APIKey, a Audit) (created bool, err error)
	// TouchKeys records when keys were last used (batched by the caller);
	// a time never moves backwards.
	TouchKeys(ctx context.Context, used map[string]time.Time) error
	// KeyEvents lists the audit trail of one key ("" for all), oldest first.
	KeyEvents(ctx context.Context, keyID string, limit int) ([]KeyEvent, error)
}
