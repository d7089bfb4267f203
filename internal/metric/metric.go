// Package metric holds the service's Prometheus collectors, on a registry
// of its own. Labels never carry customer or key ids (unbounded, and
// private); per-customer figures come from the database.
package metric

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the collectors, registered once per process.
type Metrics struct {
	Registry *prometheus.Registry
	// RateLimited counts refused requests, by policy ("hourly", "polling").
	RateLimited *prometheus.CounterVec
}

// New returns the collectors on a fresh registry with the Go and process
// collectors. degraded reports whether rate limits hold per replica only
// (Redis unreachable); nil means they never are shared.
func New(degraded func() bool) *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		Registry: r,
		RateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "avatar_rate_limited_requests_total",
			Help: "Requests refused with 429 by a rate limit policy.",
		}, []string{"policy"}),
	}
	r.MustRegister(m.RateLimited)
	r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "avatar_rate_limit_degraded",
		Help: "1 while Redis is unreachable and rate limits hold per replica only.",
	}, func() float64 {
		if degraded != nil && degraded() {
			return 1
		}
		return 0
	}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}
