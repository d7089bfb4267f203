package local

import (
	"crypto/hmac"
	"encoding/hex"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/avatar-api/avatar-api/internal/problem"
	"github.com/avatar-api/avatar-api/internal/storage"
)

// Codes of Handler's refusals of a link, download or upload.
const (
	CodeInvalidSignature = "invalid_signature"
	CodeLinkExpired      = "link_expired"
)

// Handler serves GET and HEAD requests for the URLs that URL signs, and PUT
// requests for those that UploadURL signs. It must be mounted so that
// r.URL.Path begins with FilesPath, for example
// mux.Handle("GET /files/", disk.Handler(log)) and the same for HEAD and PUT.
//
// A missing or wrong signature is answered 403 (code invalid_signature), an
// expired link 410 (link_expired) and a missing object 404 (not_found), each
// as an RFC 9457 application/problem+json body. A download URL's signature
// never authorises an upload, nor the reverse. Otherwise the file is served
// with Range support, a private Cache-Control lasting until the link expires
// and, when the link names one, an attachment filename.
// A file that cannot be read is a 500, its cause written to log.
//
// An upload is streamed to disk and renamed into place once complete, as
// Put does: a body over the link's maximum is refused with 413
// (upload_too_large), one cut short with 400 (upload_incomplete), and
// neither leaves anything behind. Success is 201 when the object is new and
// 204 when it replaced one, both without a body. The same link may be used
// again until it expires, replacing the object atomically: a client
// retrying an upload whose answer it lost must not be refused, and which
// upload counts is for the link's issuer to decide (the worker signs a key
// of its own for each attempt).
func (s *Disk) Handler(log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			s.receiveFile(w, r, log)
			return
		}
		s.serveFile(w, r, log)
	})
}

func (s *Disk) serveFile(w http.ResponseWriter, r *http.Request, log *slog.Logger) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD, PUT")
		problem.Write(w, r, problem.New(http.StatusMethodNotAllowed, problem.CodeMethodNotAllowed, "only GET, HEAD and PUT are allowed"))
		return
	}
	key, ok := strings.CutPrefix(r.URL.Path, FilesPath)
	if !ok || storage.ValidateKey(key) != nil {
		problem.Write(w, r, problem.New(http.StatusNotFound, problem.CodeNotFound, "the file does not exist"))
		return
	}
	q := r.URL.Query()
	exp, filename := q.Get("expires"), q.Get("filename")
	sig, err := hex.DecodeString(q.Get("sig"))
	expUnix, perr := strconv.ParseInt(exp, 10, 64)
	if err != nil || perr != nil || !hmac.Equal(sig, s.sign(key, exp, filename)) {
		problem.Write(w, r, problem.New(http.StatusForbidden, CodeInvalidSignature, "the link's signature is missing or does not match"))
		return
	}
	ttl := time.Unix(expUnix, 0).Sub(s.now())
	if ttl <= 0 {
		problem.Write(w, r, problem.New(http.StatusGone, CodeLinkExpired, "the link has expired; ask /result for a new one"))
		return
	}

	f, fi, err := s.openFile(key)
	if errors.Is(err, storage.ErrNotFound) {
		problem.Write(w, r, problem.New(http.StatusNotFound, problem.CodeNotFound, "the file does not exist"))
		return
	}
	if err != nil {
		log.ErrorContext(r.Context(), "reading a stored file failed", "error", err)
		problem.Write(w, r, problem.New(http.StatusInternalServerError, problem.CodeInternal, problem.InternalDetail))
		return
	}
	defer f.Close()

	h := w.Header()
	h.Set("Content-Type", contentType(key))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "private, max-age="+strconv.FormatInt(int64(ttl/time.Second), 10))
	if cd := storage.ContentDisposition(filename); cd != "" {
		h.Set("Content-Disposition", cd)
	}
	http.ServeContent(w, r, "", fi.ModTime(), f)
}

// contentType picks the media type from key's extension, so a stored object
// needs no metadata beside it.
func contentType(key string) string {
	ext := strings.ToLower(path.Ext(key))
	if ext == ".mp4" {
		return "video/mp4"
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}
