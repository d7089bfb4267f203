package metric

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// requestBuckets, in seconds, span a polled status (a few milliseconds)
// to an upload of a portrait and a minute of speech over a slow link.
var requestBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// methods are the HTTP methods reported by name; any other is "OTHER",
// so that a client inventing methods cannot add series.
var methods = [...]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"}

// classes are the status classes; a status outside 100–599 (0 from a
// handler that wrote nothing and that the middleware did not default to
// 200) is "other".
var classes = [...]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

// httpMetrics are the requests served, by route, method and status class.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(r prometheus.Registerer) *httpMetrics {
	h := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "avatar_http_requests_total",
			Help: "HTTP requests served, by route (the route table's pattern, or unmatched), method and status class.",
		}, []string{"route", "method", "status"}), // bounded: the route table × 8 methods × 6 classes
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "avatar_http_request_duration_seconds",
			Help:    "Time from a request's arrival to its handler's return, uploads included, by route and method.",
			Buckets: requestBuckets,
		}, []string{"route", "method"}), // bounded: the route table × 8 methods
	}
	r.MustRegister(h.requests, h.duration)
	return h
}

// ObserveRequest records one request served: route is the ServeMux
// pattern that matched (http.Request.Pattern; a leading "METHOD " is
// dropped, so "GET /status/{job_id}" is "/status/{job_id}") or "" when
// none did, reported as "unmatched"; status is the one sent, reported by
// class; d is the time the handler took. The middleware in front of every
// route calls it, so it allocates nothing once a route has been seen.
//
// route must be a pattern, never a request's path: the route table is what
// bounds its label.
func (m *Metrics) ObserveRequest(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	r, meth := routeLabel(route), methodLabel(method)
	m.http.requests.WithLabelValues(r, meth, statusLabel(status)).Inc()
	m.http.duration.WithLabelValues(r, meth).Observe(seconds(d))
}

// routeLabel is the pattern without its method, or "unmatched".
func routeLabel(pattern string) string {
	if pattern == "" {
		return "unmatched"
	}
	// ServeMux splits a pattern's method from the rest at the first space
	// or tab, and allows more of them after it.
	if i := strings.IndexAny(pattern, " \t"); i >= 0 {
		return strings.TrimLeft(pattern[i+1:], " \t")
	}
	return pattern
}

// methodLabel is method's name among methods.
func methodLabel(method string) string {
	for _, m := range methods[:len(methods)-1] {
		if method == m {
			return m
		}
	}
	return methods[len(methods)-1]
}

// statusLabel is status's class among classes.
func statusLabel(status int) string {
	if status < 100 || status > 599 {
		return classes[0]
	}
	return classes[status/100]
}
