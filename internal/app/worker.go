package app

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/avatar-api/avatar-api/internal/api"
	"github.com/avatar-api/avatar-api/internal/apikey"
	"github.com/avatar-api/avatar-api/internal/auth"
	"github.com/avatar-api/avatar-api/internal/config"
	"github.com/avatar-api/avatar-api/internal/server"
)

// NewWorker builds what `worker` runs: the job workers, running when it
// returns, and a handler of /health (open) and /metrics (an admin key or
// METRICS_TOKEN) for a listener of its own (WORKER_METRICS_ADDR), so that
// a machine running only workers can be scraped. Close releases
// everything.
func NewWorker(ctx context.Context, cfg *config.Config, log *slog.Logger, o Overrides) (a *App, err error) {
	if a, err = open(ctx, cfg, log, o); err != nil {
		return nil, err
	}
	a.startMonitoring(o, nil)
	if _, err := a.Webhooks(); err != nil {
		a.Close()
		return nil, err
	}
	a.viewJobs = a.newJobs(o) // renders the webhooks' jobs
	if err := a.startWorkers(ctx, o); err != nil {
		a.Close()
		return nil, err
	}
	// /metrics needs an admin key or METRICS_TOKEN here too: it tells the
	// fleet's queue and costs, and each scrape asks the database.
	a.Keys = apikey.NewService(a.Store, []byte(cfg.APIKeyPepper))
	a.startAuth(ctx, o)
	a.Handler = api.NewWorker(api.Deps{
		Auth: a.Auth, Throttle: auth.NewThrottle(10, 6*time.Second), Metrics: a.Metrics,
		MetricsToken: cfg.MetricsToken, PublicURL: cfg.PublicURL, Log: log,
	})
	return a, nil
}

// RunWorker runs the workers until ctx ends, serving /health and /metrics
// on ln meanwhile (none when ln is nil), then stops them: running jobs get
// SHUTDOWN_GRACE, then are re-queued. The metrics stay up until then.
func (a *App) RunWorker(ctx context.Context, ln net.Listener) error {
	cfg, log := a.Config, a.Log
	var srv *server.Server
	if ln != nil {
		srv = server.New(ln.Addr().String(), a.Handler, log, a.ServerOptions())
		go func() {
			if err := srv.Serve(ln); err != nil {
				log.Error("worker metrics listener failed", "error", err)
			}
		}()
	}
	log.Info("worker started", "concurrency", cfg.Workers, "metrics_addr", addr(ln))
	<-ctx.Done()
	log.Info("shutting down: running jobs get the grace period", "grace", cfg.ShutdownGrace.String())
	err := a.StopWorkers(cfg.ShutdownGrace)
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}
	return err
}

func addr(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}
