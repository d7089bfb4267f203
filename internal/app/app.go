// Package app is the service's one composition root. From a Config it
// opens the database, the storage and the generator, and builds the key
// service, the authenticator, the job service, the rate limiter, the
// metrics, the workers and the HTTP handler. The serve and worker commands
// and the API tests all build the service here, so that what is tested is
// what runs.
package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/avatar-api/avatar-api/internal/alert"
	"github.com/avatar-api/avatar-api/internal/api"
	"github.com/avatar-api/avatar-api/internal/apikey"
	"github.com/avatar-api/avatar-api/internal/auth"
	"github.com/avatar-api/avatar-api/internal/config"
	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/generator/face"
	"github.com/avatar-api/avatar-api/internal/gpu"
	"github.com/avatar-api/avatar-api/internal/job"
	"github.com/avatar-api/avatar-api/internal/media"
	"github.com/avatar-api/avatar-api/internal/metric"
	"github.com/avatar-api/avatar-api/internal/queue"
	"github.com/avatar-api/avatar-api/internal/ratelimit"
	"github.com/avatar-api/avatar-api/internal/rollup"
	"github.com/avatar-api/avatar-api/internal/runpod"
	"github.com/avatar-api/avatar-api/internal/runpod/dispatch"
	"github.com/avatar-api/avatar-api/internal/scratch"
	"github.com/avatar-api/avatar-api/internal/stats"
	"github.com/avatar-api/avatar-api/internal/storage"
	"github.com/avatar-api/avatar-api/internal/storage/local"
	"github.com/avatar-api/avatar-api/internal/store/sqlstore"
	"github.com/avatar-api/avatar-api/internal/webhook"
	"github.com/avatar-api/avatar-api/internal/worker"
)

// Overrides are what a caller puts in place of what New would build:
// tests inject their clocks, checks and collectors here. The zero value is
// production.
type Overrides struct {
	// FirstKey is a terminal to show a fresh install's first admin key on
	// (serve's standard output, when it is one); nil: the key is written to
	// DATA_DIR/first-admin-key instead.
	FirstKey io.Writer

	Store      *sqlstore.Store     // already open, and closed by the caller; nil: opened from the config
	Checker    generator.Checker   // vets submissions; nil: FACE_CHECK decides
	Limiter    ratelimit.Limiter   // nil: from REDIS_URL, in memory without
	LimiterNow func() time.Time    // the limiter's clock; nil: each limiter's own (Redis's)
	Clock      Clock               // the key cache's, the failed-auth throttle's and the upload-slot wait's; nil: the real one
	Metrics    *metric.Metrics     // nil: new collectors
	Images     *media.ImageDecoder // nil: bounded by IMAGE_DECODE_MEMORY and MAX_IMAGE_DECODE_BYTES
	// KeyCacheTTL is how long a looked-up key is trusted; 0: auth.CacheTTL;
	// negative: every request looks its key up.
	KeyCacheTTL time.Duration
	// The workers' intervals; 0: a heartbeat a second, a poll every 500 ms
	// and a sweep a minute.
	Heartbeat, PollInterval, SweepEvery time.Duration
	// RollupEvery is how often this process adds its counts to the
	// rollups (0: 5 s); RollupClock is their clock (nil: time.Now).
	RollupEvery time.Duration
	RollupClock func() time.Time
	// AlertClock is the alerts', the spending cap's, the job service's and the webhooks' clock (nil:
	// time.Now); AlertEvery replaces ALERT_EVAL_INTERVAL (negative: no
	// periodic evaluation), AlertBackoff the wait before a notification's
	// retry n.
	AlertClock   func() time.Time
	AlertEvery   time.Duration
	AlertBackoff func(n int) time.Duration
	// WebhookBackoff replaces the wait before a webhook's retry n.
	WebhookBackoff func(n int) time.Duration
}

// Clock is the time a test can move: Now, and a timer on it.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// App is the service, built: its parts, for the commands to run and the
// tests to look into.
type App struct {
	Config  *config.Config
	Log     *slog.Logger
	Store   *sqlstore.Store
	Storage storage.Storage
	Keys    *apikey.Service
	Auth    *auth.Keys
	Jobs    *job.Service // nil in a worker
	Metrics *metric.Metrics
	// Rollup counts this process's requests and workers' time into the
	// database, for the dashboard.
	Rollup   *rollup.Recorder
	Sessions *auth.Sessions // the dashboard's; nil in a worker
	// Handler serves every route: the API (server.New wraps it in the
	// middleware), or a worker's /health and /metrics.
	Handler http.Handler

	files     *local.Disk // nil unless STORAGE=local
	generator generator.Generator
	// With BACKEND=runpod: the client of the endpoint, the dispatcher
	// (the workers' generator, and the webhook's receiver) and the
	// endpoint's health as last read.
	runpod       *runpod.Client
	dispatcher   *dispatch.Dispatcher
	runpodHealth *runpodHealth
	workers      *worker.Runner   // nil without workers in this process
	alerts       *alert.Engine    // built on first use (Alerts)
	webhooks     *webhook.Service // built on first use (Webhooks)
	viewJobs     *job.Service     // renders webhooks: Jobs, or a worker's own
	alertClock   func() time.Time
	cap          *stats.Cap // the spending cap, built on first use
	scratch      []*scratch.Dir
	closeDB      bool
	stopFlush    func()   // ends the key-use flusher, after its last batch
	stops        []func() // end the monitoring's loops (rollups, GPU sampling), each after its last write
	name         string   // the process's, in the rollups and on the jobs its workers run
}

// New builds what `serve` runs: the HTTP API and, with EMBEDDED_WORKERS,
// the job workers, which are running when it returns. A fresh install gets
// its first key here, before the authenticator learns which key formats
// exist. Close releases everything.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, o Overrides) (a *App, err error) {
	if a, err = open(ctx, cfg, log, o); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = a.StopWorkers(0)
			a.Close()
		}
	}()
	limiter, degraded := o.Limiter, (func() bool)(nil)
	if limiter == nil {
		if limiter, degraded, err = newLimiter(cfg, log); err != nil {
			return nil, err
		}
	}
	// The metrics first: the webhook service counts its attempts in them.
	a.startMonitoring(o, degraded)
	a.Keys = apikey.NewService(a.Store, []byte(cfg.APIKeyPepper))
	hooks, err := a.Webhooks()
	if err != nil {
		return nil, err
	}
	a.Keys.Webhooks = hooks
	if err := a.bootstrapKeys(ctx, o.FirstKey); err != nil {
		return nil, err
	}
	a.startAuth(ctx, o)
	a.Sessions = auth.NewSessions(a.Store, a.Auth, cfg.DashboardSessionTTL)
	a.Jobs = a.newJobs(o)
	a.viewJobs = a.Jobs
	if cfg.EmbeddedWorkers {
		if err := a.startWorkers(ctx, o); err != nil {
			return nil, err
		}
	}
	uploads, err := a.scratchDir("uploads")
	if err != nil {
		return nil, err
	}
	a.watchRunPod() // before the dashboard's monitor, which shows what it reads
	throttle := auth.NewThrottle(10, 6*time.Second)
	deps := api.Deps{
		Jobs: a.Jobs, Keys: a.Keys, Auth: a.Auth, Throttle: throttle,
		UploadDir: uploads, Limiter: limiter, Metrics: a.Metrics, Now: o.LimiterNow,
		Uploads: api.UploadPolicy{
			ImageBytes: cfg.MaxImageBytes, AudioBytes: cfg.MaxAudioBytes,
			Slots: cfg.MaxUploads, SlotsPerCustomer: cfg.MaxUploadsPerCust,
			MinRate: cfg.UploadMinRate, Grace: cfg.UploadRateGrace,
		},
		RateLimits: api.RateLimits{PerHour: cfg.RateLimitPerHour, PollLimit: cfg.PollRateLimit, PollWindow: cfg.PollRateWindow},
		PublicURL:  cfg.PublicURL, Log: log,
		Contact:      api.Contact{Email: cfg.SupportEmail, URL: cfg.SupportURL},
		Ready:        a.readiness(degraded),
		MetricsToken: cfg.MetricsToken, Requests: a.Rollup,
		Sessions: a.Sessions, Monitor: a.monitor(), Timezone: cfg.CostLocation.String(),
		JobWebhooks: hooks,
		CORSOrigins: cfg.CORSOrigins,
	}
	if o.Clock != nil {
		throttle.SetClock(o.Clock.Now)
		a.Sessions.SetClock(o.Clock.Now)
		deps.After = o.Clock.After
	}
	if a.files != nil {
		deps.Files = a.files.Handler(log)
	}
	if a.dispatcher != nil {
		deps.RunPod = a.dispatcher
	}
	if c := a.spendingCap(); c != nil {
		deps.Budget = c
	}
	a.Handler = api.New(deps)
	return a, nil
}

// startAuth makes the authenticator, and starts recording when keys were
// last used (every 10 s; Close writes the last batch).
func (a *App) startAuth(ctx context.Context, o Overrides) {
	a.Auth = auth.NewKeys(a.Store, []byte(a.Config.APIKeyPepper), hasLegacyKey(ctx, a.Keys), a.Log)
	switch {
	case o.KeyCacheTTL < 0:
		a.Auth.TTL = 0
	case o.KeyCacheTTL > 0:
		a.Auth.TTL = o.KeyCacheTTL
	}
	if o.Clock != nil {
		a.Auth.SetClock(o.Clock.Now)
	}
	flushCtx, stop := context.WithCancel(context.Background())
	flushed := make(chan struct{})
	go func() { a.Auth.Run(flushCtx, 10*time.Second); close(flushed) }()
	a.stopFlush = func() { stop(); <-flushed }
}

func (a *App) newJobs(o Overrides) *job.Service {
	cfg := a.Config
	var checker generator.Checker // nil: no check before queueing
	switch {
	case o.Checker != nil:
		checker = o.Checker
	case cfg.FaceCheck:
		checker = face.NewChecker()
	}
	images := o.Images
	if images == nil {
		images = media.NewImageDecoder(cfg.ImageDecodeMemory, cfg.MaxImageDecode)
	}
	var runs job.RunStopper // nil, not a nil *Dispatcher, without RunPod
	if a.dispatcher != nil {
		runs = a.dispatcher
	}
	var hooks job.WebhookTargets // nil, not a nil *webhook.Service, without one
	if a.webhooks != nil {
		hooks = a.webhooks
	}
	s := job.NewService(job.Deps{
		Store: a.Store, Storage: a.Storage, Checker: checker, Log: a.Log, Observer: observer{a.Metrics}, Runs: runs,
		Webhooks: hooks,
		Audio:    media.Prober{FFmpeg: cfg.FFmpeg, FFprobe: cfg.FFprobe},
		Images:   images,
	}, job.Settings{
		Limits: media.Limits{
			MaxImageDimension: cfg.MaxImageDimension, MaxImagePixels: cfg.MaxImageDimension * cfg.MaxImageDimension,
			MaxAudioDuration: cfg.MaxAudioDuration,
		},
		MaxPromptChars: cfg.MaxPromptChars,
		Width:          cfg.DefaultWidth, Height: cfg.DefaultHeight, FPS: cfg.DefaultFPS,
		ResultTTL: cfg.ResultTTL, DownloadURLTTL: cfg.DownloadURLTTL,
		Backend: a.backend(),
	})
	if o.AlertClock != nil {
		s.SetClock(o.AlertClock)
	}
	return s
}

// backend is where this service's videos are made (BACKEND): the
// generator of this binary, on the local queue, each attempt limited to
// JOB_TIMEOUT; or RunPod, on its own queue, each attempt limited by
// RunPod's ttl. The job service and the workers are given the same one.
func (a *App) backend() queue.Backend {
	cfg := a.Config
	if cfg.Backend == queue.RunPodBackend {
		return queue.RunPod(cfg.AttemptTimeout(), cfg.RunPodPrice)
	}
	return queue.Local(cfg.JobTimeout, cfg.CostPerSecond)
}

// startWorkers starts this process's River workers, with a scratch
// directory of their own.
func (a *App) startWorkers(ctx context.Context, o Overrides) error {
	dir, err := a.scratchDir("work")
	if err != nil {
		return err
	}
	cfg := a.Config
	hooks, err := a.Webhooks()
	if err != nil {
		return err
	}
	a.workerMonitoring(ctx)
	a.workers, err = worker.Start(ctx, a.Store.Driver(), worker.Deps{
		Jobs:    a.lifecycle(),
		Storage: a.Storage, Generator: a.generator, Log: a.Log, WorkDir: dir,
		Backend: a.backend(), ResultTTL: cfg.ResultTTL, Heartbeat: cmp.Or(o.Heartbeat, time.Second),
		Name: a.name, Meter: a.Rollup, Videos: media.Prober{FFmpeg: cfg.FFmpeg, FFprobe: cfg.FFprobe},
		Readings: func(ctx context.Context, worker string, samples []gpu.Sample) error {
			return a.recordReadings(ctx, "runpod:"+worker, samples)
		},
		Deferred: a.Metrics.JobDeferred,
	}, worker.Options{
		Concurrency: a.concurrency(), RescueAfter: cfg.JobRescueAfter, HeartbeatTimeout: cfg.JobHeartbeatTimeout, SweepEvery: cmp.Or(o.SweepEvery, time.Minute),
		PollInterval: cmp.Or(o.PollInterval, 500*time.Millisecond), Prune: a.prune, Collector: a.collector(),
		Alerts: a.Alerts(), AlertEvery: cmp.Or(o.AlertEvery, cfg.AlertEvalInterval), AlertBackoff: o.AlertBackoff,
		Webhooks: hooks, WebhookBackoff: o.WebhookBackoff,
	})
	return err
}

// lifecycle is the workers' job lifecycle: with RunPod, a lost job's run
// there is stopped when the sweep fails it.
func (a *App) lifecycle() *job.Lifecycle {
	l := job.NewLifecycle(a.Store, a.Storage, a.Log, observer{a.Metrics})
	if a.dispatcher != nil {
		l.StopRunsWith(a.dispatcher)
	}
	return l
}

// concurrency is how many jobs this process's workers take at once:
// WORKERS, or RUNPOD_CONCURRENCY when each only follows a job at RunPod
// (a goroutine waiting, not a CPU).
func (a *App) concurrency() int {
	if a.dispatcher != nil {
		return a.Config.RunPodConcurrency
	}
	return a.Config.Workers
}

// Workers reports whether this process runs job workers.
func (a *App) Workers() bool { return a.workers != nil }

// StopWorkers stops the workers: running jobs get grace to finish, then
// are stopped and put back in the queue. Without workers it does nothing.
func (a *App) StopWorkers(grace time.Duration) error {
	if a.workers == nil {
		return nil
	}
	return a.workers.Stop(context.Background(), grace)
}

// Close writes the last key uses, removes the scratch directories, and
// closes the storage and (unless it was given) the database. Stop the
// workers and the server first.
func (a *App) Close() {
	if a.stopFlush != nil {
		a.stopFlush()
	}
	for _, stop := range a.stops {
		stop()
	}
	a.stops = nil
	for _, d := range a.scratch {
		if err := d.Close(); err != nil {
			a.Log.Warn("removing scratch directory", "dir", d.Path, "error", err)
		}
	}
	if a.closeDB {
		a.Store.Close()
	}
	if a.files != nil {
		a.files.Close()
	}
}

// scratchDir is this process's own directory under DATA_DIR/name, locked
// while it runs; the stale ones of stopped processes are removed first.
func (a *App) scratchDir(name string) (string, error) {
	d, err := scratch.Open(joinData(a.Config, name), a.Log.With("scratch", name))
	if err != nil {
		return "", fmt.Errorf("creating %s directory: %w", name, err)
	}
	a.scratch = append(a.scratch, d)
	return d.Path, nil
}

var errNoTool = errors.New("not found: install ffmpeg (scripts/install-deps.sh does) or set FFMPEG/FFPROBE")
