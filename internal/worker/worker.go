package worker

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"

	"github.com/avatar-api/avatar-api/internal/queue"
	"github.com/avatar-api/avatar-api/internal/store/sqlstore"
)

// Options shape the River client that runs the jobs.
type Options struct {
	Concurrency int           // generation jobs at once in this process
	RescueAfter time.Duration // a running job older than this is taken as lost and retried
	// HeartbeatTimeout: a running job whose attempt has not written for
	// this long is taken for dead and re-queued at once, looked for every
	// third of it (0: only RescueAfter rescues).
	HeartbeatTimeout time.Duration
	SweepEvery       time.Duration // how often expiry and reconciliation run
	PollInterval     time.Duration // how often idle workers look for jobs without a notification
	// LostAfter is how long an unfinished job whose queue entry has ended
	// must have been left untouched before the sweep fails it (0: a minute).
	LostAfter time.Duration
	// Prune, if set, runs with each sweep: monitoring's old history goes.
	// The sweep is a periodic job of the queue, so it runs once across
	// every process, not once per process.
	Prune func(ctx context.Context) error
	// Collector, if set, runs every CollectEvery (0: CollectEvery), once
	// across every process.
	Collector    Collector
	CollectEvery time.Duration
	// Alerts, if set, are evaluated every AlertEvery (a periodic job, so
	// once across every process; 0: a minute; negative: never, for tests
	// that evaluate when they choose) and their notifications delivered
	// here.
	Alerts     Alerter
	AlertEvery time.Duration
	// AlertBackoff replaces the wait before a notification's retry n
	// (tests); nil: AlertBackoff.
	AlertBackoff func(n int) time.Duration
	// Webhooks, if set, are delivered here, retried with WebhookBackoff
	// (or WebhookBackoff, for tests) for WebhookWindow.
	Webhooks       Webhooker
	WebhookBackoff func(n int) time.Duration
}

// Runner is a started set of workers.
type Runner struct {
	client *river.Client[*sql.Tx]
	log    *slog.Logger
}

// Start starts workers on the queue behind driver: generation on
// deps.Backend's queue, and the maintenance sweep.
func Start(ctx context.Context, driver riverdriver.Driver[*sql.Tx], deps Deps, opts Options) (*Runner, error) {
	deps.Backend = deps.Backend.OrLocal()
	if deps.Backend.Queue == queue.Maintenance || deps.Backend.Queue == queue.Alerts || deps.Backend.Queue == queue.Webhooks {
		return nil, fmt.Errorf("backend %q: its queue cannot be the %s queue", deps.Backend.Name, deps.Backend.Queue)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &generateWorker{deps: deps})
	lost := opts.LostAfter
	if lost <= 0 {
		lost = time.Minute
	}
	river.AddWorker(workers, &sweepWorker{deps: deps, lostAfter: lost, prune: opts.Prune})
	queues := map[string]river.QueueConfig{
		deps.Backend.Queue: {MaxWorkers: opts.Concurrency},
		// The sweep and the alerts' evaluation: one does not wait for
		// the other.
		queue.Maintenance: {MaxWorkers: 2},
	}
	periodic := []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(opts.SweepEvery),
			func() (river.JobArgs, *river.InsertOpts) { return queue.SweepArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}),
	}
	periodic = append(periodic, collecting(workers, opts)...)
	if opts.HeartbeatTimeout > 0 {
		river.AddWorker(workers, &rescueWorker{deps: deps, timeout: opts.HeartbeatTimeout})
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(max(opts.HeartbeatTimeout/3, time.Second)),
			func() (river.JobArgs, *river.InsertOpts) { return queue.RescueArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}))
	}
	if opts.Alerts != nil {
		river.AddWorker(workers, &evaluateWorker{alerts: opts.Alerts})
		river.AddWorker(workers, &deliverWorker{alerts: opts.Alerts, backoff: opts.AlertBackoff})
		queues[queue.Alerts] = river.QueueConfig{MaxWorkers: 4}
		if opts.AlertEvery >= 0 {
			periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(cmp.Or(opts.AlertEvery, time.Minute)),
				func() (river.JobArgs, *river.InsertOpts) { return queue.EvaluateAlertsArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true}))
		}
	}
	if opts.Webhooks != nil {
		river.AddWorker(workers, &webhookWorker{webhooks: opts.Webhooks, backoff: opts.WebhookBackoff, window: WebhookWindow})
		queues[queue.Webhooks] = river.QueueConfig{MaxWorkers: 8}
	}
	client, err := river.NewClient(driver, &river.Config{
		Logger:               queueLog(deps.Log),
		Workers:              workers,
		JobTimeout:           deps.Backend.Timeout,
		RescueStuckJobsAfter: opts.RescueAfter,
		FetchPollInterval:    opts.PollInterval,
		FetchCooldown:        min(sqlstore.FetchCooldown, opts.PollInterval),
		Queues:               queues,
		PeriodicJobs:         periodic,
	})
	if err != nil {
		return nil, fmt.Errorf("creating workers: %w", err)
	}
	// Jobs must outlive the caller's context (cancelled by SIGTERM): only
	// Stop ends them, after the grace period.
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, fmt.Errorf("starting workers: %w", err)
	}
	return &Runner{client: client, log: deps.Log}, nil
}

// Stop stops taking jobs and lets running ones finish for up to grace; then
// it cancels them, and their jobs go back to the queue.
func (r *Runner) Stop(ctx context.Context, grace time.Duration) error {
	sctx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	err := r.client.Stop(sctx)
	if err == nil {
		return nil
	}
	r.log.InfoContext(ctx, "shutdown grace over; stopping running jobs and re-queueing them")
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer ccancel()
	if err := r.client.StopAndCancel(cctx); err != nil {
		return fmt.Errorf("stopping workers: %w", err)
	}
	return nil
}

// sweepWorker runs one maintenance pass.
type sweepWorker struct {
	river.WorkerDefaults[queue.SweepArgs]
	deps      Deps
	lostAfter time.Duration
	prune     func(ctx context.Context) error
}

// Work expires videos past their time, ends queued jobs past their queue
// deadline, fails jobs whose queue entry ended without them (attempts used
// up by crashes), and prunes old history.
func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[queue.SweepArgs]) error {
	var prune error
	if w.prune != nil {
		prune = w.prune(ctx)
	}
	return errors.Join(w.expire(ctx), w.deps.Jobs.LapseDue(ctx, time.Now(), 500), w.reconcile(ctx), prune)
}

// rescueWorker re-queues the jobs whose attempt stopped heartbeating.
type rescueWorker struct {
	river.WorkerDefaults[queue.RescueArgs]
	deps    Deps
	timeout time.Duration
}

// Work looks once; the periodic job comes back every third of the timeout.
func (w *rescueWorker) Work(ctx context.Context, _ *river.Job[queue.RescueArgs]) error {
	_, err := w.deps.Jobs.RescueStale(ctx, w.timeout, 500)
	return err
}

// queueLog is the logger River writes to: its own chatter (a line a
// minute of job counts, each fetch) only when our logs are at debug
// level; its warnings and errors always.
func queueLog(log *slog.Logger) *slog.Logger {
	log = log.With("component", "queue")
	if log.Enabled(context.Background(), slog.LevelDebug) {
		return log
	}
	return slog.New(atLeast{log.Handler(), slog.LevelWarn})
}

// atLeast drops the records under its level.
type atLeast struct {
	slog.Handler
	level slog.Level
}

func (h atLeast) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}

func (h atLeast) WithAttrs(attrs []slog.Attr) slog.Handler {
	return atLeast{h.Handler.WithAttrs(attrs), h.level}
}

func (h atLeast) WithGroup(name string) slog.Handler {
	return atLeast{h.Handler.WithGroup(name), h.level}
}

func (w *sweepWorker) expire(ctx context.Context) error {
	return w.deps.Jobs.ExpireDue(ctx, time.Now(), 500)
}

// reconcile ends jobs whose queue entry ended without them: River gave up
// after its attempts were used by crashes, so no worker will run them.
func (w *sweepWorker) reconcile(ctx context.Context) error {
	return w.deps.Jobs.FailLost(ctx, time.Now().Add(-w.lostAfter), 500, CodeWorkerLost,
		"the job's worker stopped repeatedly before finishing it")
}
