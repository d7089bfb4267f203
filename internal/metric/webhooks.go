package metric

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// webhookMetrics count this process's attempts to deliver customers'
// webhooks. event is one of five job events; outcome one of delivered,
// retrying (failed, another attempt follows) and given_up.
type webhookMetrics struct {
	attempts *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newWebhookMetrics(r *prometheus.Registry) *webhookMetrics {
	w := &webhookMetrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "avatar_webhook_attempts_total",
			Help: "Attempts to deliver a job's webhook to its customer's endpoint, by event and outcome (delivered, retrying, given_up).",
		}, []string{"event", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "avatar_webhook_attempt_seconds",
			Help:    "How long customers' endpoints took to answer a webhook attempt (or to fail), by whether it was delivered.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"delivered"}),
	}
	r.MustRegister(w.attempts, w.latency)
	return w
}

// WebhookAttempt counts one attempt to deliver a webhook of event.
func (m *Metrics) WebhookAttempt(event string, delivered, final bool, latency time.Duration) {
	if m == nil {
		return
	}
	outcome := "retrying"
	switch {
	case delivered:
		outcome = "delivered"
	case final:
		outcome = "given_up"
	}
	m.webhooks.attempts.WithLabelValues(event, outcome).Inc()
	d := "false"
	if delivered {
		d = "true"
	}
	m.webhooks.latency.WithLabelValues(d).Observe(latency.Seconds())
}
