package metric

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RunPodHealth is a RunPod endpoint's health as last read (GET
// /v2/{endpoint}/health): its workers by state (idle, initializing,
// ready, running, throttled, unhealthy) and its jobs by state (in_queue,
// in_progress, completed, failed, retried), with when it was read.
type RunPodHealth struct {
	Workers map[string]int
	Jobs    map[string]int
	At      time.Time
}

var (
	// state is bounded by RunPod's few worker and job states.
	runpodWorkersDesc = prometheus.NewDesc("avatar_runpod_workers",
		"Workers of the RunPod endpoint by state, as RunPod last reported them.", []string{"state"}, nil)
	runpodJobsDesc = prometheus.NewDesc("avatar_runpod_jobs",
		"Jobs of the RunPod endpoint by state, as RunPod last reported them (in_queue and in_progress are now; the others are RunPod's own counts).", []string{"state"}, nil)
	runpodAgeDesc = prometheus.NewDesc("avatar_runpod_health_age_seconds",
		"Seconds since the RunPod endpoint's health was last read successfully.", nil, nil)
)

// SetRunPodSource makes the scrapes report the RunPod endpoint's health
// as f answers it (from memory: the last poll); ok false reports nothing
// (no poll has succeeded yet). Without a source, as with BACKEND=local,
// none of the avatar_runpod_ families is reported.
func (m *Metrics) SetRunPodSource(f func() (RunPodHealth, bool)) {
	if m == nil {
		return
	}
	m.runpod.source.Store(&f)
}

// RunPodHealthFailed counts a failed read of the endpoint's health.
func (m *Metrics) RunPodHealthFailed() {
	if m == nil {
		return
	}
	m.runpod.failures.Inc()
}

// runpodCollector reports the RunPod source's figures when scraped.
type runpodCollector struct {
	source   atomic.Pointer[func() (RunPodHealth, bool)]
	failures prometheus.Counter
	now      func() time.Time
}

func newRunPodCollector(r *prometheus.Registry, now func() time.Time) *runpodCollector {
	c := &runpodCollector{now: now, failures: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "avatar_runpod_health_errors_total",
		Help: "Reads of the RunPod endpoint's health that failed.",
	})}
	r.MustRegister(c, c.failures)
	return c
}

// Describe sends the RunPod families' descriptions.
func (c *runpodCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- runpodWorkersDesc
	ch <- runpodJobsDesc
	ch <- runpodAgeDesc
}

// Collect sends the last health read, if any.
func (c *runpodCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.source.Load()
	if f == nil || *f == nil {
		return
	}
	h, ok := (*f)()
	if !ok {
		return
	}
	for state, n := range h.Workers {
		ch <- prometheus.MustNewConstMetric(runpodWorkersDesc, prometheus.GaugeValue, float64(n), state)
	}
	for state, n := range h.Jobs {
		ch <- prometheus.MustNewConstMetric(runpodJobsDesc, prometheus.GaugeValue, float64(n), state)
	}
	ch <- prometheus.MustNewConstMetric(runpodAgeDesc, prometheus.GaugeValue, c.now().Sub(h.At).Seconds())
}
