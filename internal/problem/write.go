package problem

import (
	"encoding/json"
	"net/http"

	"github.com/avatar-api/avatar-api/internal/logging"
)

// Codes every part of the service may answer with. The codes of a
// component live beside it (package media, api, local, …); docs/API.md
// lists them all, and TestErrorCodesDocumented finds every one in the code.
const (
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeInternal         = "internal_error"
)

// InternalDetail is what a client is told of a failure of the service:
// never its cause, which goes to the log.
const InternalDetail = "an internal error occurred; quote the request id when reporting it"

// Write answers r with p: its headers (Retry-After…), the request's id, no
// caching, and the body. It is the one writer of problems outside huma's
// operations (panics, unknown routes, plain handlers, signed downloads);
// huma writes those of operations through the same Problem type.
func Write(w http.ResponseWriter, r *http.Request, p *Problem) {
	if p.RequestID == "" {
		p.RequestID = logging.Attr(r.Context(), "request_id")
	}
	h := w.Header()
	for k, vs := range p.header {
		h[k] = vs
	}
	h.Set("Content-Type", ContentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Length") // http.ServeContent may have set it before it failed
	w.WriteHeader(p.Status)
	if r.Method != http.MethodHead {
		_ = json.NewEncoder(w).Encode(p)
	}
}
