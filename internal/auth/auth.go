// Package auth identifies API callers by their keys: a checksum check that
// costs nothing, then a hash lookup behind a one-second cache, so that a
// revoked key stops working within about a second on every replica. It
// also throttles failed attempts per client address.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/avatar-api/avatar-api/internal/apikey"
	"github.com/avatar-api/avatar-api/internal/store"
)

// ErrUnauthenticated is the answer to any bad token: unknown, malformed,
// expired or revoked alike, so that callers learn nothing from the
// difference.
var ErrUnauthenticated = errors.New("unauthenticated")

// Identity is who a valid key belongs to.
type Identity struct {
	KeyID     string
	Customer  string
	Scopes    []string
	RateLimit int
}

// Has reports whether the key carries scope.
func (id Identity) Has(scope string) bool { return slices.Contains(id.Scopes, scope) }

// Owner is who the key's jobs belong to: its customer, so that a rotated
// key's successor sees the same jobs.
func (id Identity) Owner() string { return store.CustomerOwner(id.Customer) }

// CacheTTL is how long a looked-up key is trusted without asking the
// database again: the longest a revocation takes to reach a replica.
const CacheTTL = time.Second

// Keys authenticates bearer tokens against the key store.
type Keys struct {
	store  store.KeyStore
	pepper []byte
	legacy bool // also look up tokens not in the av_live_ format (an imported API_KEY)
	log    *slog.Logger
	// TTL is how long a looked-up key is trusted (CacheTTL; 0: never).
	TTL time.Duration
	now func() time.Time

	mu    sync.Mutex
	cache map[string]cached // by hash
	used  map[string]time.Time
}

type cached struct {
	key *store.APIKey
	at  time.Time
}

// NewKeys returns an authenticator. legacy allows tokens of another format
// (the imported API_KEY) to be looked up; well-formed keys always are.
func NewKeys(st store.KeyStore, pepper []byte, legacy bool, log *slog.Logger) *Keys {
	return &Keys{store: st, pepper: pepper, legacy: legacy, log: log, now: time.Now, TTL: CacheTTL,
		cache: map[string]cached{}, used: map[string]time.Time{}}
}

// SetClock makes k read the time from now: the cache's lifetime and the
// keys' expiry are judged by it (tests move it instead of sleeping).
func (k *Keys) SetClock(now func() time.Time) { k.now = now }

// Authenticate returns the identity of token, or ErrUnauthenticated. Other
// errors mean the store could not be asked.
func (k *Keys) Authenticate(ctx context.Context, token string) (Identity, error) {
	if !apikey.WellFormed(token) && (!k.legacy || strings.HasPrefix(token, apikey.Prefix) || len(token) < 16) {
		return Identity{}, ErrUnauthenticated // no lookup for a mistyped key
	}
	hash := apikey.Hash(token, k.pepper)
	now := k.now()
	key, err := k.lookup(ctx, hash, now)
	if err != nil {
		return Identity{}, err
	}
	if !key.Active(now) {
		return Identity{}, ErrUnauthenticated
	}
	k.mu.Lock()
	k.used[key.ID] = now
	k.mu.Unlock()
	return Identity{KeyID: key.ID, Customer: key.Customer, Scopes: key.Scopes, RateLimit: key.RateLimit}, nil
}

func (k *Keys) lookup(ctx context.Context, hash string, now time.Time) (*store.APIKey, error) {
	k.mu.Lock()
	c, ok := k.cache[hash]
	k.mu.Unlock()
	if ok && now.Sub(c.at) < k.TTL {
		return c.key, nil
	}
	key, err := k.store.KeyByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("looking up key: %w", err)
	}
	k.mu.Lock()
	if len(k.cache) > 100_000 {
		clear(k.cache) // bounded; entries are refetched within a second anyway
	}
	k.cache[hash] = cached{key: key, at: now}
	k.mu.Unlock()
	return key, nil
}

// Run writes when keys were last used every interval, in one batch, and
// once more when ctx ends.
func (k *Keys) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			k.Flush(ctx)
		case <-ctx.Done():
			k.Flush(context.WithoutCancel(ctx))
			return
		}
	}
}

// Flush writes the pending last-used times.
func (k *Keys) Flush(ctx context.Context) {
	k.mu.Lock()
	used := k.used
	k.used = map[string]time.Time{}
	k.mu.Unlock()
	if len(used) == 0 {
		return
	}
	if err := k.store.TouchKeys(ctx, used); err != nil {
		k.log.WarnContext(ctx, "recording key use failed; will retry", "error", err)
		k.mu.Lock()
		for id, t := range used { // keep the batch for the next flush
			if t.After(k.used[id]) {
				k.used[id] = t
			}
		}
		k.mu.Unlock()
	}
}
