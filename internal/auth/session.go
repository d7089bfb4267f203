package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/avatar-api/avatar-api/internal/apikey"
	"github.com/avatar-api/avatar-api/internal/store"
)

// ErrNotOperator is the answer to a valid key without the admin scope.
var ErrNotOperator = errors.New("the key is not an admin key")

// SessionStore is what sessions are kept in: their hashes, and the keys
// they were opened with.
type SessionStore interface {
	CreateSession(ctx context.Context, s store.Session) error
	SessionByHash(ctx context.Context, hash string) (store.Session, error)
	DeleteSession(ctx context.Context, hash string) error
	GetKey(ctx context.Context, id string) (*store.APIKey, error)
}

// Sessions exchanges an operator's admin key for a session token (the
// dashboard's cookie), so that the browser never holds the key. Only a
// hash of each token is stored, with its expiry; a session lasts no longer
// than its key: revoked, expired or stripped of the admin scope, the key
// ends its sessions at their next use.
type Sessions struct {
	store SessionStore
	keys  *Keys
	ttl   time.Duration
	now   func() time.Time
}

// NewSessions returns sessions of ttl, opened with keys checked by keys.
func NewSessions(st SessionStore, keys *Keys, ttl time.Duration) *Sessions {
	return &Sessions{store: st, keys: keys, ttl: ttl, now: time.Now}
}

// SetClock makes s read the time from now (tests).
func (s *Sessions) SetClock(now func() time.Time) { s.now = now }

// TTL is how long a session lasts.
func (s *Sessions) TTL() time.Duration { return s.ttl }

// Open checks an admin key and opens a session for it: the token to give
// the browser, and when it expires. ErrUnauthenticated for a bad key,
// ErrNotOperator for a key without the admin scope.
func (s *Sessions) Open(ctx context.Context, key string) (token string, id Identity, expires time.Time, err error) {
	id, err = s.keys.Authenticate(ctx, key)
	if err != nil {
		return "", Identity{}, time.Time{}, err
	}
	if !id.Has(apikey.ScopeAdmin) {
		return "", Identity{}, time.Time{}, ErrNotOperator
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	token = "avs_" + base64.RawURLEncoding.EncodeToString(b[:])
	now := s.now().UTC().Truncate(time.Microsecond)
	expires = now.Add(s.ttl)
	if err := s.store.CreateSession(ctx, store.Session{Hash: sessionHash(token), KeyID: id.KeyID, CreatedAt: now, ExpiresAt: expires}); err != nil {
		return "", Identity{}, time.Time{}, fmt.Errorf("opening session: %w", err)
	}
	return token, id, expires, nil
}

// Check returns the operator of a session token, or ErrUnauthenticated if
// the session is unknown or expired, or its key no longer active;
// ErrNotOperator if the key lost the admin scope.
func (s *Sessions) Check(ctx context.Context, token string) (Identity, error) {
	if token == "" || len(token) > 100 {
		return Identity{}, ErrUnauthenticated
	}
	se, err := s.store.SessionByHash(ctx, sessionHash(token))
	if errors.Is(err, store.ErrNotFound) {
		return Identity{}, ErrUnauthenticated
	}
	if err != nil {
		return Identity{}, fmt.Errorf("reading session: %w", err)
	}
	now := s.now()
	if !now.Before(se.ExpiresAt) {
		return Identity{}, ErrUnauthenticated
	}
	key, err := s.store.GetKey(ctx, se.KeyID)
	if errors.Is(err, store.ErrNotFound) {
		return Identity{}, ErrUnauthenticated
	}
	if err != nil {
		return Identity{}, fmt.Errorf("reading the session's key: %w", err)
	}
	if !key.Active(now) {
		return Identity{}, ErrUnauthenticated
	}
	if !slices.Contains(key.Scopes, apikey.ScopeAdmin) {
		return Identity{}, ErrNotOperator
	}
	return Identity{KeyID: key.ID, Customer: key.Customer, Scopes: key.Scopes, RateLimit: key.RateLimit}, nil
}

// Close ends a session (logout). An unknown token is not an error.
func (s *Sessions) Close(ctx context.Context, token string) error {
	if token == "" || len(token) > 100 {
		return nil
	}
	return s.store.DeleteSession(ctx, sessionHash(token))
}

// sessionHash is what is stored of a token: its SHA-256. A token is 256
// random bits, so no pepper or slow hash is needed to make the stored hash
// useless to a reader of the database.
func sessionHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}
