package metric

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// jobBuckets, in seconds, span a video job from a cached still (half a
// second) to a long generation on a busy backend (twenty minutes).
var jobBuckets = []float64{.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200}

// jobMetrics follow jobs through their lifecycle. The lifecycle calls them
// after each transition commits, so a figure is never counted for a
// transition that was rolled back. Labels: backend is bounded by the
// backends declared in code and configuration ("local", "runpod"), code by
// the failure codes our code defines; both pass through name, outcome
// through the constants of this package.
type jobMetrics struct {
	submitted  *prometheus.CounterVec   // backend
	queueWait  *prometheus.HistogramVec // backend
	generation *prometheus.HistogramVec // backend, outcome
	billed     *prometheus.CounterVec   // backend
	cost       *prometheus.CounterVec   // backend
	finished   *prometheus.CounterVec   // backend, outcome, code
	duration   *prometheus.HistogramVec // backend, outcome
	rescued    prometheus.Counter
	deferred   prometheus.Counter
	pruned     prometheus.Counter
	orphans    prometheus.Counter
	orphanB    prometheus.Counter
}

func newJobMetrics(r prometheus.Registerer) *jobMetrics {
	j := &jobMetrics{
		submitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "avatar_jobs_submitted_total",
			Help: "Jobs accepted and queued, by the backend that will generate them.",
		}, []string{"backend"}),
		queueWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "avatar_job_queue_wait_seconds",
			Help:    "Time from a job's submission to its first start on a worker, by backend.",
			Buckets: jobBuckets,
		}, []string{"backend"}),
		generation: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "avatar_job_generation_seconds",
			Help:    "Time of one run of a generation (an attempt), by backend and how the run ended: completed, failed, cancelled, requeued or lost.",
			Buckets: jobBuckets,
		}, []string{"backend", "outcome"}),
		billed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "avatar_billed_seconds_total",
			Help: "Generation time billed, by backend: each run's wall time, or the time the backend reported (a remote GPU's).",
		}, []string{"backend"}),
		cost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "avatar_cost_usd_total",
			Help: "What the backends charged for runs, in US dollars, by backend.",
		}, []string{"backend"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "avatar_jobs_finished_total",
			Help: "Jobs that reached an end, by backend, outcome (completed, failed, cancelled) and failure code (none when completed or cancelled, other for a code outside our set).",
		}, []string{"backend", "outcome", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "avatar_job_duration_seconds",
			Help:    "Time from a job's submission to its end, by backend and outcome.",
			Buckets: jobBuckets,
		}, []string{"backend", "outcome"}),
	}
	j.rescued = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "avatar_jobs_rescued_total",
		Help: "Jobs this process put back on the queue because their running attempt stopped heartbeating (its worker taken for dead).",
	})
	j.deferred = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "avatar_jobs_deferred_total",
		Help: "Times this process's workers put a job back in the queue, without using an attempt, because a dependency (storage, the database, the disk, ffmpeg) was down.",
	})
	j.pruned = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "avatar_jobs_pruned_total",
		Help: "Ended jobs this process deleted past JOB_RETENTION, with their events (their figures kept in rollups).",
	})
	j.orphans = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "avatar_storage_orphans_deleted_total",
		Help: "Stored objects this process's garbage collection deleted: objects no job needs, older than STORAGE_ORPHAN_AGE, and leftovers of unfinished writes.",
	})
	j.orphanB = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "avatar_storage_orphan_bytes_deleted_total",
		Help: "Bytes of the objects counted by avatar_storage_orphans_deleted_total.",
	})
	r.MustRegister(j.submitted, j.queueWait, j.generation, j.billed, j.cost, j.finished, j.duration, j.rescued,
		j.deferred, j.pruned, j.orphans, j.orphanB)
	return j
}

// JobSubmitted counts a job accepted for backend.
func (m *Metrics) JobSubmitted(backend string) {
	if m == nil {
		return
	}
	m.jobs.submitted.WithLabelValues(name(backend)).Inc()
}

// JobStarted records how long a job waited in the queue before its first
// start. Call it at the first start only: a requeued job's later starts
// would count its first run as waiting.
func (m *Metrics) JobStarted(backend string, queueWait time.Duration) {
	if m == nil {
		return
	}
	m.jobs.queueWait.WithLabelValues(name(backend)).Observe(seconds(queueWait))
}

// RunEnded records one run of a generation: how long it ran, how it ended
// (Completed, Failed, Cancelled, Requeued or Lost), and what the backend
// billed for it in time and in US dollars. A negative, NaN or infinite
// bill is dropped: a counter only goes up.
func (m *Metrics) RunEnded(backend, outcomeOfRun string, run, billed time.Duration, costUSD float64) {
	if m == nil {
		return
	}
	b := name(backend)
	o := outcome(outcomeOfRun, Completed, Failed, Cancelled, Requeued, Lost)
	m.jobs.generation.WithLabelValues(b, o).Observe(seconds(run))
	if billed >= 0 {
		m.jobs.billed.WithLabelValues(b).Add(billed.Seconds())
	}
	if addable(costUSD) {
		m.jobs.cost.WithLabelValues(b).Add(costUSD)
	}
}

// JobFinished records a job's end: its outcome (Completed, Failed or
// Cancelled), its failure code ("" is reported as "none"), and the time
// from its submission to its end.
func (m *Metrics) JobFinished(backend, outcomeOfJob, code string, total time.Duration) {
	if m == nil {
		return
	}
	b := name(backend)
	o := outcome(outcomeOfJob, Completed, Failed, Cancelled)
	if code == "" {
		code = "none"
	}
	m.jobs.finished.WithLabelValues(b, o, name(code)).Inc()
	m.jobs.duration.WithLabelValues(b, o).Observe(seconds(total))
}

// JobsRescued counts n jobs put back on the queue because their attempt
// stopped heartbeating: a worker died (or could not reach the database
// for longer than JOB_HEARTBEAT_TIMEOUT).
func (m *Metrics) JobsRescued(n int) {
	if m == nil || n <= 0 {
		return
	}
	m.jobs.rescued.Add(float64(n))
}

// JobDeferred counts a job put back in the queue because a dependency
// was down.
func (m *Metrics) JobDeferred() {
	if m == nil {
		return
	}
	m.jobs.deferred.Inc()
}

// Collected counts what one run of the garbage collection deleted: jobs
// past their retention, and orphaned objects with their bytes.
func (m *Metrics) Collected(jobs, objects, bytes int64) {
	if m == nil {
		return
	}
	m.jobs.pruned.Add(float64(max(jobs, 0)))
	m.jobs.orphans.Add(float64(max(objects, 0)))
	m.jobs.orphanB.Add(float64(max(bytes, 0)))
}
