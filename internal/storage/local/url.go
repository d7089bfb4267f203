package local

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/avatar-api/avatar-api/internal/storage"
)

// FilesPath is the path prefix under which Handler serves objects; signed
// URLs point at publicURL + FilesPath + key.
const FilesPath = "/files/"

// URL returns publicURL/files/<key>?expires=<unix>&filename=<name>&sig=<hex>,
// where sig is HMAC-SHA256 over key, expiry and filename. Handler accepts it
// until expires.
func (s *Disk) URL(_ context.Context, key string, expires time.Time, filename string) (string, error) {
	if err := storage.ValidateKey(key); err != nil {
		return "", fmt.Errorf("sign URL for %q: %w", key, err)
	}
	if !expires.After(s.now()) {
		return "", fmt.Errorf("sign URL for %q: expiry %s is not in the future", key, expires.UTC().Format(time.RFC3339))
	}
	return s.signedURL(key, expires.Unix(), filename), nil
}

// signedURL builds the URL without checking that expires is in the future.
func (s *Disk) signedURL(key string, expires int64, filename string) string {
	exp := strconv.FormatInt(expires, 10)
	q := url.Values{}
	q.Set("expires", exp)
	if filename != "" {
		q.Set("filename", filename)
	}
	q.Set("sig", hex.EncodeToString(s.sign(key, exp, filename)))
	return s.publicURL + FilesPath + escapeKey(key) + "?" + q.Encode()
}

// sign returns HMAC-SHA256(secret, key "\n" expires "\n" filename). Keys hold
// no control characters and expires only digits, so the message is
// unambiguous.
func (s *Disk) sign(key, expires, filename string) []byte {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(key + "\n" + expires + "\n" + filename))
	return m.Sum(nil)
}

// escapeKey escapes each segment of key for use in a URL path, keeping the
// slashes between them.
func escapeKey(key string) string {
	segs := strings.Split(key, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return strings.Join(segs, "/")
}
