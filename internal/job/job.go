// Package job is the job service: it accepts a portrait, a recording and a
// prompt as a job, and answers for the job's state and result. It checks
// every input before anything is stored or queued, and it knows nothing of
// HTTP: callers get the sentinel errors below or a *refusal.Error.
package job

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/media"
	"github.com/avatar-api/avatar-api/internal/queue"
	"github.com/avatar-api/avatar-api/internal/refusal"
	"github.com/avatar-api/avatar-api/internal/storage"
	"github.com/avatar-api/avatar-api/internal/store"
	"github.com/avatar-api/avatar-api/internal/text"
	"github.com/avatar-api/avatar-api/internal/webhook"
)

// Errors of the job service.
var (
	ErrNotFound            = errors.New("job not found")
	ErrNotFinished         = errors.New("job has not finished")
	ErrNoResult            = errors.New("job ended without a video")
	ErrExpired             = errors.New("job's video has expired")
	ErrFinal               = errors.New("job has already ended")
	ErrIdempotencyMismatch = errors.New("idempotency key was used with different inputs")
	// ErrUnavailable wraps failures of the database or storage: the request
	// was fine and may be retried.
	ErrUnavailable = errors.New("a dependency is unavailable")
	// ErrBusy means the uploads being checked hold all the capacity (the
	// image decoding budget): the request was fine and may be retried.
	ErrBusy = errors.New("the service is busy checking other uploads")
)

// OptionError is an invalid request option (size, fps…).
type OptionError struct{ Field, Message string }

func (e *OptionError) Error() string { return e.Field + ": " + e.Message }

// Settings are the service's limits and defaults.
type Settings struct {
	Limits         media.Limits
	MaxPromptChars int
	Width, Height  int
	FPS            int
	ResultTTL      time.Duration
	DownloadURLTTL time.Duration
	// Backend generates new jobs: they are recorded as its and enqueued on
	// its queue. Zero: the local backend.
	Backend queue.Backend
}

// Deps are what the job service works with.
type Deps struct {
	Store   store.Store
	Storage storage.Storage
	Audio   media.Prober        // checks and canonicalises audio
	Images  *media.ImageDecoder // checks and canonicalises images, within a memory budget
	// Checker, if not nil, vets each submission's inputs the way the
	// generator will (is there a face?) before the job is queued. It is
	// chosen apart from the generator (face.NewChecker()).
	Checker generator.Checker
	Log     *slog.Logger
	// Observer, if not nil, is told of each job created and each
	// transition made here (metrics).
	Observer Observer
	// Runs, if not nil, stops a cancelled job's run at the backend that
	// runs it (RunPod).
	Runs RunStopper
	// Webhooks checks a submission's webhook (webhook.Service); nil: a
	// submission with one is refused.
	Webhooks WebhookTargets
}

// WebhookTargets checks where a job's events go: rawURL, or else the
// default of the key keyID; events are those asked for.
type WebhookTargets interface {
	Target(ctx context.Context, customer, keyID, rawURL string, events []string) (webhook.Target, error)
}

// Service is the job service.
type Service struct {
	Deps
	settings   Settings
	lifecycle  *Lifecycle
	now        func() time.Time
	throughput throughputCache
}

// NewService returns a job service.
func NewService(d Deps, settings Settings) *Service {
	l := NewLifecycle(d.Store, d.Storage, d.Log, d.Observer)
	if d.Runs != nil {
		l.StopRunsWith(d.Runs)
	}
	return &Service{Deps: d, settings: settings, lifecycle: l, now: time.Now}
}

// SetClock replaces the service's clock (download URLs' expiry, the
// queue ETA's window), for tests of time.
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// Submission is a new job as received: inputs already in local files.
type Submission struct {
	Owner          string
	IdempotencyKey string
	Fingerprint    string // hash of the request's inputs
	RequestID      string
	ImagePath      string // the uploads, as received; never stored
	AudioPath      string
	Dir            string // scratch space for the canonical forms; the caller removes it
	Prompt         string
	Width, Height  int   // 0: default
	FPS            int   // 0: default
	Seed           int64 // 0: derived from the job id
	FaceFallback   bool  // animate an estimated face if none is found
	// MaxQueue, if set, is how long the job may wait to start
	// (max_queue_seconds): MinMaxQueue to MaxMaxQueue.
	MaxQueue time.Duration
	// KeyID is the key that submits (its default webhook URL applies),
	// WebhookURL and WebhookEvents the submission's own webhook.
	KeyID         string
	WebhookURL    string
	WebhookEvents []string
}

// The bounds of Submission.MaxQueue.
const (
	MinMaxQueue = time.Second
	MaxMaxQueue = 24 * time.Hour
)

// checkMaxQueue refuses a deadline out of its bounds.
func checkMaxQueue(sub Submission) error {
	if sub.MaxQueue != 0 && (sub.MaxQueue < MinMaxQueue || sub.MaxQueue > MaxMaxQueue) {
		return &OptionError{Field: "max_queue_seconds", Message: "must be from 1 to 86400"}
	}
	return nil
}

// MaxIdempotencyKey is the longest Idempotency-Key, in bytes.
const MaxIdempotencyKey = 255

// CheckIdempotencyKey refuses a key that is not 1 to 255 printable ASCII
// characters: what every database stores alike, and the header's form.
func CheckIdempotencyKey(key string) error {
	if why := text.InvalidToken(key, MaxIdempotencyKey); why != "" {
		return &OptionError{Field: "Idempotency-Key", Message: why}
	}
	return nil
}

// Submit checks a submission, stores its inputs and queues it. replayed is
// true when the idempotency key named an existing job, which is returned.
func (s *Service) Submit(ctx context.Context, sub Submission) (_ *Job, replayed bool, err error) {
	if err := checkMaxQueue(sub); err != nil {
		return nil, false, err
	}
	if sub.IdempotencyKey != "" {
		if err := CheckIdempotencyKey(sub.IdempotencyKey); err != nil {
			return nil, false, err
		}
	}
	prompt, err := media.ValidatePrompt(sub.Prompt, s.settings.MaxPromptChars)
	if err != nil {
		return nil, false, err
	}
	w, h, fps, err := s.options(sub)
	if err != nil {
		return nil, false, err
	}
	hook, err := s.webhook(ctx, sub)
	if err != nil {
		return nil, false, err
	}
	if sub.Dir == "" {
		return nil, false, errors.New("submission without a scratch directory")
	}
	imagePath, audioPath := canonicalPaths(sub.Dir)
	img, aud, err := s.checkFiles(ctx, sub, sub.Dir, prompt, w, h, fps)
	if err != nil {
		return nil, false, err
	}
	id := uuid.Must(uuid.NewV7())
	seed := sub.Seed
	if seed == 0 {
		seed = int64(id.ID())
	}
	j := &store.Job{
		MaxQueue: sub.MaxQueue,
		ID:       id.String(), Owner: sub.Owner, IdempotencyKey: sub.IdempotencyKey, Fingerprint: sub.Fingerprint,
		RequestID: sub.RequestID, Prompt: prompt, Width: w, Height: h, FPS: fps, Seed: seed, FaceFallback: sub.FaceFallback,
		ImageKey:      "inputs/" + id.String() + "/image" + img.Ext,
		AudioKey:      "inputs/" + id.String() + "/audio" + aud.Ext,
		AudioDuration: aud.Duration.Round(time.Millisecond), // as stored
		Backend:       s.settings.Backend.Name, Queue: s.settings.Backend.Queue, Price: s.settings.Backend.Price,
		WebhookURL: hook.URL, WebhookDisplay: hook.Display, WebhookEvents: hook.Events,
	}
	// Only the canonical forms are stored: the uploads themselves never
	// reach a worker, a generator or ffmpeg again.
	if err := s.putFile(ctx, j.ImageKey, imagePath, img.ContentType); err != nil {
		return nil, false, err
	}
	if err := s.putFile(ctx, j.AudioKey, audioPath, aud.ContentType); err != nil {
		s.deleteInputs(ctx, j)
		return nil, false, err
	}
	created, err := s.Store.CreateJob(ctx, j)
	if err != nil {
		s.deleteInputs(ctx, j)
		if errors.Is(err, store.ErrConflict) && created != nil {
			if created.Fingerprint != sub.Fingerprint {
				return nil, false, ErrIdempotencyMismatch
			}
			v, err := s.viewWithPosition(ctx, created)
			return v, true, err
		}
		return nil, false, fmt.Errorf("%w: creating job: %w", ErrUnavailable, err)
	}
	s.Log.InfoContext(ctx, "job accepted", "job_id", j.ID, "audio_seconds", aud.Duration.Seconds(),
		"width", w, "height", h, "fps", fps, "image_format", img.Format, "audio_format", aud.Format)
	if s.Observer != nil {
		s.Observer.Transitioned(ctx, store.Applied{Job: created, Event: store.Event{JobID: created.ID, Owner: created.Owner,
			Transition: store.Create, To: store.StateQueued, At: created.CreatedAt}})
	}
	v, err := s.viewWithPosition(ctx, created)
	return v, false, err
}

// webhook checks a submission's webhook (SSRF, events, the customer's
// secret) and seals its URL.
func (s *Service) webhook(ctx context.Context, sub Submission) (webhook.Target, error) {
	if s.Webhooks == nil {
		if sub.WebhookURL != "" || len(sub.WebhookEvents) > 0 {
			return webhook.Target{}, &OptionError{Field: "webhook_url", Message: "webhooks are not available on this server"}
		}
		return webhook.Target{}, nil
	}
	t, err := s.Webhooks.Target(ctx, store.OwnerCustomer(sub.Owner), sub.KeyID, sub.WebhookURL, sub.WebhookEvents)
	// A refusal is the request's; anything else is reading the key's
	// default webhook or the customer's secret while the database is
	// down: the service's trouble, and it passes (503, not 500).
	var re *refusal.Error
	if err != nil && !errors.As(err, &re) && ctx.Err() == nil {
		return t, fmt.Errorf("%w: checking the webhook: %w", ErrUnavailable, err)
	}
	return t, err
}

// refused explains a failed input check: a refusal of the customer's file
// is logged with the decoder's own words (which the customer is not shown),
// a busy budget becomes ErrBusy, anything else is the service's trouble.
func (s *Service) refused(ctx context.Context, part string, err error) error {
	var me *refusal.Error
	switch {
	case errors.As(err, &me):
		s.Log.InfoContext(ctx, "upload refused", "part", part, "code", me.Code, "detail", me.Detail)
		return err
	case errors.Is(err, media.ErrBusy), errors.Is(err, media.ErrInterrupted):
		return fmt.Errorf("%w: %w", ErrBusy, err)
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return fmt.Errorf("checking the %s: %w", part, err)
}

// checkFiles runs a submission's checks of its files, into dir (as
// image.png and audio.wav), in one order whichever way they run: the image
// made canonical, the generator's check of it (on the pixels still in
// memory when it can), then the audio made canonical. POST /generate and
// its estimate both run it, so that both refuse a file alike.
func (s *Service) checkFiles(ctx context.Context, sub Submission, dir, prompt string, w, h, fps int) (media.Image, media.Audio, error) {
	imagePath, audioPath := canonicalPaths(dir)
	req := generator.Request{
		ImagePath: imagePath, AudioPath: audioPath, AudioFormat: "wav",
		Prompt: prompt, Width: w, Height: h, FPS: fps, FaceFallback: sub.FaceFallback,
	}
	img, checked, err := s.canonicalImage(ctx, sub.ImagePath, req)
	if err != nil {
		return media.Image{}, media.Audio{}, err
	}
	if s.Checker != nil && !checked {
		if err := s.check(ctx, req, img); err != nil {
			return media.Image{}, media.Audio{}, err
		}
	}
	aud, err := s.Audio.CanonicalAudio(ctx, sub.AudioPath, req.AudioPath, s.settings.Limits)
	if err != nil {
		return media.Image{}, media.Audio{}, s.refused(ctx, "audio", err)
	}
	return img, aud, nil
}

// canonicalPaths are where checkFiles writes a submission's canonical
// image and audio in dir.
func canonicalPaths(dir string) (img, aud string) {
	return filepath.Join(dir, "image.png"), filepath.Join(dir, "audio.wav")
}

// pixelChecker is implemented by checkers that can check the portrait
// already decoded (face.Checker): the upload's image check hands them its
// canonical pixels instead of their decoding the PNG it wrote again.
type pixelChecker interface {
	memoryBound
	CheckPixels(ctx context.Context, img image.Image, req generator.Request) error
}

// canonicalImage makes the upload at src canonical at req.ImagePath and,
// when the checker can take the pixels so decoded, checks them there and
// then (checked). A refusal is explained (refused).
func (s *Service) canonicalImage(ctx context.Context, src string, req generator.Request) (media.Image, bool, error) {
	pc, ok := s.Checker.(pixelChecker)
	if !ok {
		img, err := s.Images.CanonicalImage(ctx, src, req.ImagePath, s.settings.Limits)
		if err != nil {
			return media.Image{}, false, s.refused(ctx, "image", err)
		}
		return img, false, nil
	}
	// The check's memory besides the decoded portrait, which the image
	// check has reserved already.
	extra := func(w, h int) int64 { return pc.CheckMemory(w, h) - media.RGBABytes(w, h) }
	img, checked, err := s.Images.CanonicalImageThen(ctx, src, req.ImagePath, s.settings.Limits, extra,
		func(pix image.Image) error { return pc.CheckPixels(ctx, pix, req) })
	if err != nil {
		if checked {
			return media.Image{}, true, err // the checker's own answer, as check returns it
		}
		return media.Image{}, false, s.refused(ctx, "image", err)
	}
	return img, checked, nil
}

// memoryBound is implemented by checkers that know what their check of a
// w×h portrait allocates.
type memoryBound interface {
	CheckMemory(w, h int) int64
}

// check runs the generator's own check of the canonical inputs, holding
// the image budget for what it decodes: what the checker says, or else
// four times the portrait's pixels at 8 bits with alpha.
func (s *Service) check(ctx context.Context, req generator.Request, img media.Image) error {
	cost := 4 * media.RGBABytes(img.Width, img.Height)
	if mb, ok := s.Checker.(memoryBound); ok {
		cost = mb.CheckMemory(img.Width, img.Height)
	}
	release, err := s.Images.Reserve(ctx, cost)
	if errors.Is(err, media.ErrOverBudget) {
		return &refusal.Error{Code: media.CodeImageTooLarge, Message: "the image is too large to be checked with the memory this service allows; send it smaller"}
	}
	if err != nil {
		return s.refused(ctx, "image", err)
	}
	defer release()
	return s.Checker.Check(ctx, req)
}

func (s *Service) options(sub Submission) (w, h, fps int, err error) {
	w, h, fps = cmp.Or(sub.Width, s.settings.Width), cmp.Or(sub.Height, s.settings.Height), cmp.Or(sub.FPS, s.settings.FPS)
	for _, o := range []struct{ field, why string }{
		{"width", generator.CheckSide(w)}, {"height", generator.CheckSide(h)}, {"fps", generator.CheckFPS(fps)},
	} {
		if o.why != "" {
			return 0, 0, 0, &OptionError{Field: o.field, Message: o.why}
		}
	}
	return w, h, fps, nil
}

func (s *Service) putFile(ctx context.Context, key, path, contentType string) error {
	if err := storage.PutFile(ctx, s.Storage, key, path, contentType); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// deleteInputs removes the inputs of a job that was never created (its
// creation failed, or its idempotency key named another job).
func (s *Service) deleteInputs(ctx context.Context, j *store.Job) {
	s.lifecycle.deleteInputs(ctx, j)
}

// Get returns one of owner's jobs, with its queue position while queued.
func (s *Service) Get(ctx context.Context, owner, id string) (*Job, error) {
	j, err := s.owned(ctx, owner, id)
	if err != nil {
		return nil, err
	}
	return s.viewWithPosition(ctx, j)
}

// owned is the stored row of one of owner's jobs.
func (s *Service) owned(ctx context.Context, owner, id string) (*store.Job, error) {
	id, ok := store.ParseID(id)
	if !ok {
		return nil, ErrNotFound
	}
	j, err := s.Store.GetJob(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && j.Owner != owner) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("%w: reading job: %w", ErrUnavailable, err)
	}
	return j, nil
}

// IsReplay reports whether owner already made a job with idempotency key:
// the request will be answered with that job, creating nothing.
func (s *Service) IsReplay(ctx context.Context, owner, key string) bool {
	if key == "" || CheckIdempotencyKey(key) != nil {
		return false
	}
	_, err := s.Store.JobByIdempotencyKey(ctx, owner, key)
	return err == nil
}

// Replay answers a request that names an idempotency key: the job made
// with it when fingerprint matches (the request is a retry), or
// ErrIdempotencyMismatch when it does not; ErrNotFound when the key is new.
func (s *Service) Replay(ctx context.Context, owner, key, fingerprint string) (*Job, error) {
	if err := CheckIdempotencyKey(key); err != nil {
		return nil, err
	}
	j, err := s.Store.JobByIdempotencyKey(ctx, owner, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrNotFound
	case err != nil:
		return nil, fmt.Errorf("%w: reading idempotency key: %w", ErrUnavailable, err)
	case j.Fingerprint != fingerprint:
		return nil, ErrIdempotencyMismatch
	}
	return s.viewWithPosition(ctx, j)
}

// Download is where a finished video can be fetched, and its facts.
type Download struct {
	Job          *Job
	URL          string
	URLExpiresAt time.Time
	Bytes        int64
	Duration     time.Duration
}

// Result returns a signed download URL for one of owner's finished jobs.
func (s *Service) Result(ctx context.Context, owner, id string) (*Download, error) {
	j, err := s.owned(ctx, owner, id)
	if err != nil {
		return nil, err
	}
	now := s.now()
	switch {
	case (j.State == store.StateExpired && j.ResultKey != "") || (j.State == store.StateCompleted && j.ExpiresAt != nil && !now.Before(*j.ExpiresAt)):
		return nil, ErrExpired
	case j.State == store.StateCompleted:
	case j.State.Final():
		return nil, ErrNoResult
	default:
		return nil, ErrNotFinished
	}
	exp := now.Add(s.settings.DownloadURLTTL)
	if j.ExpiresAt != nil && j.ExpiresAt.Before(exp) {
		exp = *j.ExpiresAt
	}
	url, err := s.Storage.URL(ctx, j.ResultKey, exp, "avatar-"+j.ID+".mp4")
	if err != nil {
		return nil, fmt.Errorf("%w: signing download URL: %w", ErrUnavailable, err)
	}
	return &Download{Job: view(j), URL: url, URLExpiresAt: exp, Bytes: j.ResultBytes, Duration: j.ResultDuration}, nil
}

// Cancel stops one of owner's jobs and deletes its inputs. A worker that
// is generating it has its own copy, and stops within a second.
func (s *Service) Cancel(ctx context.Context, owner, id string) (*Job, error) {
	id, ok := store.ParseID(id)
	if !ok {
		return nil, ErrNotFound
	}
	j, err := s.lifecycle.Cancel(ctx, owner, id)
	if err != nil {
		return nil, err
	}
	return view(j), nil
}

// List returns a page of owner's jobs, newest first, and the cursor of the
// next page ("" at the end).
func (s *Service) List(ctx context.Context, owner, before string, limit int) ([]*Job, string, error) {
	if before != "" {
		var ok bool
		if before, ok = store.ParseID(before); !ok {
			return nil, "", &OptionError{Field: "cursor", Message: "is not a job id"}
		}
	}
	jobs, err := s.Store.ListJobs(ctx, store.ListParams{Owner: owner, Before: before, Limit: limit + 1})
	if err != nil {
		return nil, "", fmt.Errorf("%w: listing jobs: %w", ErrUnavailable, err)
	}
	next := ""
	if len(jobs) > limit {
		jobs = jobs[:limit]
		next = jobs[limit-1].ID
	}
	views := make([]*Job, len(jobs))
	for i, j := range jobs {
		views[i] = view(j)
	}
	return views, next, nil
}
