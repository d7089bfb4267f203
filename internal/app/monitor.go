package app

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"time"

	"github.com/avatar-api/avatar-api/internal/gpu"
	"github.com/avatar-api/avatar-api/internal/job"
	"github.com/avatar-api/avatar-api/internal/metric"
	"github.com/avatar-api/avatar-api/internal/rollup"
	"github.com/avatar-api/avatar-api/internal/stats"
	"github.com/avatar-api/avatar-api/internal/store"
)

// What every process does for monitoring: it names itself, counts its
// requests and its workers' time into the database's rollups, reports its
// job transitions to Prometheus, and, with a GPU and workers, samples it.

// processName names this process in the rollups, on the jobs its workers
// run and on its GPU readings: host and pid.
func processName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}

// startMonitoring makes the metrics (unless given), their sources, and the
// rollup recorder, flushing every 5 s until Close.
func (a *App) startMonitoring(o Overrides, degraded func() bool) {
	a.Metrics = o.Metrics
	if a.Metrics == nil {
		a.Metrics = metric.New(degraded)
	}
	a.Metrics.SetQueueSource(func(ctx context.Context) ([]metric.QueueDepth, error) {
		depths, err := a.Store.QueueDepths(ctx)
		// The service's own backend is always reported, at 0 when idle: a
		// gauge that vanishes would look like a scrape that failed.
		out := []metric.QueueDepth{{Backend: a.backend().Name}}
		for _, d := range depths {
			if d.Backend == out[0].Backend {
				out[0].Queued, out[0].Running = int(d.Queued), int(d.Running)
				continue
			}
			out = append(out, metric.QueueDepth{Backend: d.Backend, Queued: int(d.Queued), Running: int(d.Running)})
		}
		return out, err
	})
	a.alertMetrics()
	a.Rollup = rollup.New(a.Store, a.name, a.Log, o.RollupClock)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Rollup.Run(ctx, cmp.Or(o.RollupEvery, 5*time.Second), nil); close(done) }()
	a.stops = append(a.stops, func() { stop(); <-done })
}

// workerMonitoring reports this process's workers: their busy time to the
// rollups and Prometheus, and, with an NVIDIA GPU, its readings while they
// run jobs.
func (a *App) workerMonitoring(ctx context.Context) {
	a.Rollup.SetSlots(a.concurrency())
	a.Metrics.SetWorkerSource(func() metric.WorkerUse {
		u := a.Rollup.Use()
		return metric.WorkerUse{Slots: u.Slots, Busy: u.Busy, BusySeconds: u.BusySeconds, CapacitySeconds: u.CapacitySeconds}
	})
	cfg := a.Config
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	found := gpu.Detect(dctx, cfg.NvidiaSMI)
	cancel()
	if !found {
		a.Log.Info("no NVIDIA GPU found; no GPU readings", "nvidia_smi", cfg.NvidiaSMI)
		return
	}
	sampler := gpu.NewSampler(gpu.SamplerConfig{
		Path: cfg.NvidiaSMI, Every: cfg.GPUSampleInterval, Active: a.Rollup.Busy, Log: a.Log.With("component", "gpu"),
		Record: func(ctx context.Context, samples []gpu.Sample) error {
			return a.recordReadings(ctx, a.name, samples)
		},
	})
	a.Metrics.SetGPUSource(func() []metric.GPUReading {
		latest := sampler.Latest()
		out := make([]metric.GPUReading, len(latest))
		for i, s := range latest {
			out[i] = metric.GPUReading{GPU: s.GPU, Utilization: s.Utilization,
				MemoryUsedBytes: float64(s.MemoryUsedBytes), MemoryTotalBytes: float64(s.MemoryTotalBytes)}
		}
		return out
	})
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sampler.Run(sctx); close(done) }()
	a.stops = append(a.stops, func() { stop(); <-done })
	a.Log.Info("sampling the NVIDIA GPU while jobs run", "every", cfg.GPUSampleInterval.String())
}

// recordReadings adds a machine's GPU readings to the history.
func (a *App) recordReadings(ctx context.Context, worker string, samples []gpu.Sample) error {
	rows := make([]store.GPUSample, len(samples))
	for i, s := range samples {
		rows[i] = store.GPUSample{At: s.At, Worker: worker, GPU: s.GPU, Utilization: s.Utilization,
			MemoryUsed: s.MemoryUsedBytes, MemoryTotal: s.MemoryTotalBytes}
	}
	return a.Store.AddGPUSamples(ctx, rows)
}

// prune deletes monitoring's history older than METRICS_RETENTION, and
// expired dashboard sessions: run by the sweep, once across processes.
func (a *App) prune(ctx context.Context) error {
	now := time.Now()
	_, err := a.Store.Prune(ctx, store.PruneParams{Before: now.Add(-a.Config.MetricsRetention), Now: now})
	return err
}

// monitor answers the dashboard's refreshes, with the RunPod endpoint's
// health as last read when the backend is RunPod (watchRunPod first), the
// alerts' state and the customers' failing webhook endpoints. Its
// cache of the history is filled in the background from the start.
func (a *App) monitor() *stats.Service {
	svc := &stats.Service{History: a.Store, Location: a.Config.CostLocation, Price: a.backend().Price,
		Retention: a.Config.MetricsRetention, Alerts: a.Store, Channels: a.channelIDs(), Cap: a.spendingCap()}
	if b := a.Config.CostMonthlyBudget; b > 0 {
		svc.Budget = &b
	}
	// The webhooks panel, from a store that keeps deliveries (any other
	// leaves the dashboard's webhooks null, and the panel hidden).
	if w, ok := any(a.Store).(stats.WebhookHealthReader); ok && a.Store != nil {
		svc.Webhooks = w
	}
	if a.runpodHealth != nil {
		svc.RunPod = a.runpodHealth.dashboard
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		start := time.Now()
		if err := svc.Warm(ctx); err != nil {
			if ctx.Err() == nil {
				a.Log.Warn("reading the dashboard's history failed; the first refresh will try again", "error", err)
			}
			return
		}
		a.Log.Debug("dashboard history read", "seconds", time.Since(start).Seconds())
	}()
	a.stops = append(a.stops, func() { stop(); <-done })
	return svc
}

// observer tells Prometheus of each job transition this process makes.
type observer struct{ m *metric.Metrics }

// Rescued implements job.RescueObserver: jobs the heartbeat rescue put
// back on the queue (avatar_jobs_rescued_total).
func (o observer) Rescued(_ context.Context, n int) { o.m.JobsRescued(n) }

// Transitioned implements job.Observer.
func (o observer) Transitioned(_ context.Context, a store.Applied) {
	j, ev := a.Job, a.Event
	switch {
	case ev.Transition == store.Create:
		o.m.JobSubmitted(j.Backend)
	case ev.Transition == store.Start && j.StartedAt != nil && j.StartedAt.Equal(ev.At):
		o.m.JobStarted(j.Backend, j.StartedAt.Sub(j.CreatedAt)) // the first start: the queue wait
	}
	if c := a.Charge; c != nil {
		o.m.RunEnded(c.Backend, job.RunOutcome(ev), j.RunTime, c.Billed, c.Cost.USD())
	}
	if ev.To.Final() && ev.Transition != store.Expire && j.FinishedAt != nil {
		o.m.JobFinished(j.Backend, string(ev.To), j.ErrorCode, j.FinishedAt.Sub(j.CreatedAt))
	}
}
