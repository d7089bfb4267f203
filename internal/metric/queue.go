package metric

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Limits on reading the queue's depth at scrape time.
const (
	queueTimeout = 2 * time.Second // a scrape must not wait on a stuck database
	queueCache   = time.Second     // several scrapers cost one query a second
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
	m.queue.set(f)
}

// queueCollector reads the queue's depth when scraped, through a cache.
type queueCollector struct {
	now func() time.Time

	mu       sync.Mutex // held across a query: concurrent scrapes wait for its answer
	source   func(ctx context.Context) ([]QueueDepth, error)
	failures float64      // failed reads since the source was set
	at       time.Time    // when the answer below was read; zero: never
	depths   []QueueDepth // the last answer; nil after a failure
}

func (q *queueCollector) set(f func(ctx context.Context) ([]QueueDepth, error)) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.source, q.failures, q.at, q.depths = f, 0, time.Time{}, nil
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
	depths, failures, ok := q.read()
	if !ok {
		return
	}
	for _, d := range depths {
		ch <- prometheus.MustNewConstMetric(queuedDesc, prometheus.GaugeValue, float64(d.Queued), d.Backend)
		ch <- prometheus.MustNewConstMetric(runningDesc, prometheus.GaugeValue, float64(d.Running), d.Backend)
	}
	ch <- prometheus.MustNewConstMetric(sourceErrorsDesc, prometheus.CounterValue, failures, "queue")
}

// read is the source's answer of less than queueCache ago, or a new one,
// with the failures so far; ok is false without a source. A failure is
// kept as long as an answer, so a failing database is not queried once
// per scraper either.
func (q *queueCollector) read() (depths []QueueDepth, failures float64, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.source == nil {
		return nil, 0, false
	}
	now := q.now()
	if !q.at.IsZero() && now.Sub(q.at) < queueCache && !now.Before(q.at) {
		return q.depths, q.failures, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), queueTimeout)
	defer cancel()
	got, err := q.source(ctx)
	q.at, q.depths = now, nil
	if err != nil {
		q.failures++
		return nil, q.failures, true
	}
	q.depths = byBackend(got)
	return q.depths, q.failures, true
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
