package metric

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

// QueueDepth is how many jobs of one backend wait in the queue and how
// many run, across the fleet.
type QueueDepth struct {
	Backend         string
	Queued, Running int
}

var (
	queuedDesc = prometheus.NewDesc("avatar_jobs_queued",
		"Jobs waiting for a worker, by backend, across the fleet: every replica reports the same figure, so aggregate with max(), not sum().",
		[]string{"backend"}, nil) // bounded: the declared backends (name)
	runningDesc = prometheus.NewDesc("avatar_jobs_running",
		"Jobs being generated, by backend, across the fleet: every replica reports the same figure, so aggregate with max(), not sum().",
		[]string{"backend"}, nil)
	sourceErrorsDesc = prometheus.NewDesc("avatar_metrics_source_errors_total",
		"Failed reads of a source of metrics read at scrape time (queue: the database query of the queue's depth); the figures of that source are missing from the scrapes the failure answers.",
		[]string{"source"}, nil) // bounded: the sources of this package
)

// SetQueueSource makes the scrapes report the queue's depth as f answers
// it: avatar_jobs_queued and avatar_jobs_running, by backend. f reads the
// database, so its figures are the fleet's, the same on every replica (use
// max() in PromQL, not sum()). It is called at scrape time with a deadline
// of 2 s and its answer is kept for 1 s, so that several scrapers do not
// multiply queries; when it fails the two families are left out of the
// scrapes that answer uses, avatar_metrics_source_errors_total{source="queue"}
// counts the failure, and the scrape still succeeds. nil stops the reports.
func (m *Metrics) SetQueueSource(f func(ctx context.Context) ([]QueueDepth, error)) {
	if m == nil {
		return
	}
	m.queue.setSource(f)
}

// queueCollector reads the queue's depth when scraped, through a cache.
type queueCollector struct {
	source[[]QueueDepth]
}

func (q *queueCollector) setSource(f func(ctx context.Context) ([]QueueDepth, error)) {
	if f == nil {
		q.set(nil)
		return
	}
	q.set(func(ctx context.Context) ([]QueueDepth, error) {
		depths, err := f(ctx)
		return byBackend(depths), err
	})
}

// Describe sends the families' descriptions.
func (q *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queuedDesc
	ch <- runningDesc
	ch <- sourceErrorsDesc
}

// Collect sends the queue's depth by backend (nothing when the source
// failed) and the count of failed reads, both from one read: a scrape
// that a failure answers also counts it (the registry collects its
// collectors concurrently, so a counter of its own could be read before
// the failure it should count).
func (q *queueCollector) Collect(ch chan<- prometheus.Metric) {
	depths, failures, set, _ := q.get()
	if !set {
		return
	}
	for _, d := range depths {
		ch <- prometheus.MustNewConstMetric(queuedDesc, prometheus.GaugeValue, float64(d.Queued), d.Backend)
		ch <- prometheus.MustNewConstMetric(runningDesc, prometheus.GaugeValue, float64(d.Running), d.Backend)
	}
	ch <- prometheus.MustNewConstMetric(sourceErrorsDesc, prometheus.CounterValue, failures, "queue")
}

// byBackend merges the rows whose backends share a label (two names
// reported as "other", or a source that repeats a backend): the registry
// refuses a scrape with two series of the same labels.
func byBackend(depths []QueueDepth) []QueueDepth {
	out := make([]QueueDepth, 0, len(depths))
	index := make(map[string]int, len(depths))
	for _, d := range depths {
		b := name(d.Backend)
		i, ok := index[b]
		if !ok {
			i = len(out)
			index[b] = i
			out = append(out, QueueDepth{Backend: b})
		}
		out[i].Queued += d.Queued
		out[i].Running += d.Running
	}
	return out
}
