package local

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/avatar-api/avatar-api/internal/problem"
	"github.com/avatar-api/avatar-api/internal/storage"
)

// Codes of the upload handler's refusals, besides those it shares with
// downloads (CodeInvalidSignature, CodeLinkExpired).
const (
	CodeUploadTooLarge   = "upload_too_large"
	CodeUploadIncomplete = "upload_incomplete"
)

// uploadKeyLabel names what the derived key signs. Upload URLs are signed
// with a key of their own, so no download signature, whatever its fields,
// can ever pass for an upload one, nor the reverse.
const uploadKeyLabel = "avatar-api local storage: upload URL signing key v1"

// deriveUploadKey returns HMAC-SHA256(secret, uploadKeyLabel).
func deriveUploadKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(uploadKeyLabel))
	return m.Sum(nil)
}

// UploadURL returns publicURL/files/<key>?expires=<unix>&max_bytes=<n>&sig=<hex>,
// where sig is HMAC-SHA256, under the upload key derived from the secret,
// over the method, key, expiry and maxBytes. Handler accepts a PUT to it
// until expires, storing a body of at most maxBytes atomically under key;
// a PUT to a URL already used replaces the object (see Handler).
func (s *Disk) UploadURL(_ context.Context, key string, expires time.Time, maxBytes int64) (string, error) {
	if err := storage.ValidateKey(key); err != nil {
		return "", fmt.Errorf("sign upload URL for %q: %w", key, err)
	}
	if !expires.After(s.now()) {
		return "", fmt.Errorf("sign upload URL for %q: expiry %s is not in the future", key, expires.UTC().Format(time.RFC3339))
	}
	if maxBytes <= 0 {
		return "", fmt.Errorf("sign upload URL for %q: maximum size %d is not positive", key, maxBytes)
	}
	exp, maxStr := strconv.FormatInt(expires.Unix(), 10), strconv.FormatInt(maxBytes, 10)
	q := url.Values{}
	q.Set("expires", exp)
	q.Set("max_bytes", maxStr)
	q.Set("sig", hex.EncodeToString(s.signUpload(key, exp, maxStr)))
	return s.publicURL + FilesPath + escapeKey(key) + "?" + q.Encode(), nil
}

// signUpload returns HMAC-SHA256(uploadKey, "PUT" "\n" key "\n" expires "\n"
// maxBytes). Keys hold no control characters and the numbers only digits,
// so the message is unambiguous.
func (s *Disk) signUpload(key, expires, maxBytes string) []byte {
	m := hmac.New(sha256.New, s.uploadKey)
	m.Write([]byte(http.MethodPut + "\n" + key + "\n" + expires + "\n" + maxBytes))
	return m.Sum(nil)
}

// Size returns the length of the object's file; storage.ErrNotFound if
// there is none.
func (s *Disk) Size(_ context.Context, key string) (int64, error) {
	f, fi, err := s.openFile(key)
	if err != nil {
		return 0, fmt.Errorf("size of %q: %w", key, err)
	}
	_ = f.Close()
	return fi.Size(), nil
}

// receiveFile serves a PUT to an upload URL: it checks the signature, the
// expiry and the declared length, then streams the body through Put.
func (s *Disk) receiveFile(w http.ResponseWriter, r *http.Request, log *slog.Logger) {
	key, ok := strings.CutPrefix(r.URL.Path, FilesPath)
	if !ok || storage.ValidateKey(key) != nil {
		problem.Write(w, r, problem.New(http.StatusNotFound, problem.CodeNotFound, "no upload is possible at this path"))
		return
	}
	q := r.URL.Query()
	exp, maxStr := q.Get("expires"), q.Get("max_bytes")
	sig, err := hex.DecodeString(q.Get("sig"))
	expUnix, eerr := strconv.ParseInt(exp, 10, 64)
	maxBytes, merr := strconv.ParseInt(maxStr, 10, 64)
	if err != nil || eerr != nil || merr != nil || !hmac.Equal(sig, s.signUpload(key, exp, maxStr)) {
		problem.Write(w, r, problem.New(http.StatusForbidden, CodeInvalidSignature, "the upload link's signature is missing or does not match"))
		return
	}
	if !time.Unix(expUnix, 0).After(s.now()) {
		problem.Write(w, r, problem.New(http.StatusGone, CodeLinkExpired, "the upload link has expired"))
		return
	}
	if r.ContentLength > maxBytes {
		problem.Write(w, r, tooLarge(maxBytes))
		return
	}

	_, statErr := s.root.Lstat(key)
	body := &bodyReader{r: http.MaxBytesReader(w, r.Body, maxBytes)}
	err = s.Put(r.Context(), key, body, r.ContentLength, "")
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(body.err, &tooBig):
		problem.Write(w, r, tooLarge(maxBytes))
	case body.err != nil || (err != nil && r.Context().Err() != nil):
		// The client went away or sent less than it declared: nothing was
		// stored, and it will most likely never read this answer.
		problem.Write(w, r, problem.New(http.StatusBadRequest, CodeUploadIncomplete, "the upload ended before its declared length or could not be read; nothing was stored"))
	case err != nil:
		log.ErrorContext(r.Context(), "storing an upload failed", "error", err)
		problem.Write(w, r, problem.New(http.StatusInternalServerError, problem.CodeInternal, problem.InternalDetail))
	case errors.Is(statErr, fs.ErrNotExist):
		w.WriteHeader(http.StatusCreated)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func tooLarge(maxBytes int64) *problem.Problem {
	return problem.New(http.StatusRequestEntityTooLarge, CodeUploadTooLarge,
		fmt.Sprintf("the upload is larger than the %d bytes its link allows; nothing was stored", maxBytes))
}

// bodyReader remembers the error reading the request body failed with, so
// that a client's fault is told apart from the disk's.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		b.err = err
	}
	return n, err
}
