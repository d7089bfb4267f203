package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/avatar-api/avatar-api/internal/config"
	"github.com/avatar-api/avatar-api/internal/ffmpeg"
	"github.com/avatar-api/avatar-api/internal/gpu"
	"github.com/avatar-api/avatar-api/internal/metric"
	"github.com/avatar-api/avatar-api/internal/runpod"
	"github.com/avatar-api/avatar-api/internal/runpod/dispatch"
	"github.com/avatar-api/avatar-api/internal/runpod/serverless"
	"github.com/avatar-api/avatar-api/internal/scratch"
	"github.com/avatar-api/avatar-api/internal/stats"
)

// NewRunPodClient is the client of the configured RunPod endpoint (for
// the dispatcher and `avatar-api runpod`).
func NewRunPodClient(cfg *config.Config) (*runpod.Client, error) {
	return runpod.New(runpod.Config{
		APIURL: cfg.RunPodAPIURL, RESTURL: cfg.RunPodRESTURL, EndpointID: cfg.RunPodEndpointID, APIKey: cfg.RunPodAPIKey,
	})
}

// openRunPod builds the RunPod dispatcher, the generator of BACKEND=runpod.
// Its webhook tokens are keyed by SIGNING_SECRET (else DATA_DIR's
// signing.key): replicas that share it take each other's webhooks.
func (a *App) openRunPod() error {
	cfg := a.Config
	client, err := NewRunPodClient(cfg)
	if err != nil {
		return err
	}
	secret, err := signingSecret(cfg)
	if err != nil {
		return err
	}
	webhook := ""
	if cfg.RunPodWebhook {
		webhook = cfg.PublicURL + "/runpod/webhook"
	}
	a.runpod = client
	a.dispatcher = dispatch.New(dispatch.Config{
		API: client, ExecutionTimeout: cfg.RunPodExecutionTimeout, TTL: cfg.RunPodTTL,
		PollInterval: cfg.RunPodPollInterval, WebhookURL: webhook, Secret: secret, Log: a.Log.With("backend", "runpod"),
	})
	a.generator = a.dispatcher
	return nil
}

// warnUnreachable warns of a setting RunPod's workers cannot work with:
// local storage's URLs, and RunPod's webhook, point at PUBLIC_URL, which
// they must reach.
func (a *App) warnUnreachable() {
	cfg := a.Config
	u, err := url.Parse(cfg.PublicURL)
	if err != nil {
		return
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback() && !ip.IsPrivate() && !ip.IsUnspecified()) {
		return
	}
	switch {
	case cfg.Storage == "local":
		a.Log.Warn("BACKEND=runpod with local storage: RunPod's workers fetch the inputs and upload the video at PUBLIC_URL, which they cannot reach at this address; set a public PUBLIC_URL or use S3/R2 storage",
			"public_url", cfg.PublicURL)
	case cfg.RunPodWebhook:
		a.Log.Warn("RunPod cannot reach PUBLIC_URL for its webhook; jobs are followed by polling alone (set RUNPOD_WEBHOOK=false to silence this)",
			"public_url", cfg.PublicURL)
	}
}

// runpodHealth is the endpoint's health as last read, and when the reads
// since have failed, for the metrics and the dashboard.
type runpodHealth struct {
	every time.Duration // RUNPOD_HEALTH_INTERVAL

	mu     sync.Mutex
	last   runpod.Health
	at     time.Time // when last was read; zero: no read has succeeded yet
	failed time.Time // the last failed read since at; zero: none
}

// record notes a read at now: its figures, or its failure.
func (h *runpodHealth) record(got runpod.Health, err error, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.failed = now
		return
	}
	h.last, h.at, h.failed = got, now, time.Time{}
}

// metrics are the last figures read for the scrapes; false before the
// first read.
func (h *runpodHealth) metrics() (metric.RunPodHealth, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.at.IsZero() {
		return metric.RunPodHealth{}, false
	}
	return healthFigures(h.last, h.at), true
}

// dashboard is the last read for the dashboard's panel, with the time of
// a failed read since.
func (h *runpodHealth) dashboard() stats.RunPodHealth {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := stats.RunPodHealth{ReadAt: h.at, FailedAt: h.failed, Interval: h.every}
	if !h.at.IsZero() {
		w, j := h.last.Workers, h.last.Jobs
		out.Workers = stats.RunPodWorkers{Idle: w.Idle, Initializing: w.Initializing, Ready: w.Ready,
			Running: w.Running, Throttled: w.Throttled, Unhealthy: w.Unhealthy}
		out.Queue = stats.RunPodQueue{InQueue: j.InQueue, InProgress: j.InProgress}
	}
	return out
}

// watchRunPod reads the endpoint's health every RUNPOD_HEALTH_INTERVAL
// for the metrics and the dashboard, until Close.
func (a *App) watchRunPod() {
	if a.runpod == nil {
		return
	}
	h := &runpodHealth{every: a.Config.RunPodHealthInterval}
	a.runpodHealth = h
	a.Metrics.SetRunPodSource(h.metrics)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(h.every)
		defer t.Stop()
		for {
			rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			got, err := a.runpod.Health(rctx)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				a.Metrics.RunPodHealthFailed()
				a.Log.Warn("reading RunPod's endpoint health failed", "error", err)
			}
			h.record(got, err, time.Now())
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	a.stops = append(a.stops, func() { stop(); <-done })
}

// healthFigures are RunPod's health counts by state name.
func healthFigures(h runpod.Health, at time.Time) metric.RunPodHealth {
	w, j := h.Workers, h.Jobs
	return metric.RunPodHealth{
		Workers: map[string]int{"idle": w.Idle, "initializing": w.Initializing, "ready": w.Ready,
			"running": w.Running, "throttled": w.Throttled, "unhealthy": w.Unhealthy},
		Jobs: map[string]int{"in_queue": j.InQueue, "in_progress": j.InProgress, "completed": j.Completed,
			"failed": j.Failed, "retried": j.Retried},
		At: at,
	}
}

// NewServerless builds the job handler of `worker --runpod`: GENERATOR's
// generator, a scratch directory under DATA_DIR, GPU readings with
// NVIDIA_SMI where there is a GPU. It opens no database and no storage.
// close removes the scratch directory.
func NewServerless(cfg *config.Config, log *slog.Logger, podID string) (h *serverless.Generate, close func(), err error) {
	for _, tool := range []string{cfg.FFmpeg, cfg.FFprobe} {
		if err := ffmpeg.LookPath(tool); err != nil {
			return nil, nil, fmt.Errorf("%s %w", tool, errNoTool)
		}
	}
	gen, err := NewGenerator(cfg)
	if err != nil {
		return nil, nil, err
	}
	dir, err := scratch.Open(joinData(cfg, "work"), log.With("scratch", "work"))
	if err != nil {
		return nil, nil, fmt.Errorf("creating work directory: %w", err)
	}
	smi := ""
	if gpu.Detect(context.Background(), cfg.NvidiaSMI) {
		smi = cfg.NvidiaSMI
	}
	h = &serverless.Generate{
		Generator: gen, Name: cfg.Generator, PodID: podID, WorkDir: dir.Path,
		NvidiaSMI: smi, SampleEvery: cfg.GPUSampleInterval, Timeout: cfg.JobTimeout,
	}
	return h, func() {
		if err := dir.Close(); err != nil {
			log.Warn("removing scratch directory", "dir", dir.Path, "error", err)
		}
	}, nil
}
