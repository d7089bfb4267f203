// Package stdwebhook signs requests with the Standard Webhooks scheme
// (https://www.standardwebhooks.com): a webhook-id, a webhook-timestamp,
// and webhook-signature, one "v1,<base64 HMAC-SHA256>" per secret, of
// "id.timestamp.body". Alert and job webhooks both sign with it.
package stdwebhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts a Standard Webhooks secret.
const SecretPrefix = "whsec_"

// ParseSecret is the key of a "whsec_…" secret. The error never holds the
// secret.
func ParseSecret(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(key) == 0 {
		return nil, errors.New("webhook secret is not whsec_ followed by base64")
	}
	return key, nil
}

// FormatSecret is the "whsec_…" form of a key.
func FormatSecret(key []byte) string { return SecretPrefix + base64.StdEncoding.EncodeToString(key) }

// Sign returns the headers that sign body as message id sent at at, with
// a signature for each key (during a rotation, the new and the old).
func Sign(keys [][]byte, id string, at time.Time, body []byte) (http.Header, error) {
	if id == "" || strings.ContainsAny(id, "\r\n ") {
		return nil, errors.New("webhook id is empty or holds a space or a line break")
	}
	if len(keys) == 0 {
		return nil, errors.New("no webhook signing key")
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	sigs := make([]string, 0, len(keys))
	for _, key := range keys {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id + "." + ts + "."))
		mac.Write(body)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", ts)
	h.Set("webhook-signature", strings.Join(sigs, " "))
	return h, nil
}
