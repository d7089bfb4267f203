// Package worker runs queued jobs: it takes generation jobs from River,
// drives the generator, stores the video and records the outcome, and runs
// the periodic sweep that expires old videos and settles lost jobs.
package worker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/riverqueue/river"

	"github.com/avatar-api/avatar-api/internal/ffmpeg"
	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/gpu"
	"github.com/avatar-api/avatar-api/internal/job"
	"github.com/avatar-api/avatar-api/internal/media"
	"github.com/avatar-api/avatar-api/internal/queue"
	"github.com/avatar-api/avatar-api/internal/refusal"
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
	Jobs      *job.Lifecycle // every transition of a job goes through it
	Storage   storage.Storage
	Generator generator.Generator
	Log       *slog.Logger
	WorkDir   string // scratch space for inputs and output
	// Backend is the one these workers generate for: they take the jobs
	// of its queue only, and give each attempt its Timeout. Zero: the
	// local backend (with River's default limit of a minute).
	Backend   queue.Backend
	ResultTTL time.Duration
	// Heartbeat is how often a running job records progress and checks for
	// cancellation.
	Heartbeat time.Duration
	// AfterStart, when set (by tests only), runs between a job's start and
	// its generation: the window in which a cancel or a shutdown used to be
	// lost.
	AfterStart func(ctx context.Context, jobID string)
	// Name names this process's workers on the jobs they run, in their
	// rollups and GPU readings ("host:pid").
	Name string
	// Meter, if not nil, is told when each generation begins and ends:
	// the workers' busy time.
	Meter Meter
	// Videos checks a video a generator made elsewhere and uploaded
	// (H.264 and AAC, as long as the audio) before it is accepted.
	// Required when the generator may upload (Result.Uploaded).
	Videos VideoChecker
	// Readings, if set, records the GPU readings a generator running
	// elsewhere brought back (RunPod's worker), under that machine's name.
	Readings func(ctx context.Context, worker string, samples []gpu.Sample) error
	// Deferred, if set, is told each time a job's run is put off because
	// a dependency is down (avatar_jobs_deferred_total).
	Deferred func()
}

// VideoChecker checks a made video (media.Prober).
type VideoChecker interface {
	CheckVideo(ctx context.Context, path string, want media.VideoWant) (media.VideoFacts, error)
}

// Meter learns when the workers are busy.
type Meter interface {
	RunStarted()
	RunEnded()
}

// generateWorker makes the video of one job.
type generateWorker struct {
	river.WorkerDefaults[queue.GenerateArgs]
	deps   Deps
	outage outage
}

// Timeout bounds one attempt.
func (w *generateWorker) Timeout(*river.Job[queue.GenerateArgs]) time.Duration {
	return w.deps.Backend.Timeout
}

// Work runs one attempt. Once the job is started, every way the attempt
// can end goes through settle. Its return value tells River what next: nil
// (done, whatever the job's outcome), JobCancel (a permanent end,
// recorded), JobSnooze (shutting down, try again soon) or an error (retry).
func (w *generateWorker) Work(ctx context.Context, rj *river.Job[queue.GenerateArgs]) error {
	d := w.deps
	if d.Meter != nil {
		d.Meter.RunStarted()
		defer d.Meter.RunEnded()
	}
	log := d.Log.With("job_id", rj.Args.JobID, "attempt", rj.Attempt)
	if wait, down := w.waiting(ctx); down {
		// A dependency this process found down is down still: the job
		// waits in the queue, its row untouched.
		w.deferred()
		return river.JobSnooze(wait)
	}
	j, err := d.Jobs.Start(ctx, rj.Args.JobID, rj.Attempt, d.Name)
	switch {
	case errors.Is(err, job.ErrNotFound):
		return nil
	case errors.Is(err, store.ErrConflict):
		log.InfoContext(ctx, "job already ended; nothing to do", "state", j.State)
		return nil
	case err != nil && time.Since(rj.CreatedAt) < outageWait:
		// The database is unavailable: not started, so nothing to settle,
		// and not the job's fault, so no attempt is used up.
		log.WarnContext(ctx, "starting the job failed; will try again", "error", err)
		w.deferred()
		return river.JobSnooze(w.outage.hit())
	case err != nil:
		return err // not started: nothing to settle
	}
	log.InfoContext(ctx, "generation started")
	if d.AfterStart != nil {
		d.AfterStart(ctx, j.ID)
	}
	start := time.Now()
	res, err := w.generate(ctx, j, log)
	if err == nil {
		w.outage.clear()
		log.InfoContext(ctx, "job completed", "seconds", time.Since(start).Seconds(), "bytes", res.Bytes)
		return nil
	}
	return w.settle(ctx, rj, j, err, log)
}

// settle ends an attempt that did not complete, and chooses River's next
// step. A cancellation is known from the context's cause (River's remote
// cancel, or our heartbeat seeing the job cancelled), never by reading the
// job again.
func (w *generateWorker) settle(ctx context.Context, rj *river.Job[queue.GenerateArgs], j *store.Job, err error, log *slog.Logger) error {
	d := w.deps
	bg := context.WithoutCancel(ctx)
	var ie *refusal.Error
	var gf *generator.Failure
	errors.As(err, &gf)
	switch {
	case errors.Is(err, errSuperseded):
		log.WarnContext(ctx, "attempt stopped: another attempt took the job over")
		return nil
	case errors.Is(err, errCancelled), errors.Is(context.Cause(ctx), river.ErrJobCancelledRemotely):
		return w.cancelled(ctx, log)
	case ctx.Err() == nil && unavailable(err) && time.Now().Before(waitUntil(j)):
		// A dependency is down (storage, the database, the disk, ffmpeg
		// itself), not anything about this job: the attempt is given
		// back without being counted, and the job waits for the
		// dependency to return (River's snooze uses up no attempt) —
		// until waitUntil, after which its failures count as any other.
		// Nor is the run billed to the customer, unless a backend
		// elsewhere billed it.
		billed := new(time.Duration)
		if gf != nil && gf.Billed != nil {
			billed = gf.Billed
		}
		if next, gone := w.requeue(bg, j, rj.Attempt, billed, log); gone {
			return next
		}
		wait := w.outage.hit()
		log.WarnContext(ctx, "generation waits for a dependency; job re-queued without using an attempt", "error", err, "retry_in", wait)
		w.deferred()
		return river.JobSnooze(wait)
	case gf != nil && (!gf.Retryable || rj.Attempt >= rj.MaxAttempts):
		return w.fail(bg, j, gf.Code, gf.Message, gf.Billed, log, err)
	case gf == nil && errors.As(err, &ie): // a Failure may wrap a refusal (a video refused), and says itself whether it is final
		return w.fail(bg, j, ie.Code, ie.Message, nil, log, err)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return w.fail(bg, j, CodeTimeout, fmt.Sprintf("generation took longer than %s", d.Backend.Timeout), nil, log, err)
	case ctx.Err() != nil:
		// The process is shutting down: put the job back for another
		// worker, without using up an attempt.
		// (A run elsewhere goes on, for the next attempt to follow: the
		// store bills a run recorded at another service only what that
		// service reports, so nothing is billed for it here.)
		if next, gone := w.requeue(bg, j, rj.Attempt, nil, log); gone {
			return next
		}
		log.InfoContext(bg, "generation interrupted by shutdown; job re-queued")
		return river.JobSnooze(time.Second)
	case rj.Attempt >= rj.MaxAttempts:
		return w.fail(bg, j, CodeGenerationFailed, "the video could not be generated; the error was logged", nil, log, err)
	}
	log.WarnContext(ctx, "generation attempt failed; will retry", "error", err)
	var billed *time.Duration
	if gf != nil {
		billed = gf.Billed
	}
	if next, gone := w.requeue(bg, j, rj.Attempt, billed, log); gone {
		return next
	}
	return err
}

// requeue gives the job back. When the job turns out no longer to be this
// attempt's — cancelled while the attempt failed, or taken over — gone is
// true and next is what River must be told instead.
func (w *generateWorker) requeue(ctx context.Context, j *store.Job, attempt int, billed *time.Duration, log *slog.Logger) (next error, gone bool) {
	cur, err := w.deps.Jobs.Requeue(ctx, j, attempt, billed)
	switch {
	case err == nil:
		return nil, false
	case errors.Is(err, store.ErrConflict) && cur != nil && cur.State == store.StateCancelled:
		return w.cancelled(ctx, log), true
	case errors.Is(err, store.ErrConflict):
		log.WarnContext(ctx, "attempt stopped: the job is no longer this attempt's", "state", cur.State)
		return nil, true
	}
	log.ErrorContext(ctx, "re-queueing job failed", "error", err)
	return nil, false
}

// cancelled ends an attempt whose job was cancelled. The Cancel transition
// deleted the inputs; the attempt's own files go with its work directory.
func (w *generateWorker) cancelled(ctx context.Context, log *slog.Logger) error {
	log.InfoContext(ctx, "generation stopped: job cancelled")
	return river.JobCancel(errCancelled)
}

// fail records the job's failure. msg is what the customer reads: plain
// words, never a tool's output; cause, with ffmpeg's own words, goes to
// the log. billed is what the backend billed for the run, if it says.
func (w *generateWorker) fail(ctx context.Context, j *store.Job, code, msg string, billed *time.Duration, log *slog.Logger, cause error) error {
	log.WarnContext(ctx, "job failed", "code", code, "error", cause)
	if err := w.deps.Jobs.Fail(ctx, j, j.Attempt, code, msg, billed); err != nil {
		return fmt.Errorf("recording failure: %w", err)
	}
	return river.JobCancel(cause)
}

var (
	errCancelled  = errors.New("job cancelled")
	errSuperseded = fmt.Errorf("attempt superseded: %w", generator.ErrSuperseded)
)

// outageRetry is how soon a job put off by an unavailable dependency is
// tried again, at first; each further outage doubles it, up to
// outageRetryMax, until a job completes.
const (
	outageRetry    = 5 * time.Second
	outageRetryMax = 2 * time.Minute
)

// outage is what this process knows of a dependency being down: how
// many times in a row a job was put off for it. While it lasts, a job due to start first checks the
// dependencies (storage's Ping) and, if they still fail, goes back to the
// queue without its row being touched.
type outage struct {
	mu sync.Mutex
	n  int // outages in a row; 0: none known
}

// hit records one more outage and returns how long the job that met it
// should wait.
func (o *outage) hit() time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	wait := outageRetry << min(o.n, 5)
	wait = min(wait, outageRetryMax)
	o.n++
	return wait
}

// down reports whether an outage is known.
func (o *outage) down() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n > 0
}

func (o *outage) clear() {
	o.mu.Lock()
	o.n = 0
	o.mu.Unlock()
}

// waiting reports whether a job due to start must wait still, and how
// long: a dependency was found down and storage still fails its check.
// A check that passes ends the outage as far as starting goes (an
// outage storage's check cannot see — ffmpeg missing — is met again by
// the job itself).
func (w *generateWorker) waiting(ctx context.Context) (time.Duration, bool) {
	if !w.outage.down() {
		return 0, false
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := w.deps.Storage.Ping(pctx); err != nil && ctx.Err() == nil {
		return w.outage.hit(), true
	}
	return 0, false
}

func (w *generateWorker) deferred() {
	if w.deps.Deferred != nil {
		w.deps.Deferred()
	}
}

// outageWait bounds how long a job may wait for a dependency without using
// up attempts, from its creation, when it has no queue deadline.
const outageWait = 24 * time.Hour

// unavailable reports whether an attempt failed because a dependency is
// unavailable — storage unreachable, read-only or full, the database down,
// the work directory's disk full, ffmpeg missing — rather than for
// anything about the job's own inputs or video.
func unavailable(err error) bool {
	return errors.Is(err, job.ErrUnavailable) || errors.Is(err, ffmpeg.ErrNotStarted) ||
		errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EDQUOT)
}

// waitUntil is when a job stops waiting for dependencies without cost: its
// queue deadline (the customer's bound on its wait), else a day after it
// was made. Past it, a dependency's failure uses up an attempt, so a job
// whose dependency never returns still ends, failed with its reason.
func waitUntil(j *store.Job) time.Time {
	if j.QueueDeadline != nil {
		return *j.QueueDeadline
	}
	return j.CreatedAt.Add(outageWait)
}

// storageDown marks err, a failure of storage itself (not a missing
// object, nor the local file being stored), as a dependency's outage.
func storageDown(err error, localPath string) error {
	var pe *os.PathError
	if err == nil || errors.Is(err, storage.ErrNotFound) || (errors.As(err, &pe) && pe.Path == localPath) {
		return err
	}
	return fmt.Errorf("%w: %w", job.ErrUnavailable, err)
}

// generate fetches the inputs, runs the generator while reporting progress,
// and stores the video.
func (w *generateWorker) generate(ctx context.Context, j *store.Job, log *slog.Logger) (store.Result, error) {
	d := w.deps
	dir, err := os.MkdirTemp(d.WorkDir, "job-"+j.ID+"-")
	if err != nil {
		return store.Result{}, fmt.Errorf("%w: creating work directory: %w", job.ErrUnavailable, err)
	}
	defer os.RemoveAll(dir)
	var imagePath, audioPath string
	if !w.elsewhere() {
		imagePath = filepath.Join(dir, "image"+filepath.Ext(j.ImageKey))
		audioPath = filepath.Join(dir, "audio"+filepath.Ext(j.AudioKey))
		for key, path := range map[string]string{j.ImageKey: imagePath, j.AudioKey: audioPath} {
			if err := storage.FetchFile(ctx, d.Storage, key, path); err != nil {
				return store.Result{}, storageDown(err, "")
			}
		}
	}

	req, err := w.request(ctx, j, imagePath, audioPath, filepath.Join(dir, "out.mp4"))
	if err != nil {
		return store.Result{}, err
	}
	req.Remote.Previous = generator.Run{ID: j.RemoteID, Output: j.RemoteOutput, Delay: j.RemoteDelay}
	req.Remote.Record = func(ctx context.Context, run generator.Run) error {
		err := d.Jobs.SetRemote(ctx, j, j.Attempt, run.ID, run.Output, run.Delay)
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
		// No longer this attempt's: ended (cancelled, say), whose run must
		// stop, or taken over, whose run is the successor's to follow.
		// Progress tells which, writing nothing.
		if st, perr := d.Jobs.Progress(ctx, j, j.Attempt, 0); perr == nil && st.Final() {
			return errCancelled
		}
		return errSuperseded
	}

	gctx, cancel := generation(ctx)
	defer cancel(nil)
	var progress atomic.Uint64 // math.Float64bits would do; frames are enough
	var total atomic.Uint64
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		w.heartbeat(gctx, j, &progress, &total, cancel, log)
	}()
	gres, err := d.Generator.Generate(gctx, req, func(done, n int) {
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
	key := resultKey(j)
	size, err := w.storeVideo(ctx, j, req, gres, dir, key, &gres.Duration)
	if err != nil && gres.Uploaded && ctx.Err() == nil {
		// The run's video was used up (refused, or lost in storing it):
		// the next attempt must start a run of its own, not follow this
		// one again.
		if cerr := d.Jobs.SetRemote(context.WithoutCancel(ctx), j, j.Attempt, "", "", 0); cerr != nil && !errors.Is(cerr, store.ErrConflict) {
			log.WarnContext(ctx, "forgetting the used RunPod run failed", "error", cerr)
		}
	}
	if err != nil {
		if gres.Billed != nil {
			var gf *generator.Failure
			if errors.As(err, &gf) {
				gf.Billed = gres.Billed
			} else {
				err = &generator.Failure{Code: CodeGenerationFailed, Message: "the video could not be stored; the error was logged",
					Retryable: true, Billed: gres.Billed, Err: err}
			}
		}
		return store.Result{}, err
	}
	if len(gres.GPU) > 0 && d.Readings != nil {
		if err := d.Readings(ctx, gres.Worker, gres.GPU); err != nil {
			log.WarnContext(ctx, "recording the GPU worker's readings failed", "error", err)
		}
	}
	r := store.Result{Key: key, Bytes: size, Duration: gres.Duration, ExpiresAt: time.Now().Add(d.ResultTTL), TTL: d.ResultTTL}
	if err := d.Jobs.Complete(context.WithoutCancel(ctx), j, j.Attempt, r, gres.Billed); err != nil {
		_ = d.Storage.Delete(context.WithoutCancel(ctx), key)
		if errors.Is(err, store.ErrConflict) {
			return store.Result{}, errSuperseded // cancelled or taken over in the last moment
		}
		return store.Result{}, fmt.Errorf("%w: recording result: %w", job.ErrUnavailable, err)
	}
	return r, nil
}

// elsewhere reports whether the generator runs on another service, and so
// needs no local copies of the inputs but their sizes and URLs.
func (w *generateWorker) elsewhere() bool {
	e, ok := w.deps.Generator.(generator.Elsewhere)
	return ok && e.Elsewhere()
}

// generation is the context a generator runs under: River's attempt
// context, with its deadline, but with causes a generator running
// elsewhere can act on. River stopping this process (a shutdown) becomes
// generator.ErrShutdown, so that such a generator leaves its run going
// for the next attempt; River cancelling the job becomes errCancelled.
func generation(ctx context.Context) (context.Context, context.CancelCauseFunc) {
	base := context.WithoutCancel(ctx)
	var stopDeadline context.CancelFunc = func() {}
	if dl, ok := ctx.Deadline(); ok {
		base, stopDeadline = context.WithDeadline(base, dl)
	}
	gctx, cancel := context.WithCancelCause(base)
	stop := context.AfterFunc(ctx, func() {
		switch cause := context.Cause(ctx); {
		case errors.Is(cause, river.ErrJobCancelledRemotely):
			cancel(errCancelled)
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			cancel(context.DeadlineExceeded)
		default:
			cancel(fmt.Errorf("%w: %w", generator.ErrShutdown, cause))
		}
	})
	return gctx, func(cause error) {
		stop()
		cancel(cause)
		stopDeadline()
	}
}

// request is the generator's request for j: the local copies of its
// inputs and the output's path, and for a generator running elsewhere the
// same files in storage, signed until the attempt's deadline: GET URLs for
// the inputs, a PUT URL bounded by maxVideoBytes for the video.
func (w *generateWorker) request(ctx context.Context, j *store.Job, imagePath, audioPath, out string) (generator.Request, error) {
	format, ok := media.AudioDemuxer(filepath.Ext(j.AudioKey))
	if !ok {
		return generator.Request{}, fmt.Errorf("audio input %q has no known format", j.AudioKey)
	}
	req := generator.Request{
		ImagePath: imagePath, AudioPath: audioPath, AudioFormat: format, AudioDuration: j.AudioDuration, Prompt: j.Prompt,
		Width: j.Width, Height: j.Height, FPS: j.FPS, Seed: j.Seed, OutputPath: out, FaceFallback: j.FaceFallback,
		Remote: generator.Remote{
			Image: generator.Object{Key: j.ImageKey}, Audio: generator.Object{Key: j.AudioKey},
			// One staging key per run (River may give two runs the same
			// attempt number after a shutdown): a run taken for dead that
			// uploads late cannot write where another run's video is.
			Output: generator.Object{Key: fmt.Sprintf("staging/%s-%d-%s.mp4", j.ID, j.Attempt, rand.Text()[:12])},
		},
	}
	expires, ok := ctx.Deadline()
	if !ok { // an attempt without a time limit
		expires = time.Now().Add(24 * time.Hour)
	}
	req.Remote.JobID, req.Remote.Attempt = j.ID, j.Attempt
	for _, in := range []*generator.Object{&req.Remote.Image, &req.Remote.Audio} {
		url, err := w.deps.Storage.URL(ctx, in.Key, expires, "")
		if err != nil {
			return generator.Request{}, fmt.Errorf("signing the input's URL: %w", err)
		}
		in.URL, in.Expires = url, expires
		if !w.elsewhere() {
			continue // its size is for a generator that fetches it by URL
		}
		if in.MaxBytes, err = w.deps.Storage.Size(ctx, in.Key); err != nil {
			return generator.Request{}, fmt.Errorf("measuring the input: %w", err)
		}
	}
	video := &req.Remote.Output
	video.MaxBytes = maxVideoBytes(j)
	url, err := w.deps.Storage.UploadURL(ctx, video.Key, expires, video.MaxBytes)
	if err != nil {
		return generator.Request{}, fmt.Errorf("signing the video's upload URL: %w", err)
	}
	video.URL, video.Expires = url, expires
	return req, nil
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
		st, err := w.deps.Jobs.Progress(ctx, j, j.Attempt, p)
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
