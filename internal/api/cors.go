package api

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Cross-origin calls (CORS_ORIGINS). A customer's browser app may call
// the routes a key of a customer calls, the open ones and the signed
// downloads, from the origins the operator lists: the key travels in
// Authorization, never in a cookie, so no answer allows credentials, and
// "*" is safe to allow. The operator's routes (keys, metrics, the
// dashboard and its login, which has a cookie) and the service's own
// callbacks (a remote worker's upload, RunPod's webhook) are never opened
// to another origin: a page elsewhere cannot even read their refusals.
// A request from an origin not listed, or to a route not opened, gets no
// CORS header, and its preflight is answered as if CORS did not exist
// (405): the browser then refuses the call.
const (
	corsAllowHeaders = "Authorization, Content-Type, Idempotency-Key, X-Request-ID, Last-Event-ID"
	// corsExposeHeaders are the headers of our answers a script may read.
	corsExposeHeaders = "RateLimit, RateLimit-Policy, Retry-After, X-Request-ID, Location, Idempotent-Replayed, Content-Disposition, Content-Range, Accept-Ranges, ETag"
	// corsMaxAge is how long a browser may keep a preflight's answer:
	// Chromium's cap.
	corsMaxAge = 2 * 60 * 60
)

// crossOrigin answers preflights and marks the answers of the routes a
// browser page of the listed origins may call.
func (a *api) crossOrigin(mux *http.ServeMux, routes []route, next http.Handler) http.Handler {
	if len(a.CORSOrigins) == 0 {
		return next
	}
	opened := map[string]bool{} // the mux's patterns of the routes opened
	for _, r := range routes {
		if r.crossOrigin() {
			opened[r.method+" "+r.path] = true
		}
	}
	// opens reports whether a request of method to r's path is to an
	// opened route.
	opens := func(r *http.Request, method string) bool {
		probe := r.Clone(r.Context())
		probe.Method = method
		_, pattern := mux.Handler(probe)
		return opened[pattern]
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		wanted := r.Header.Get("Access-Control-Request-Method")
		preflight := r.Method == http.MethodOptions && origin != "" && wanted != ""
		method := r.Method
		if preflight {
			method = wanted
		}
		if !opens(r, method) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin") // the answer depends on it, whether allowed or not
		allowed := a.allowOrigin(origin)
		if preflight {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
		}
		if !allowed {
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Origin", a.allowedOrigin(origin))
		if !preflight {
			h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
			next.ServeHTTP(w, r)
			return
		}
		var methods []string
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			if opens(r, m) {
				methods = append(methods, m)
			}
		}
		h.Set("Access-Control-Allow-Methods", strings.Join(methods, ", "))
		h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		h.Set("Access-Control-Max-Age", strconv.Itoa(corsMaxAge))
		w.WriteHeader(http.StatusNoContent)
	})
}

// allowOrigin reports whether a page of origin may call the opened routes.
func (a *api) allowOrigin(origin string) bool {
	return origin != "" && (slices.Contains(a.CORSOrigins, "*") || slices.Contains(a.CORSOrigins, origin))
}

// allowedOrigin is Access-Control-Allow-Origin for an allowed origin:
// "*" when any is, which no browser sends credentials with.
func (a *api) allowedOrigin(origin string) string {
	if slices.Contains(a.CORSOrigins, "*") {
		return "*"
	}
	return origin
}

// crossOrigin reports whether a browser page of another origin may call
// the route: a customer's routes, the open ones but the dashboard's, and
// the signed downloads.
func (r route) crossOrigin() bool {
	switch r.access {
	case customer, anyKey:
		return true
	case open:
		return r.path != dashboardPath && !strings.HasPrefix(r.path, dashboardPath+"/")
	case signed:
		return r.path == "/files/" && (r.method == http.MethodGet || r.method == http.MethodHead)
	}
	return false
}
