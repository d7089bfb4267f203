package app

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/avatar-api/avatar-api/internal/ffmpeg"
	"github.com/avatar-api/avatar-api/internal/server"
)

// Serve serves the API on ln until ctx ends, then shuts down: HTTP and
// workers stop together, on one budget — requests in flight and running
// jobs both get SHUTDOWN_GRACE; then uploads still going are cut off and
// running jobs are stopped and re-queued (at most 15 s more).
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	cfg, log := a.Config, a.Log
	srv := server.New(ln.Addr().String(), a.Handler, log, a.ServerOptions())
	tls := cfg.TLSCertFile != ""
	log.Info("serving", "addr", ln.Addr().String(), "tls", tls, "public_url", cfg.PublicURL, "embedded_workers", a.Workers(),
		"database", map[bool]string{true: "postgres", false: "sqlite"}[cfg.DatabaseURL != ""], "storage", cfg.Storage)
	errc := make(chan error, 1)
	go func() {
		if tls {
			errc <- srv.ServeTLS(ln, cfg.TLSCertFile, cfg.TLSKeyFile)
			return
		}
		errc <- srv.Serve(ln)
	}()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		log.Info("shutting down: no new requests; running jobs get the grace period", "grace", cfg.ShutdownGrace.String())
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		sctx, cancel := context.WithTimeout(context.Background(), max(cfg.ShutdownGrace, time.Second))
		defer cancel()
		if serr := srv.Shutdown(sctx); serr != nil {
			log.Warn("HTTP requests still running at the end of the grace period were cut off", "error", serr)
			_ = srv.Close()
		}
	})
	if serr := a.StopWorkers(cfg.ShutdownGrace); serr != nil {
		err = errors.Join(err, serr)
	}
	wg.Wait()
	log.Info("stopped")
	return err
}

// ServerOptions are the settings of the HTTP middleware (server.Wrap):
// the trusted proxies, and whether clients reach the service over HTTPS
// (PUBLIC_URL), so that every answer carries Strict-Transport-Security.
func (a *App) ServerOptions() server.Options {
	return server.Options{
		Proxies: a.Config.TrustedProxies,
		HTTPS:   strings.HasPrefix(a.Config.PublicURL, "https://"),
	}
}

// readiness checks each dependency with a short timeout. /ready is public,
// so results are reused for two seconds: polling it cannot become a way to
// spawn ffmpeg and write files in a loop.
func (a *App) readiness(degraded func() bool) func(r *http.Request) map[string]string {
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
		last, lastAt = a.checkDependencies(r.Context()), time.Now()
		last["alerts"] = a.alertReadiness(r.Context())
		last["rate_limiter"] = "ok"
		if degraded != nil && degraded() {
			last["rate_limiter"] = "degraded: Redis unreachable, limits hold per replica"
		}
		return last
	}
}

// checkDependencies runs the checks at once, each within its own 3 s: a
// slow one (a cold ffmpeg on a busy machine) cannot use up the others'
// time, and /ready answers within about 3 s whatever hangs.
func (a *App) checkDependencies(ctx context.Context) map[string]string {
	probes := map[string]func(context.Context) error{
		"database": a.Store.Ping,
		"queue":    a.Store.PingQueue,
		"storage":  a.Storage.Ping,
		"ffmpeg":   func(ctx context.Context) error { return ffmpeg.Check(ctx, a.Config.FFmpeg) },
	}
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		checks = map[string]string{}
	)
	for name, probe := range probes {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			status := "ok"
			if err := probe(pctx); err != nil {
				// The reason goes to the log; /ready is public.
				status = "unavailable"
				a.Log.WarnContext(ctx, "readiness check failed", "check", name, "error", err)
			}
			mu.Lock()
			checks[name] = status
			mu.Unlock()
		})
	}
	wg.Wait()
	if a.Workers() {
		checks["workers"] = "ok"
	}
	return checks
}
