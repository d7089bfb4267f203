// Package auth identifies API callers. For now one key from the environment
// (API_KEY) is the only customer; the database-backed keys replace it.
package auth

import (
	"context"
	"crypto/pbkdf2"
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
// by "key_" and 16 hex digits derived from the key with PBKDF2 (100,000
// rounds, done once here), so that the owner id — logged and stored in
// every job — costs a brute-force attack on a weak operator-chosen key as
// much as a password hash would.
func NewStaticKey(key string) *StaticKey {
	h := sha256.Sum256([]byte(key))
	id, err := pbkdf2.Key(sha256.New, key, []byte("avatar-api owner id v1"), 100_000, 8)
	if err != nil {
		panic(err) // only for parameters that FIPS mode forbids; ours are fixed
	}
	return &StaticKey{hash: h, owner: "key_" + hex.EncodeToString(id)}
}

// Authenticate returns the owner of token, comparing in constant time.
func (s *StaticKey) Authenticate(_ context.Context, token string) (string, error) {
	h := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(h[:], s.hash[:]) != 1 {
		return "", ErrUnauthenticated
	}
	return s.owner, nil
}
