package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"

	"github.com/avatar-api/avatar-api/internal/logging"
	"github.com/avatar-api/avatar-api/internal/problem"
)

// notFound answers requests that match no route (404) or no method of a
// route (405) with problem+json instead of the mux's plain text.
func notFound(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r) // sets the path values, which Handler does not
			return
		}
		rec := httptest.NewRecorder() // the mux's own answer: 404, or 405 with Allow
		h.ServeHTTP(rec, r)
		p := problem.New(http.StatusNotFound, CodeNotFound, "no such endpoint; see /openapi.json")
		if rec.Code == http.StatusMethodNotAllowed {
			p = problem.Newf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "%s is not allowed here; allowed: %s", r.Method, rec.Header().Get("Allow"))
			w.Header().Set("Allow", rec.Header().Get("Allow"))
		}
		p.RequestID = logging.Attr(r.Context(), "request_id")
		w.Header().Set("Content-Type", problem.ContentType)
		w.WriteHeader(p.Status)
		_ = json.NewEncoder(w).Encode(p)
	})
}
