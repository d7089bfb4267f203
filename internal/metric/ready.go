package metric

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

// readyDesc is /ready's checks as a gauge, so that a dependency's outage
// shows in Prometheus for as long as it lasts, not only to the load
// balancer that polls /ready.
var readyDesc = prometheus.NewDesc("avatar_ready_check_ok",
	"1 while a check of /ready answers ok, 0 while it fails or is degraded (database, queue, storage, ffmpeg, alerts, rate_limiter, workers), as this process sees it.",
	[]string{"check"}, nil) // bounded: the checks the service defines

// SetReadySource makes the scrapes report /ready's checks as f answers
// them (a check's name to "ok" or what is wrong): avatar_ready_check_ok,
// 1 for ok and 0 otherwise. f is called at scrape time, within 2 s, its
// answer kept for 1 s; a check f leaves out is not reported. nil stops
// the reports.
func (m *Metrics) SetReadySource(f func(ctx context.Context) map[string]string) {
	if m == nil {
		return
	}
	if f == nil {
		m.ready.set(nil)
		return
	}
	m.ready.set(func(ctx context.Context) (map[string]string, error) { return f(ctx), nil })
}

// readyCollector reads /ready's checks when scraped, through a cache.
type readyCollector struct {
	source[map[string]string]
}

// Describe sends the family's description.
func (r *readyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- readyDesc }

// Collect sends a gauge per check.
func (r *readyCollector) Collect(ch chan<- prometheus.Metric) {
	checks, _, set, ok := r.get()
	if !set || !ok {
		return
	}
	for name, status := range checks {
		v := 0.0
		if status == "ok" {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue, v, name)
	}
}
