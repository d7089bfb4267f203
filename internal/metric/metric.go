// Package metric holds the service's Prometheus collectors, on a registry
// of its own. Labels never carry customer or key ids (unbounded, and
// private); per-customer figures come from the database. Every label says,
// where it is declared, what bounds its values.
//
// The collectors come in groups, one file each: HTTP requests (http.go),
// the job lifecycle (jobs.go), the queue as the database sees it
// (queue.go), this process's workers and GPUs (workers.go), and the
// RunPod endpoint's health (runpod.go), alerts (alerts.go),
// customers' webhooks (webhooks.go) and /ready's checks (ready.go). A group is a struct built and
// registered by New; a new group is one more file and one more line in New.
//
// A nil *Metrics records nothing, so that a component built without
// metrics (in a test, say) needs no checks before each call.
package metric

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the collectors, registered once per process.
type Metrics struct {
	Registry *prometheus.Registry
	// RateLimited counts refused requests, by policy ("hourly", "polling").
	RateLimited *prometheus.CounterVec

	http     *httpMetrics
	jobs     *jobMetrics
	queue    *queueCollector
	workers  *workerCollector
	gpus     *gpuCollector
	runpod   *runpodCollector
	alerts   *alertCollector
	webhooks *webhookMetrics
	ready    *readyCollector

	// now is the clock of the queue source's cache; tests move it.
	now func() time.Time
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
		now: time.Now,
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
	m.http = newHTTPMetrics(r)
	m.jobs = newJobMetrics(r)
	m.queue = &queueCollector{source[[]QueueDepth]{now: func() time.Time { return m.now() }}}
	m.workers = &workerCollector{}
	m.gpus = &gpuCollector{}
	r.MustRegister(m.queue, m.workers, m.gpus)
	m.runpod = newRunPodCollector(r, func() time.Time { return m.now() })
	m.alerts = newAlertCollector(r, m)
	m.webhooks = newWebhookMetrics(r)
	m.ready = &readyCollector{source[map[string]string]{now: func() time.Time { return m.now() }}}
	r.MustRegister(m.ready)
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}
