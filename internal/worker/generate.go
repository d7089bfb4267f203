// Package worker runs queued jobs: it takes generation jobs from River,
// drives the generator, stores the video and records the outcome, and runs
// the periodic sweep that expires old videos and settles lost jobs.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"

	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/job"
	"github.com/avatar-api/avatar-api/internal/media"
	"github.com/avatar-api/avatar-api/internal/queue"
	"github.com/avatar-api/avatar-api/internal/storage"
	"github.com/avatar-api/avatar-api/internal/store"
)

// Failure codes a job can end with, besides the generator's input codes.
const (
	CodeGenerationFailed = "generation_failed"
	CodeTimeout          = "timeout"
	CodeWorkerLost       = "worker_lost"
)

// Deps are what the workers need.
type Deps struct {
	Store     store.Store
	Storage   storage.Storage
	Generator generator.Generator
	Log       *slog.Logger
	WorkDir   string        // scratch space for inputs and output
	Timeout   time.Duration // one attempt's limit
	ResultTTL time.Duration
	// Heartbeat is how often a running job records progress and checks for
	// cancellation.
	Heartbeat time.Duration
}

// generateWorker makes the video of one job.
type generateWorker struct {
	river.WorkerDefaults[queue.GenerateArgs]
	deps Deps
}

// Timeout bounds one attempt.
func (w *generateWorker) Timeout(*river.Job[queue.GenerateArgs]) time.Duration { return w.deps.Timeout }

// Work runs one attempt. Its return value tells River what next: nil (done,
// whatever the job's outcome), JobCancel (a permanent failure, recorded),
// JobSnooze (shutting down, try again soon) or an error (retry).
func (w *generateWorker) Work(ctx context.Context, rj *river.Job[queue.GenerateArgs]) error {
	d := w.deps
	log := d.Log.With("job_id", rj.Args.JobID, "attempt", rj.Attempt)
	j, err := d.Store.StartJob(ctx, rj.Args.JobID, rj.Attempt)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if errors.Is(err, store.ErrConflict) {
		// Ended meanwhile (cancelled while its worker was down, say): make
		// sure its inputs go too.
		log.InfoContext(ctx, "job already ended; nothing to do", "state", j.State)
		job.DeleteInputs(ctx, d.Storage, log, j)
		return nil
	}
	if err != nil {
		return fmt.Errorf("starting job: %w", err)
	}
	log.InfoContext(ctx, "generation started")
	start := time.Now()
	res, err := w.generate(ctx, j, log)
	if err == nil {
		log.InfoContext(ctx, "job completed", "seconds", time.Since(start).Seconds(), "bytes", res.Bytes)
		job.DeleteInputs(ctx, d.Storage, log, j)
		return nil
	}
	return w.settle(ctx, rj, j, err, log)
}

// settle records a failed attempt and chooses River's next step.
func (w *generateWorker) settle(ctx context.Context, rj *river.Job[queue.GenerateArgs], j *store.Job, err error, log *slog.Logger) error {
	d := w.deps
	bg := context.WithoutCancel(ctx)
	if cur, gerr := d.Store.GetJob(bg, j.ID); gerr == nil && cur.State == store.StateCancelled {
		err = errCancelled // cancelled through the API; River may have stopped us first
	}
	var ie *generator.InputError
	switch {
	case errors.Is(err, errSuperseded):
		log.WarnContext(ctx, "attempt stopped: another attempt took the job over")
		return nil
	case errors.Is(err, errCancelled):
		log.InfoContext(ctx, "generation stopped: job cancelled")
		job.DeleteInputs(bg, d.Storage, log, j)
		return nil
	case errors.As(err, &ie):
		return w.fail(bg, j, ie.Code, ie.Message, log, err)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return w.fail(bg, j, CodeTimeout, fmt.Sprintf("generation took longer than %s", d.Timeout), log, err)
	case ctx.Err() != nil:
		// The process is shutting down: put the job back for another worker.
		if rerr := d.Store.RequeueJob(bg, j.ID, rj.Attempt); rerr != nil {
			log.ErrorContext(bg, "re-queueing job failed", "error", rerr)
		}
		log.InfoContext(bg, "generation interrupted by shutdown; job re-queued")
		return river.JobSnooze(time.Second)
	case rj.Attempt >= rj.MaxAttempts:
		return w.fail(bg, j, CodeGenerationFailed, "the video could not be generated; the error was logged", log, err)
	}
	log.WarnContext(ctx, "generation attempt failed; will retry", "error", err)
	if rerr := d.Store.RequeueJob(bg, j.ID, rj.Attempt); rerr != nil {
		log.ErrorContext(bg, "re-queueing job failed", "error", rerr)
	}
	return err
}

// fail records the job's failure. msg is what the customer reads: plain
// words, never a tool's output; cause, with ffmpeg's own words, goes to
// the log.
func (w *generateWorker) fail(ctx context.Context, j *store.Job, code, msg string, log *slog.Logger, cause error) error {
	log.WarnContext(ctx, "job failed", "code", code, "error", cause)
	if err := w.deps.Store.FailJob(ctx, j.ID, j.Attempt, code, msg); err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("recording failure: %w", err)
	}
	job.DeleteInputs(ctx, w.deps.Storage, log, j)
	return river.JobCancel(cause)
}

var (
	errCancelled  = errors.New("job cancelled")
	errSuperseded = errors.New("attempt superseded")
)

// generate fetches the inputs, runs the generator while reporting progress,
// and stores the video.
func (w *generateWorker) generate(ctx context.Context, j *store.Job, log *slog.Logger) (store.Result, error) {
	d := w.deps
	dir, err := os.MkdirTemp(d.WorkDir, "job-"+j.ID+"-")
	if err != nil {
		return store.Result{}, fmt.Errorf("creating work directory: %w", err)
	}
	defer os.RemoveAll(dir)
	imagePath := filepath.Join(dir, "image"+filepath.Ext(j.ImageKey))
	audioPath := filepath.Join(dir, "audio"+filepath.Ext(j.AudioKey))
	for key, path := range map[string]string{j.ImageKey: imagePath, j.AudioKey: audioPath} {
		if err := storage.FetchFile(ctx, d.Storage, key, path); err != nil {
			return store.Result{}, err
		}
	}

	gctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var progress atomic.Uint64 // math.Float64bits would do; frames are enough
	var total atomic.Uint64
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		w.heartbeat(gctx, j, &progress, &total, cancel, log)
	}()
	out := filepath.Join(dir, "out.mp4")
	format, ok := media.AudioDemuxer(filepath.Ext(j.AudioKey))
	if !ok {
		return store.Result{}, fmt.Errorf("audio input %q has no known format", j.AudioKey)
	}
	gres, err := d.Generator.Generate(gctx, generator.Request{
		ImagePath: imagePath, AudioPath: audioPath, AudioFormat: format, AudioDuration: j.AudioDuration, Prompt: j.Prompt,
		Width: j.Width, Height: j.Height, FPS: j.FPS, Seed: j.Seed, OutputPath: out, FaceFallback: j.FaceFallback,
	}, func(done, n int) {
		progress.Store(uint64(done))
		total.Store(uint64(n))
	})
	cancel(nil)
	<-hbDone
	if cause := context.Cause(gctx); errors.Is(cause, errCancelled) || errors.Is(cause, errSuperseded) {
		return store.Result{}, cause
	}
	if err != nil {
		return store.Result{}, fmt.Errorf("generating: %w", err)
	}
	// One key per attempt: an attempt wrongly taken for dead that finishes
	// late must not overwrite, nor on its conflict delete, the video of the
	// attempt that replaced it.
	key := fmt.Sprintf("results/%s-%d.mp4", j.ID, j.Attempt)
	if err := storage.PutFile(ctx, d.Storage, key, out, "video/mp4"); err != nil {
		return store.Result{}, err
	}
	r := store.Result{Key: key, Bytes: gres.Size, Duration: gres.Duration, ExpiresAt: time.Now().Add(d.ResultTTL)}
	if err := d.Store.CompleteJob(ctx, j.ID, j.Attempt, r); err != nil {
		_ = d.Storage.Delete(context.WithoutCancel(ctx), key)
		if errors.Is(err, store.ErrConflict) {
			return store.Result{}, errSuperseded // cancelled or taken over in the last moment
		}
		return store.Result{}, fmt.Errorf("recording result: %w", err)
	}
	return r, nil
}

// heartbeat records progress every d.Heartbeat and stops the generation
// when the job is cancelled.
func (w *generateWorker) heartbeat(ctx context.Context, j *store.Job, done, total *atomic.Uint64, cancel context.CancelCauseFunc, log *slog.Logger) {
	t := time.NewTicker(w.deps.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p := 0.0
		if n := total.Load(); n > 0 {
			p = min(float64(done.Load())/float64(n), 0.99)
		}
		st, err := w.deps.Store.SetProgress(ctx, j.ID, j.Attempt, p)
		if errors.Is(err, store.ErrConflict) {
			cancel(errSuperseded)
			return
		}
		if err != nil {
			if ctx.Err() == nil {
				log.WarnContext(ctx, "recording progress failed", "error", err)
			}
			continue
		}
		if st == store.StateCancelled {
			cancel(errCancelled)
			return
		}
	}
}
