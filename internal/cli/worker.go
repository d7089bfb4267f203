package cli

import (
	"context"
	"io"
)

func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if err := noFlags("worker", args, stderr); err != nil {
		return err
	}
	rt, err := openRuntime(ctx, stderr)
	if err != nil {
		return err
	}
	defer rt.close()
	runner, err := rt.startWorkers(ctx)
	if err != nil {
		return err
	}
	rt.log.Info("worker started", "concurrency", rt.cfg.Workers)
	<-ctx.Done()
	rt.log.Info("shutting down: running jobs get the grace period", "grace", rt.cfg.ShutdownGrace.String())
	return runner.Stop(context.Background(), rt.cfg.ShutdownGrace)
}
