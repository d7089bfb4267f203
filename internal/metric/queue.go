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
	var errs prometheus.Counter
	if f != nil {
		errs = m.sourceErrors.WithLabelValues("queue") // at 0 from the start, for rate()
	}
	m.queue.set(f, errs)
}

// queueCollector reads the queue's depth when scraped, through a cache.
type queueCollector struct {
	now func() time.Time

	mu     sync.Mutex // held across a query: concurrent scrapes wait for its answer
	source func(ctx context.Context) ([]QueueDepth, error)
	errs   prometheus.Counter
	at     time.Time    // when the answer below was read; zero: never
	depths []QueueDepth // the last answer; nil after a failure
}

func (q *queueCollector) set(f func(ctx context.Context) ([]QueueDepth, error), errs prometheus.Counter) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.source, q.errs, q.at, q.depths = f, errs, time.Time{}, nil
}

// Describe sends the two families' descriptions.
func (q *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queuedDesc
	ch <- runningDesc
}

// Collect sends the queue's depth by backend; nothing without a source or
// when the source failed.
func (q *queueCollector) Collect(ch chan<- prometheus.Metric) {
	for _, d := range q.read() {
		ch <- prometheus.MustNewConstMetric(queuedDesc, prometheus.GaugeValue, float64(d.Queued), d.Backend)
		ch <- prometheus.MustNewConstMetric(runningDesc, prometheus.GaugeValue, float64(d.Running), d.Backend)
	}
}

// read is the source's answer of less than queueCache ago, or a new one.
// A failure is kept as long as an answer, so a failing database is not
// queried once per scraper either.
func (q *queueCollector) read() []QueueDepth {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.source == nil {
		return nil
	}
	now := q.now()
	if !q.at.IsZero() && now.Sub(q.at) < queueCache && !now.Before(q.at) {
		return q.depths
	}
	ctx, cancel := context.WithTimeout(context.Background(), queueTimeout)
	defer cancel()
	depths, err := q.source(ctx)
	q.at, q.depths = now, nil
	if err != nil {
		q.errs.Inc()
		return nil
	}
	q.depths = byBackend(depths)
	return q.depths
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
