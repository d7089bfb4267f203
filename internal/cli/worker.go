package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/avatar-api/avatar-api/internal/app"
	"github.com/avatar-api/avatar-api/internal/runpod/serverless"
	"github.com/avatar-api/avatar-api/internal/server"
)

const workerUsage = `Usage: avatar-api worker [--runpod [--test-input FILE]]

Without flags: job workers only, taking jobs from the shared queue (the
database of DATABASE_URL), serving /health and /metrics at
WORKER_METRICS_ADDR when it is set.

--runpod: a RunPod serverless worker, the command of the worker image. It
takes jobs from RunPod (RUNPOD_WEBHOOK_GET_JOB and the other variables
RunPod gives its containers), makes each video with GENERATOR, and PUTs it
to the signed URL the job carries. It needs no database and no storage
credentials. See docs/runpod.md.

--test-input FILE (with --runpod): run the one job in FILE ({"input": …})
here, without RunPod, and print its result as JSON, as RunPod's SDK does
with --test_input: to check an image before deploying it.

Configured by environment variables; see docs/configuration.md.`

// runWorker runs job workers only, or, with --runpod, RunPod's worker.
func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, workerUsage) }
	onRunPod := fs.Bool("runpod", false, "speak RunPod's serverless worker protocol")
	testInput := fs.String("test-input", "", "with --runpod: run the job in this JSON file locally and print its result")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *testInput != "" && !*onRunPod {
		return errors.New("--test-input needs --runpod")
	}
	cfg, log, err := loadConfig(stderr)
	if err != nil {
		return err
	}
	if *onRunPod {
		handler, closeHandler, err := app.NewServerless(cfg, log, os.Getenv("RUNPOD_POD_ID"))
		if err != nil {
			return err
		}
		defer closeHandler()
		if *testInput != "" {
			return serverless.RunTestInput(ctx, *testInput, handler, stdout)
		}
		env, err := serverless.EnvFrom(os.Getenv)
		if err != nil {
			return fmt.Errorf("not in a RunPod container (use --test-input FILE to run a job here): %w", err)
		}
		w := &serverless.Worker{Env: env, Handler: handler, Log: log.With("component", "runpod-worker"), Grace: cfg.ShutdownGrace}
		log.Info("RunPod worker started", "generator", cfg.Generator, "pod", env.PodID)
		return w.Run(ctx)
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
