package cli

import (
	"context"
	"io"
	"net"

	"github.com/avatar-api/avatar-api/internal/app"
	"github.com/avatar-api/avatar-api/internal/server"
)

// runWorker runs job workers only, and serves /health and /metrics at
// WORKER_METRICS_ADDR when it is set.
func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if err := noFlags("worker", args, stderr); err != nil {
		return err
	}
	cfg, log, err := loadConfig(stderr)
	if err != nil {
		return err
	}
	var ln net.Listener
	if cfg.WorkerMetricsAddr != "" {
		if ln, err = server.Listen(cfg.WorkerMetricsAddr); err != nil {
			return err
		}
	}
	a, err := app.NewWorker(ctx, cfg, log, app.Overrides{})
	if err != nil {
		if ln != nil {
			ln.Close()
		}
		return err
	}
	defer a.Close()
	return a.RunWorker(ctx, ln)
}
