// Package dispatch is the RunPod backend of our job service: a
// generator.Generator that, for one attempt of one job, sends the
// generation to a RunPod serverless endpoint (POST /run, whose worker is
// `avatar-api worker --runpod`) and follows it to its end, by RunPod's
// webhook when it arrives and by polling /status always, since RunPod
// retries a webhook only twice and keeps /run results for 30 minutes
// (docs.runpod.io, serverless/endpoints/send-requests and job-operations).
//
// The queue stays ours: River hands the attempt to a worker of this
// binary, which runs this generator. So every guarantee of the local
// backend holds for RunPod jobs: the attempt is fenced (a run recorded by
// an attempt that lost the job is cancelled at RunPod), a customer's cancel
// cancels the RunPod job, a timeout fails the job, and nothing accepted is
// lost: if this process dies or shuts down, the next attempt finds the
// run recorded on the job (generator.Remote.Previous) and follows it to
// its end rather than paying for another.
package dispatch

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/generator/face"
	"github.com/avatar-api/avatar-api/internal/gpu"
	"github.com/avatar-api/avatar-api/internal/media"
	"github.com/avatar-api/avatar-api/internal/refusal"
	"github.com/avatar-api/avatar-api/internal/runpod"
)

// Failure codes of a RunPod job, besides the worker's own
// (runpod.Code…) and the input refusals it reports.
const (
	// CodeRemoteLost: RunPod no longer knows the job (404: its ttl or
	// its result's retention passed while nobody followed it).
	CodeRemoteLost = "backend_job_lost"
	// CodeRemoteCancelled: the job was cancelled at RunPod, not by us
	// (from RunPod's console, say).
	CodeRemoteCancelled = "backend_cancelled"
	// CodeTimeout: RunPod stopped the job (TIMED_OUT): it ran past the
	// execution timeout, or waited in RunPod's queue past its ttl.
	CodeTimeout = "timeout"
	// CodeBadOutput: the worker reported success with an output that is
	// not ours (a worker image of another release).
	CodeBadOutput = "backend_bad_output"
)

// API is what the dispatcher asks of RunPod (runpod.Client).
type API interface {
	Run(ctx context.Context, r runpod.RunRequest) (runpod.Job, error)
	Status(ctx context.Context, id string) (runpod.Job, error)
	Cancel(ctx context.Context, id string) (runpod.Job, error)
}

// Config is the dispatcher's settings.
type Config struct {
	API API
	// ExecutionTimeout and TTL are RunPod's policy for each job:
	// the longest run on a worker, and the longest life at RunPod.
	ExecutionTimeout time.Duration
	TTL              time.Duration
	// PollInterval is how often a job's status is asked.
	PollInterval time.Duration
	// WebhookURL, when set, is the base URL (PUBLIC_URL/runpod/webhook)
	// RunPod calls when a job ends; each job's gets its id and token.
	WebhookURL string
	// Secret keys the webhook tokens (SIGNING_SECRET).
	Secret []byte
	Log    *slog.Logger
}

// Dispatcher sends generations to RunPod and follows them.
type Dispatcher struct {
	cfg Config
	mu  sync.Mutex
	// waiting are the jobs this process follows, by our job id: a valid
	// webhook wakes its follower, which then asks RunPod itself (the
	// webhook is unsigned: its body is not trusted).
	waiting map[string]chan struct{}
}

// New returns a dispatcher.
func New(cfg Config) *Dispatcher {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{cfg: cfg, waiting: map[string]chan struct{}{}}
}

// Elsewhere tells the worker to fetch no local copies of the inputs.
func (d *Dispatcher) Elsewhere() bool { return true }

// Token is the webhook token of our job id: unguessable without the
// secret, checkable by any replica.
func Token(secret []byte, jobID string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("runpod-webhook\x00" + jobID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Poke is RunPod's webhook for our job jobID, with token: when the token
// is right it wakes the job's follower, if this process has it, and
// reports true (the webhook is accepted, wherever its follower is: the
// others poll).
func (d *Dispatcher) Poke(jobID, token string) bool {
	if !hmac.Equal([]byte(token), []byte(Token(d.cfg.Secret, jobID))) {
		return false
	}
	d.mu.Lock()
	ch := d.waiting[jobID]
	d.mu.Unlock()
	if ch != nil {
		select {
		case ch <- struct{}{}:
		default: // already poked
		}
	}
	return true
}

// StopRun cancels a run at RunPod (job.RunStopper): a job ended while no
// attempt followed it. A run RunPod no longer knows is stopped already.
func (d *Dispatcher) StopRun(ctx context.Context, id string) error {
	_, err := d.cfg.API.Cancel(ctx, id)
	if errors.Is(err, runpod.ErrNotFound) {
		return nil
	}
	return err
}

// follow registers jobID's follower; done unregisters it.
func (d *Dispatcher) follow(jobID string) (poked <-chan struct{}, done func()) {
	ch := make(chan struct{}, 1)
	d.mu.Lock()
	d.waiting[jobID] = ch
	d.mu.Unlock()
	return ch, func() {
		d.mu.Lock()
		if d.waiting[jobID] == ch {
			delete(d.waiting, jobID)
		}
		d.mu.Unlock()
	}
}

// Generate runs one attempt's generation at RunPod.
func (d *Dispatcher) Generate(ctx context.Context, req generator.Request, progress generator.ProgressFunc) (generator.Result, error) {
	jobID := req.Remote.JobID
	log := d.cfg.Log.With("job_id", jobID)
	poked, done := d.follow(jobID)
	defer done()

	run, err := d.adopt(ctx, req, log)
	if err != nil {
		return generator.Result{}, err
	}
	var sent time.Time // zero for an adopted run: when it was sent is not known
	if run.ID == "" {
		sent = time.Now()
		if run, err = d.submit(ctx, req); err != nil {
			return generator.Result{}, err
		}
		log.InfoContext(ctx, "sent to RunPod", "runpod_id", run.ID)
	}
	if err := d.record(ctx, req, run); err != nil {
		return generator.Result{}, d.stop(ctx, run, err, log)
	}
	return d.wait(ctx, req, run, sent, poked, progress, log)
}

// retryAfter is how long to wait before asking RunPod again after err, and
// whether asking again may help: RunPod refusing for now (429, 5xx) or
// unreachable. The client has retried already; this wait is the attempt's
// own, up to its deadline, so that an outage of RunPod does not use up the
// job's attempts.
func retryAfter(err error, n int) (time.Duration, bool) {
	var ae *runpod.APIError
	if errors.As(err, &ae) && !ae.Temporary() {
		return 0, false
	}
	return min(time.Duration(1<<min(n, 6))*time.Second, time.Minute), true
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// adopt returns the run of an earlier attempt to follow, if there is one
// RunPod still has in hand or finished well; a run that ended otherwise
// is left (RunPod billed it; nothing of it is used) and a new one starts.
func (d *Dispatcher) adopt(ctx context.Context, req generator.Request, log *slog.Logger) (generator.Run, error) {
	prev := req.Remote.Previous
	if prev.ID == "" {
		return generator.Run{}, nil
	}
	j, err := d.cfg.API.Status(ctx, prev.ID)
	for n := 0; err != nil && !errors.Is(err, runpod.ErrNotFound); n++ {
		wait, ok := retryAfter(err, n)
		if !ok || ctx.Err() != nil {
			return generator.Run{}, fmt.Errorf("asking RunPod about the earlier run: %w", err)
		}
		log.WarnContext(ctx, "asking RunPod about the earlier run failed; will ask again", "runpod_id", prev.ID, "error", err)
		if err := pause(ctx, wait); err != nil {
			return generator.Run{}, err
		}
		j, err = d.cfg.API.Status(ctx, prev.ID)
	}
	switch {
	case errors.Is(err, runpod.ErrNotFound):
		return generator.Run{}, nil
	case j.Status == runpod.Completed || !runpod.Ended(j.Status):
		log.InfoContext(ctx, "following the earlier attempt's RunPod job", "runpod_id", prev.ID, "status", j.Status)
		return prev, nil
	}
	return generator.Run{}, nil
}

// submit sends the job to RunPod.
func (d *Dispatcher) submit(ctx context.Context, req generator.Request) (generator.Run, error) {
	in := input(req)
	rr := runpod.RunRequest{Input: in, ExecutionTimeout: d.cfg.ExecutionTimeout, TTL: d.cfg.TTL}
	if d.cfg.WebhookURL != "" {
		rr.Webhook = d.cfg.WebhookURL + "/" + req.Remote.JobID + "/" + Token(d.cfg.Secret, req.Remote.JobID)
	}
	// The answer of a /run must be read whatever happens to ctx: RunPod
	// may have created the job, and a job we do not know of runs unseen
	// (and uncancelled). Once it is recorded, ctx's end stops it.
	run := func() (runpod.Job, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		return d.cfg.API.Run(rctx, rr)
	}
	j, err := run()
	for n := 0; err != nil && ctx.Err() == nil && runSurelyRefused(err); n++ {
		// RunPod refused the job for now (429, 502, 503: not taken):
		// sending it again cannot run it twice.
		wait, _ := retryAfter(err, n)
		d.cfg.Log.WarnContext(ctx, "RunPod refused the job for now; will send it again", "job_id", req.Remote.JobID, "error", err, "in", wait.String())
		if perr := pause(ctx, wait); perr != nil {
			return generator.Run{}, perr
		}
		j, err = run()
	}
	if err != nil {
		if ctx.Err() != nil {
			return generator.Run{}, context.Cause(ctx)
		}
		// Retried by the queue: RunPod refused or could not be reached.
		return generator.Run{}, &generator.Failure{Code: runpod.CodeWorkerError, Retryable: true, Err: fmt.Errorf("sending the job to RunPod: %w", err),
			Message: "the GPU backend could not take the job"}
	}
	return generator.Run{ID: j.ID, Output: req.Remote.Output.Key}, nil
}

// runSurelyRefused reports whether a failed /run surely did not create a
// job: RunPod answered 429, 502 or 503 (see runpod.Client.Run).
func runSurelyRefused(err error) bool {
	var ae *runpod.APIError
	return errors.As(err, &ae) && (ae.Status == 429 || ae.Status == 502 || ae.Status == 503)
}

// input is the RunPod worker's input for req.
func input(req generator.Request) runpod.Input {
	r := req.Remote
	return runpod.Input{
		Version: runpod.Version, JobID: r.JobID, Attempt: r.Attempt,
		Image:       runpod.Download{URL: r.Image.URL, Expires: r.Image.Expires, MaxBytes: r.Image.MaxBytes},
		Audio:       runpod.Download{URL: r.Audio.URL, Expires: r.Audio.Expires, MaxBytes: r.Audio.MaxBytes},
		AudioFormat: req.Demuxer(), AudioDurationMS: req.AudioDuration.Milliseconds(),
		Output: runpod.Upload{URL: r.Output.URL, Expires: r.Output.Expires, MaxBytes: r.Output.MaxBytes},
		Prompt: req.Prompt, Width: req.Width, Height: req.Height, FPS: req.FPS, Seed: req.Seed, FaceFallback: req.FaceFallback,
	}
}

// record tells the job which run it has at RunPod.
func (d *Dispatcher) record(ctx context.Context, req generator.Request, run generator.Run) error {
	if req.Remote.Record == nil {
		return nil
	}
	return req.Remote.Record(context.WithoutCancel(ctx), run)
}

// stop ends a run we no longer follow for cause: cancelled at RunPod,
// unless this process is only shutting down (the next attempt adopts it).
func (d *Dispatcher) stop(ctx context.Context, run generator.Run, cause error, log *slog.Logger) error {
	switch {
	case errors.Is(cause, generator.ErrShutdown):
		log.InfoContext(ctx, "shutting down; the RunPod job runs on for the next attempt", "runpod_id", run.ID)
		return cause
	case errors.Is(cause, generator.ErrSuperseded):
		// The attempt that took the job over may be following this very
		// run: it is its to stop.
		return cause
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := d.cfg.API.Cancel(cctx, run.ID); err != nil && !errors.Is(err, runpod.ErrNotFound) {
		log.WarnContext(ctx, "cancelling the RunPod job failed", "runpod_id", run.ID, "error", err)
	} else {
		log.InfoContext(ctx, "RunPod job cancelled", "runpod_id", run.ID, "why", cause.Error())
	}
	return cause
}

// wait follows run until it ends, ctx ends, or RunPod forgets it.
func (d *Dispatcher) wait(ctx context.Context, req generator.Request, run generator.Run, sent time.Time, poked <-chan struct{},
	progress generator.ProgressFunc, log *slog.Logger) (generator.Result, error) {
	tick := time.NewTicker(d.cfg.PollInterval)
	defer tick.Stop()
	for {
		j, err := d.cfg.API.Status(ctx, run.ID)
		switch {
		case errors.Is(err, runpod.ErrNotFound) && !sent.IsZero() && time.Since(sent) >= d.cfg.TTL:
			// RunPod deletes a job at its ttl, queued or running.
			return generator.Result{}, &generator.Failure{Code: CodeTimeout,
				Err:     fmt.Errorf("RunPod job %s is gone after its ttl of %s", run.ID, d.cfg.TTL),
				Message: "the GPU backend dropped the job: it waited or ran past its time to live"}
		case errors.Is(err, runpod.ErrNotFound):
			return generator.Result{}, &generator.Failure{Code: CodeRemoteLost, Retryable: true,
				Err: fmt.Errorf("RunPod no longer knows job %s", run.ID), Message: "the GPU backend lost the job"}
		case err != nil && ctx.Err() == nil:
			// RunPod is unreachable or refusing for now (the client has
			// retried): the job is still there; ask again later.
			log.WarnContext(ctx, "asking RunPod for the job's status failed; will ask again", "runpod_id", run.ID, "error", err)
		case err == nil:
			if j.Status == runpod.InProgress {
				reportProgress(j.Output, progress)
			}
			if runpod.Ended(j.Status) {
				run.Delay = j.DelayTime
				switch err := d.record(ctx, req, run); {
				case errors.Is(err, generator.ErrSuperseded):
					return generator.Result{}, err // its video is the successor's now
				case err != nil:
					log.WarnContext(ctx, "recording RunPod's delay failed", "error", err)
				}
				return ended(j, run, sent)
			}
		}
		asked := time.Now()
		select {
		case <-ctx.Done():
			return generator.Result{}, d.stop(ctx, run, context.Cause(ctx), log)
		case <-poked:
			// A webhook asks at most once a second: whoever holds its
			// URL cannot make us hammer RunPod's /status.
			if err := pause(ctx, time.Until(asked.Add(minPokeGap))); err != nil {
				return generator.Result{}, d.stop(ctx, run, err, log)
			}
		case <-tick.C:
		}
	}
}

// minPokeGap is the least time between two status requests a webhook
// causes.
const minPokeGap = time.Second

// maxReadings bounds the GPU readings kept of one job (an hour at 5 s).
const maxReadings = 720

// readings are the worker's GPU readings, as the sampler's: a utilisation
// the worker did not know (sent as -1, JSON having no NaN) is NaN, and
// implausible figures are dropped, readings outside the run's time too
// (from sent, or an hour back for a run we did not send, to now, with a
// minute for clocks): the output is the worker's word.
func readings(in []runpod.GPUSample, sent, now time.Time) []gpu.Sample {
	from := sent
	if from.IsZero() {
		from = now.Add(-time.Hour)
	}
	from, to := from.Add(-time.Minute), now.Add(time.Minute)
	out := make([]gpu.Sample, 0, min(len(in), maxReadings))
	for _, r := range in[:min(len(in), maxReadings)] {
		u := r.Utilization
		if u < 0 {
			u = math.NaN()
		}
		if u > 1 || r.GPU < 0 || r.GPU > 64 || r.At.Before(from) || r.At.After(to) || r.MemoryUsedBytes > r.MemoryTotalBytes {
			continue
		}
		out = append(out, gpu.Sample{GPU: r.GPU, Utilization: u, MemoryUsedBytes: r.MemoryUsedBytes, MemoryTotalBytes: r.MemoryTotalBytes, At: r.At})
	}
	return out
}

// workerName is the RunPod worker's id as our history keeps it: RunPod's
// ids are short letters and digits; anything else is not kept as given.
func workerName(id string) string {
	if id == "" || len(id) > 64 || strings.IndexFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) >= 0 {
		return "unnamed"
	}
	return id
}

// trusted is a worker's error as a customer may read it. The worker's
// word is not trusted: only the codes our worker sends keep their code,
// and its message only for an input refusal (plain words our worker
// wrote, bounded); any other code is a worker_error with our message.
func trusted(we *runpod.WorkError) *runpod.WorkError {
	if msg, ok := workerCodes[we.Code]; ok {
		if msg == "" && (len(we.Message) > 300 || strings.ContainsAny(we.Message, "/\\\n")) {
			msg = "the GPU worker could not use an input"
		}
		if msg != "" {
			we.Message = msg
		}
		return we
	}
	detail := we.Detail
	if detail == "" {
		detail = we.Code + ": " + we.Message
	}
	return &runpod.WorkError{Code: runpod.CodeWorkerError, Message: workerCodes[runpod.CodeWorkerError], Retryable: true, Detail: detail}
}

// workerCodes are the codes a RunPod worker may end a job with, and the
// message the customer reads for each ("": the worker's own, for the
// refusals of an input, which our generators word for customers).
var workerCodes = map[string]string{
	runpod.CodeBadInput:       "the GPU worker could not read the job (a worker of another release)",
	runpod.CodeDownloadFailed: "the GPU worker could not fetch an input",
	runpod.CodeUploadFailed:   "the GPU worker could not upload the video",
	runpod.CodeGeneration:     "the video could not be generated; the error was logged",
	runpod.CodeStopped:        "the GPU worker was stopped while it made the video",
	runpod.CodeWorkerError:    "the GPU worker failed; the error was logged",
	refusal.CodeInvalidImage:  "",
	refusal.CodeInvalidAudio:  "",
	face.CodeNoFace:           "",
	media.CodeInvalidVideo:    "",
}

// reportProgress passes on the worker's last progress update.
func reportProgress(out json.RawMessage, progress generator.ProgressFunc) {
	var p runpod.Progress
	if progress == nil || json.Unmarshal(out, &p) != nil || p.Progress < 0 || p.Progress > 1 {
		return
	}
	const scale = 1000
	progress(int(p.Progress*scale), scale)
}

// ended is the outcome of a job RunPod has finished.
func ended(j runpod.Job, run generator.Run, sent time.Time) (generator.Result, error) {
	billed := j.ExecutionTime
	switch j.Status {
	case runpod.Completed:
		var out runpod.Output
		if err := json.Unmarshal(j.Output, &out); err != nil || out.Version != runpod.Version {
			return generator.Result{}, &generator.Failure{Code: CodeBadOutput, Billed: &billed,
				Err:     fmt.Errorf("RunPod job %s completed with an output of another version or none (%d bytes)", j.ID, len(j.Output)),
				Message: "the GPU worker answered in a form this service does not read"}
		}
		v := out.Video
		return generator.Result{
			Duration: time.Duration(v.DurationMS) * time.Millisecond, Width: v.Width, Height: v.Height, FPS: v.FPS,
			Frames: v.Frames, Size: v.Bytes, Uploaded: true, UploadedKey: run.Output, Billed: &billed,
			Worker: workerName(out.Worker), GPU: readings(out.GPU, sent, time.Now()),
		}, nil
	case runpod.Failed:
		we := trusted(runpod.ParseError(j.Error))
		cause := fmt.Errorf("RunPod job %s failed: %s", j.ID, we.Error())
		if we.Detail != "" {
			cause = fmt.Errorf("%w (%s)", cause, we.Detail)
		}
		return generator.Result{}, &generator.Failure{Code: we.Code, Message: we.Message, Retryable: we.Retryable, Billed: &billed, Err: cause}
	case runpod.TimedOut:
		return generator.Result{}, &generator.Failure{Code: CodeTimeout, Billed: &billed,
			Err:     fmt.Errorf("RunPod job %s timed out", j.ID),
			Message: "the GPU backend stopped the job: it ran past its execution timeout or waited past its time to live"}
	default: // CANCELLED, by someone else than us
		return generator.Result{}, &generator.Failure{Code: CodeRemoteCancelled, Retryable: true, Billed: &billed,
			Err: fmt.Errorf("RunPod job %s was cancelled at RunPod", j.ID), Message: "the GPU backend cancelled the job"}
	}
}
