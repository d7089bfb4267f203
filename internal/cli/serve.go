package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/redis/go-redis/v9"

	"github.com/avatar-api/avatar-api/internal/api"
	"github.com/avatar-api/avatar-api/internal/apikey"
	"github.com/avatar-api/avatar-api/internal/auth"
	"github.com/avatar-api/avatar-api/internal/config"
	"github.com/avatar-api/avatar-api/internal/ffmpeg"
	"github.com/avatar-api/avatar-api/internal/generator/face"
	"github.com/avatar-api/avatar-api/internal/job"
	"github.com/avatar-api/avatar-api/internal/media"
	"github.com/avatar-api/avatar-api/internal/metric"
	"github.com/avatar-api/avatar-api/internal/queue"
	"github.com/avatar-api/avatar-api/internal/ratelimit"
	"github.com/avatar-api/avatar-api/internal/server"
	"github.com/avatar-api/avatar-api/internal/worker"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if err := noFlags("serve", args, stderr); err != nil {
		return err
	}
	rt, err := openRuntime(ctx, stderr)
	if err != nil {
		return err
	}
	defer rt.close()
	cfg, log := rt.cfg, rt.log
	keys := apikey.NewService(rt.store, []byte(cfg.APIKeyPepper))
	if err := bootstrapKeys(ctx, keys, rt, stdout); err != nil {
		return err
	}
	authn := auth.NewKeys(rt.store, []byte(cfg.APIKeyPepper), hasLegacyKey(ctx, keys), log)
	flushCtx, stopFlush := context.WithCancel(context.Background())
	flushed := make(chan struct{})
	go func() { authn.Run(flushCtx, 10*time.Second); close(flushed) }()
	defer func() { stopFlush(); <-flushed }() // the last batch of key uses, before the database closes
	checker := face.NewChecker()
	jobs := job.NewService(job.Deps{
		Store: rt.store, Storage: rt.storage, Checker: checker, Log: log,
		Audio:  media.Prober{FFmpeg: cfg.FFmpeg, FFprobe: cfg.FFprobe},
		Images: media.NewImageDecoder(cfg.ImageDecodeMemory, cfg.MaxImageDecode),
	}, job.Settings{
		Limits: media.Limits{
			MaxImageDimension: cfg.MaxImageDimension, MaxImagePixels: cfg.MaxImageDimension * cfg.MaxImageDimension,
			MaxAudioDuration: cfg.MaxAudioDuration,
		},
		MaxPromptChars: cfg.MaxPromptChars,
		Width:          cfg.DefaultWidth, Height: cfg.DefaultHeight, FPS: cfg.DefaultFPS,
		ResultTTL: cfg.ResultTTL, DownloadURLTTL: cfg.DownloadURLTTL,
	})

	var runner *worker.Runner
	if cfg.EmbeddedWorkers {
		if runner, err = rt.startWorkers(ctx); err != nil {
			return err
		}
	}
	limiter, degraded, err := newLimiter(cfg, log)
	if err != nil {
		return err
	}
	metrics := metric.New(degraded)
	uploads, err := rt.processDir("uploads")
	if err != nil {
		return err
	}
	deps := api.Deps{
		Jobs: jobs, Keys: keys, Auth: authn, Throttle: auth.NewThrottle(10, 6*time.Second),
		UploadDir: uploads, Limiter: limiter, Metrics: metrics,
		Uploads: api.UploadPolicy{
			ImageBytes: cfg.MaxImageBytes, AudioBytes: cfg.MaxAudioBytes,
			Slots: cfg.MaxUploads, SlotsPerCustomer: cfg.MaxUploadsPerCust,
			MinRate: cfg.UploadMinRate, Grace: cfg.UploadRateGrace,
		},
		RateLimits: api.RateLimits{PerHour: cfg.RateLimitPerHour, PollLimit: cfg.PollRateLimit, PollWindow: cfg.PollRateWindow},
		PublicURL:  cfg.PublicURL, Log: log,
		Ready: rt.readiness(runner != nil, degraded),
	}
	if rt.files != nil {
		deps.Files = rt.files.Handler(log)
	}
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.Port))
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	srv := server.New(ln.Addr().String(), api.New(deps), log)
	log.Info("serving", "addr", ln.Addr().String(), "public_url", cfg.PublicURL, "embedded_workers", runner != nil,
		"database", map[bool]string{true: "postgres", false: "sqlite"}[cfg.DatabaseURL != ""], "storage", cfg.Storage)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err = <-errc:
	case <-ctx.Done():
		log.Info("shutting down: no new requests; running jobs get the grace period", "grace", cfg.ShutdownGrace.String())
	}
	// HTTP and workers stop together, on one budget: requests in flight
	// and running jobs both get SHUTDOWN_GRACE; then uploads still going are
	// cut off and running jobs are stopped and re-queued (at most 15 s more).
	var wg sync.WaitGroup
	wg.Go(func() {
		sctx, cancel := context.WithTimeout(context.Background(), max(cfg.ShutdownGrace, time.Second))
		defer cancel()
		if serr := srv.Shutdown(sctx); serr != nil {
			log.Warn("HTTP requests still running at the end of the grace period were cut off", "error", serr)
			_ = srv.Close()
		}
	})
	if runner != nil {
		if serr := runner.Stop(context.Background(), cfg.ShutdownGrace); serr != nil {
			err = errors.Join(err, serr)
		}
	}
	wg.Wait()
	log.Info("stopped")
	return err
}

func (rt *runtime) startWorkers(ctx context.Context) (*worker.Runner, error) {
	dir, err := rt.processDir("work")
	if err != nil {
		return nil, err
	}
	cfg := rt.cfg
	return worker.Start(ctx, rt.store.Driver(), worker.Deps{
		Jobs: job.NewLifecycle(rt.store, rt.storage, rt.log), Storage: rt.storage, Generator: rt.generator, Log: rt.log, WorkDir: dir,
		Backend: queue.Local(cfg.JobTimeout), ResultTTL: cfg.ResultTTL, Heartbeat: time.Second,
	}, worker.Options{
		Concurrency: cfg.Workers, RescueAfter: cfg.JobRescueAfter, SweepEvery: time.Minute,
		PollInterval: 500 * time.Millisecond,
	})
}

// readiness checks each dependency with a short timeout. /ready is public,
// so results are reused for two seconds: polling it cannot become a way to
// spawn ffmpeg and write files in a loop.
func (rt *runtime) readiness(workers bool, degraded func() bool) func(r *http.Request) map[string]string {
	var (
		mu     sync.Mutex
		last   map[string]string
		lastAt time.Time
	)
	return func(r *http.Request) map[string]string {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(lastAt) < 2*time.Second {
			return last
		}
		last, lastAt = rt.checkDependencies(r.Context(), workers), time.Now()
		last["rate_limiter"] = "ok"
		if degraded != nil && degraded() {
			last["rate_limiter"] = "degraded: Redis unreachable, limits hold per replica"
		}
		return last
	}
}

func (rt *runtime) checkDependencies(ctx context.Context, workers bool) map[string]string {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	checks := map[string]string{}
	check := func(name string, err error) {
		checks[name] = "ok"
		if err != nil {
			// The reason goes to the log; /ready is public.
			checks[name] = "unavailable"
			rt.log.WarnContext(ctx, "readiness check failed", "check", name, "error", err)
		}
	}
	check("database", rt.store.Ping(ctx))
	check("queue", rt.store.PingQueue(ctx))
	check("storage", rt.storage.Ping(ctx))
	check("ffmpeg", ffmpeg.Check(ctx, rt.cfg.FFmpeg))
	if workers {
		checks["workers"] = "ok"
	}
	return checks
}

// newLimiter is the rate limiter: in memory, or in Redis (REDIS_URL) with
// each replica falling back to memory while Redis is unreachable. degraded
// reports that state (nil without Redis).
func newLimiter(cfg *config.Config, log *slog.Logger) (ratelimit.Limiter, func() bool, error) {
	if cfg.RedisURL == "" {
		return ratelimit.NewMemory(), nil, nil
	}
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, nil, errors.New("REDIS_URL: cannot be parsed") // the URL may hold a password: not quoted
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond, 300*time.Millisecond
	opts.MaxRetries = -1   // the fallback decides; a retry would only add latency
	opts.DialerRetries = 1 // likewise for connecting
	redis.SetLogger(quietRedis{})
	f := ratelimit.NewFallback(ratelimit.NewRedis(redis.NewClient(opts), "avatar:rl:"), log.With("component", "ratelimit"))
	go f.Watch(context.Background()) // for the life of the process
	return f, f.Degraded, nil
}

// quietRedis drops go-redis's own log lines (plain text on stderr, one per
// failed dial); the fallback logs an outage once, in JSON.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// bootstrapKeys gives a fresh install its first key: the imported API_KEY,
// or a new admin key shown once — on the terminal when stdout is one; else
// (stdout is a log file, a journal, a container's log) written to a file
// only this user can read, whose path is logged, as Jenkins does with its
// first password. The key itself never goes to a log.
func bootstrapKeys(ctx context.Context, keys *apikey.Service, rt *runtime, stdout io.Writer) error {
	cfg := rt.cfg
	created, imported, err := keys.Bootstrap(ctx, cfg.APIKey, cfg.APIKeyCustomer)
	switch {
	case err != nil:
		return fmt.Errorf("creating the first key: %w", err)
	case imported != nil:
		rt.log.Info("imported API_KEY as the first key; it can now be removed from the environment",
			"key_id", imported.ID, "customer", imported.Customer)
	case created != nil && isTerminal(stdout):
		fmt.Fprintf(stdout, "\n"+
			"  This is a new installation. An admin key was created; it is shown ONLY NOW:\n\n"+
			"      %s\n\n"+
			"  It can call every endpoint and manage keys (avatar-api keys --help).\n"+
			"  Create a key per customer with:  avatar-api keys create --customer NAME\n\n", created.Key)
		rt.log.Info("created the first admin key and printed it to the terminal", "key_id", created.Record.ID)
	case created != nil:
		path := filepath.Join(cfg.DataDir, FirstKeyFile)
		if err := writeSecret(path, created.Key+"\n"); err != nil {
			// A key nobody can read is a key to revoke; keys are then made with
			// the CLI, which reaches the database directly.
			if _, rerr := keys.Revoke(ctx, created.Record.ID, "bootstrap"); rerr != nil {
				err = errors.Join(err, rerr)
			}
			return fmt.Errorf("writing the first admin key (it was revoked; make one with: avatar-api keys create --customer ops --scope admin --scope generate): %w", err)
		}
		rt.log.Warn("created the first admin key; it is in this file, readable only by this user: store it, then delete the file",
			"path", path, "key_id", created.Record.ID)
	case cfg.APIKey != "":
		if known, err := keys.Known(ctx, cfg.APIKey); err == nil && !known {
			rt.log.Warn("API_KEY is set but is not among the stored keys, so it is ignored: keys existed before it could be imported; create a key with avatar-api keys create")
		}
	}
	return nil
}

// FirstKeyFile is where the first admin key is written, in DATA_DIR, when
// standard output is not a terminal.
const FirstKeyFile = "first-admin-key"

// writeSecret writes s to a new file at path that only this user can
// read. Whatever was at path (a stale file, a planted symbolic link) is
// removed first, and the new file must be the one created here.
func writeSecret(path, s string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// hasLegacyKey reports whether an imported key of the old format exists,
// which must be looked up although it carries no checksum.
func hasLegacyKey(ctx context.Context, keys *apikey.Service) bool {
	all, err := keys.List(ctx)
	if err != nil {
		return false
	}
	now := time.Now()
	for _, k := range all {
		if k.Active(now) && !strings.HasPrefix(k.Display, apikey.Prefix) {
			return true
		}
	}
	return false
}
