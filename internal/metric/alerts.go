package metric

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// AlertState is what the alerts' records say at scrape time, across the
// fleet: the firing alerts per rule and each channel's state.
type AlertState struct {
	Firing   map[string]int // rule → firing alerts
	Channels []AlertChannel
}

// AlertChannel is one channel's state. Channel is its id, which holds a
// host and a hash, never a URL's path or a password.
type AlertChannel struct {
	Channel string
	Failing bool // its last delivery attempt failed
	Pending int  // notifications not yet delivered
	Failed  int  // notifications given up on
}

var (
	alertsFiringDesc = prometheus.NewDesc("avatar_alerts_firing",
		"Alerts firing now, by rule, across the fleet (max() across replicas, not sum()).",
		[]string{"rule"}, nil) // bounded: the rules of package alert
	alertChannelFailingDesc = prometheus.NewDesc("avatar_alert_channel_failing",
		"1 when the last attempt to deliver an alert notification to this channel failed, across the fleet.",
		[]string{"channel"}, nil) // bounded: the configured channels
	alertPendingDesc = prometheus.NewDesc("avatar_alert_notifications_pending",
		"Alert notifications not yet delivered, by channel, across the fleet.",
		[]string{"channel"}, nil)
	alertFailedDesc = prometheus.NewDesc("avatar_alert_notifications_failed",
		"Alert notifications given up on after every retry, by channel, across the fleet.",
		[]string{"channel"}, nil)
)

// alertCollector reads the alerts' state when scraped, through a cache.
type alertCollector struct {
	source[AlertState]
	attempts *prometheus.CounterVec
}

func newAlertCollector(r prometheus.Registerer, m *Metrics) *alertCollector {
	c := &alertCollector{source: source[AlertState]{now: func() time.Time { return m.now() }}}
	c.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "avatar_alert_delivery_attempts_total",
		Help: "Attempts by this process to deliver an alert notification, by channel and outcome (delivered, failed).",
	}, []string{"channel", "outcome"}) // bounded: configured channels × two outcomes
	r.MustRegister(c, c.attempts)
	return c
}

// SetAlertSource makes the scrapes report the alerts' state as f answers
// it (read from the database at scrape time, as the queue's depth is).
func (m *Metrics) SetAlertSource(f func(ctx context.Context) (AlertState, error)) {
	if m == nil {
		return
	}
	m.alerts.set(f)
}

// AlertAttempt counts one attempt to deliver a notification to channel.
func (m *Metrics) AlertAttempt(channel string, delivered bool) {
	if m == nil {
		return
	}
	o := "failed"
	if delivered {
		o = "delivered"
	}
	m.alerts.attempts.WithLabelValues(channel, o).Inc()
}

// Describe sends the families' descriptions.
func (c *alertCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- alertsFiringDesc
	ch <- alertChannelFailingDesc
	ch <- alertPendingDesc
	ch <- alertFailedDesc
}

// Collect sends the alerts' state, and counts a failed read with the
// queue's under avatar_metrics_source_errors_total{source="alerts"}.
func (c *alertCollector) Collect(ch chan<- prometheus.Metric) {
	st, failures, set, ok := c.get()
	if !set {
		return
	}
	ch <- prometheus.MustNewConstMetric(sourceErrorsDesc, prometheus.CounterValue, failures, "alerts")
	if !ok {
		return
	}
	firing := map[string]int{} // two rules named "other" must not be two series
	for rule, n := range st.Firing {
		firing[name(rule)] += n
	}
	for rule, n := range firing {
		ch <- prometheus.MustNewConstMetric(alertsFiringDesc, prometheus.GaugeValue, float64(n), rule)
	}
	for _, a := range st.Channels {
		failing := 0.0
		if a.Failing {
			failing = 1
		}
		ch <- prometheus.MustNewConstMetric(alertChannelFailingDesc, prometheus.GaugeValue, failing, a.Channel)
		ch <- prometheus.MustNewConstMetric(alertPendingDesc, prometheus.GaugeValue, float64(a.Pending), a.Channel)
		ch <- prometheus.MustNewConstMetric(alertFailedDesc, prometheus.GaugeValue, float64(a.Failed), a.Channel)
	}
}
