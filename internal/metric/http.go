package metric

import (
	"strings"
	"sync"
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
	// series caches the children of one (route, method, class): a lookup
	// that takes no lock, where WithLabelValues hashes the labels and
	// takes the vector's read lock, twice. BenchmarkObserveRequest runs in
	// about half the time with it.
	series sync.Map // httpKey → httpSeries
}

// httpKey names the series of a request, by its labels.
type httpKey struct {
	route          string
	method, status uint8 // indexes into methods and classes
}

// httpSeries are the children that a request moves.
type httpSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
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
	k := httpKey{route: routeLabel(route), method: methodIndex(method), status: classIndex(status)}
	s, ok := m.http.series.Load(k)
	if !ok {
		s, _ = m.http.series.LoadOrStore(k, httpSeries{
			requests: m.http.requests.WithLabelValues(k.route, methods[k.method], classes[k.status]),
			duration: m.http.duration.WithLabelValues(k.route, methods[k.method]),
		})
	}
	hs := s.(httpSeries)
	hs.requests.Inc()
	hs.duration.Observe(seconds(d))
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

// methodIndex is method's index in methods.
func methodIndex(method string) uint8 {
	for i, m := range methods[:len(methods)-1] {
		if method == m {
			return uint8(i)
		}
	}
	return uint8(len(methods) - 1)
}

// classIndex is status's class's index in classes.
func classIndex(status int) uint8 {
	if status < 100 || status > 599 {
		return 0
	}
	return uint8(status / 100)
}
