package local

import (
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/avatar-api/avatar-api/internal/storage"
)

// Handler serves GET and HEAD requests for the URLs that URL signs. It must
// be mounted so that r.URL.Path begins with FilesPath, for example
// mux.Handle("GET /files/", store.Handler()).
//
// A missing or wrong signature is answered 403 (code invalid_signature), an
// expired link 410 (link_expired) and a missing object 404 (not_found), each
// as an RFC 9457 application/problem+json body. Otherwise the file is served
// with Range support, a private Cache-Control lasting until the link expires
// and, when the link names one, an attachment filename.
func (s *Disk) Handler() http.Handler {
	return http.HandlerFunc(s.serveFile)
}

func (s *Disk) serveFile(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeProblem(w, http.StatusMethodNotAllowed, "method_not_allowed", "Only GET and HEAD are allowed.")
		return
	}
	key, ok := strings.CutPrefix(r.URL.Path, FilesPath)
	if !ok || storage.ValidateKey(key) != nil {
		writeProblem(w, http.StatusNotFound, "not_found", "The file does not exist.")
		return
	}
	q := r.URL.Query()
	exp, filename := q.Get("expires"), q.Get("filename")
	sig, err := hex.DecodeString(q.Get("sig"))
	expUnix, perr := strconv.ParseInt(exp, 10, 64)
	if err != nil || perr != nil || !hmac.Equal(sig, s.sign(key, exp, filename)) {
		writeProblem(w, http.StatusForbidden, "invalid_signature", "The link's signature is missing or does not match.")
		return
	}
	ttl := time.Until(time.Unix(expUnix, 0))
	if ttl <= 0 {
		writeProblem(w, http.StatusGone, "link_expired", "The link has expired; request a new one.")
		return
	}

	f, fi, err := s.openFile(key)
	if errors.Is(err, storage.ErrNotFound) {
		writeProblem(w, http.StatusNotFound, "not_found", "The file does not exist.")
		return
	}
	if err != nil {
		writeProblem(w, http.StatusInternalServerError, "internal", "The file could not be read.")
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

// problem is an RFC 9457 problem details object.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
}

// writeProblem answers with an application/problem+json body. The file
// server sits outside the API's error middleware, so it writes its own.
func writeProblem(w http.ResponseWriter, status int, code, detail string) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(problem{
		Type:   "about:blank",
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
		Code:   code,
	})
}
