// Package auth identifies API callers. For now one key from the environment
// (API_KEY) is the only customer; the database-backed keys replace it.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
)

// ErrUnauthenticated is the answer to any bad token: unknown, malformed or
// missing alike, so that callers learn nothing from the difference.
var ErrUnauthenticated = errors.New("unauthenticated")

// StaticKey accepts exactly one key. Only its SHA-256 is kept in memory.
type StaticKey struct {
	hash  [32]byte
	owner string
}

// NewStaticKey returns an authenticator for key. Jobs it creates are owned
// by "key_" followed by the first 16 hex digits of the key's SHA-256, so
// that no job row ever holds the key itself.
func NewStaticKey(key string) *StaticKey {
	h := sha256.Sum256([]byte(key))
	return &StaticKey{hash: h, owner: "key_" + hex.EncodeToString(h[:8])}
}

// Authenticate returns the owner of token, comparing in constant time.
func (s *StaticKey) Authenticate(_ context.Context, token string) (string, error) {
	h := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(h[:], s.hash[:]) != 1 {
		return "", ErrUnauthenticated
	}
	return s.owner, nil
}
