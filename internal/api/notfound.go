package api

import (
	"net/http"
	"strings"

	"github.com/avatar-api/avatar-api/internal/problem"
)

// methods are the methods any route of the table may have.
var methods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// unmatched answers requests that match no route (404) or no method of a
// route (405, with Allow) with problem+json instead of the mux's plain
// text. Which: the mux is asked whether the path matches a route under
// each other method.
func (a *api) unmatched(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r) // sets the path values, which Handler does not
			return
		}
		var allowed []string
		for _, m := range methods {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "" {
				allowed = append(allowed, m)
			}
		}
		if len(allowed) == 0 {
			problem.Write(w, r, problem.New(http.StatusNotFound, problem.CodeNotFound, "no such endpoint; see /openapi.json"))
			return
		}
		allow := strings.Join(allowed, ", ")
		problem.Write(w, r, problem.Newf(http.StatusMethodNotAllowed, problem.CodeMethodNotAllowed,
			"%s is not allowed here; allowed: %s", r.Method, allow).WithHeader("Allow", allow))
	})
}
