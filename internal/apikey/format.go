// Package apikey makes, recognises and manages the customers' API keys.
//
// A key looks like av_live_<32 random base62 characters><6 base62
// characters of checksum>, 46 characters in all: 190 bits from crypto/rand,
// and a CRC32 of everything before it, as GitHub's tokens carry, so that a
// mistyped or truncated key is refused without a database lookup and a
// leaked key can be recognised by a secret scanner with the regular
// expression `av_live_[0-9A-Za-z]{38}`. Only a hash of the key is stored.
package apikey

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"hash/crc32"
	"strings"
)

const (
	// Prefix starts every key.
	Prefix = "av_live_"
	// Length is the length of a key.
	Length      = len(Prefix) + randomLen + checksumLen
	randomLen   = 32
	checksumLen = 6
	// DisplayLen is how much of a key is kept in clear to tell keys apart.
	DisplayLen = len(Prefix) + 4
	alphabet   = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// Generate returns a new random key.
func Generate() string {
	var b strings.Builder
	b.WriteString(Prefix)
	// Rejection sampling keeps every character uniform over the 62.
	var buf [64]byte
	for b.Len() < len(Prefix)+randomLen {
		_, _ = rand.Read(buf[:]) // never fails (crypto/rand panics instead)
		for _, c := range buf {
			if c < 248 && b.Len() < len(Prefix)+randomLen {
				b.WriteByte(alphabet[c%62])
			}
		}
	}
	body := b.String()
	return body + checksum(body)
}

// checksum is the CRC32 (IEEE) of s in 6 base62 digits.
func checksum(s string) string {
	v := crc32.ChecksumIEEE([]byte(s))
	out := make([]byte, checksumLen)
	for i := checksumLen - 1; i >= 0; i-- {
		out[i] = alphabet[v%62]
		v /= 62
	}
	return string(out)
}

// WellFormed reports whether key has the shape and checksum of a key. It
// touches no database: a mistyped key costs nothing.
func WellFormed(key string) bool {
	if len(key) != Length || !strings.HasPrefix(key, Prefix) {
		return false
	}
	for i := len(Prefix); i < len(key); i++ {
		if strings.IndexByte(alphabet, key[i]) < 0 {
			return false
		}
	}
	body := key[:len(key)-checksumLen]
	return hmac.Equal([]byte(checksum(body)), []byte(key[len(body):]))
}

// Hash is what is stored for a key: the hex SHA-256 of the key, keyed with
// pepper (HMAC-SHA256) when one is configured, so that a stolen database
// alone cannot even confirm a guessed key.
func Hash(key string, pepper []byte) string {
	if len(pepper) == 0 {
		h := sha256.Sum256([]byte(key))
		return hex.EncodeToString(h[:])
	}
	m := hmac.New(sha256.New, pepper)
	m.Write([]byte(key))
	return hex.EncodeToString(m.Sum(nil))
}

// Display is the part of a key kept in clear, to tell keys apart in lists:
// "av_live_Ab3x".
func Display(key string) string {
	if len(key) < DisplayLen {
		return key
	}
	return key[:DisplayLen]
}
