package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/job"
	"github.com/avatar-api/avatar-api/internal/logging"
)

// JobError says why a job failed.
type JobError struct {
	Code    string `json:"code" doc:"Stable machine-readable reason" example:"generation_failed"`
	Message string `json:"message" doc:"Human-readable explanation"`
}

// JobLinks are the URLs to follow a job with.
type JobLinks struct {
	Status string `json:"status" format:"uri"`
	Result string `json:"result" format:"uri"`
	Cancel string `json:"cancel" format:"uri"`
}

// Job is the public view of a job.
type Job struct {
	ID            string     `json:"job_id" format:"uuid" doc:"The job's id"`
	State         string     `json:"state" enum:"queued,processing,completed,failed,cancelled,expired" doc:"Where the job is in its life"`
	Progress      float64    `json:"progress" minimum:"0" maximum:"1" doc:"Fraction of the video generated"`
	QueuePosition *int       `json:"queue_position,omitempty" doc:"While queued: jobs ahead of this one (0: next)"`
	QueueETA      *float64   `json:"queue_eta_seconds,omitempty" doc:"While queued: seconds until it is expected to start, at the rate this queue's jobs ended in the last 15 minutes ((queue_position + 1) × 900 ÷ jobs ended); absent when none ended then (no rate to go by)"`
	Attempt       int        `json:"attempt" doc:"Generation attempts so far (crashed workers are retried)"`
	Prompt        string     `json:"prompt"`
	Width         int        `json:"width"`
	Height        int        `json:"height"`
	FPS           int        `json:"fps"`
	AudioSeconds  float64    `json:"audio_duration_seconds" doc:"Length of the speech, and so of the video"`
	CreatedAt     time.Time  `json:"created_at"`
	StartedAt     *time.Time `json:"started_at,omitempty"`
	FinishedAt    *time.Time `json:"finished_at,omitempty"`
	ExpiresAt     *time.Time `json:"expires_at,omitempty" doc:"When the video will be deleted (completed jobs)"`
	QueueDeadline *time.Time `json:"queue_deadline,omitempty" doc:"With max_queue_seconds: when the job, if not started, ends expired with queue_deadline_exceeded"`
	FaceFallback  bool       `json:"face_fallback" doc:"Whether an estimated face may be animated when none is found"`
	Error         *JobError  `json:"error,omitempty" doc:"Why the job failed"`
	BilledSeconds float64    `json:"billed_seconds" doc:"Generation time billed so far (per run; a retried job is billed per attempt); final once the job has ended"`
	CostUSD       float64    `json:"cost_usd" doc:"What the billed time cost, at the price per second in force when the job was accepted"`
	Links         JobLinks   `json:"links"`
}

func (a *api) view(j *job.Job) Job { return view(a.PublicURL, j) }

// view is the public view of a job, its links under publicURL.
func view(publicURL string, j *job.Job) Job {
	v := Job{
		ID: j.ID, State: j.State, Progress: j.Progress, QueuePosition: j.QueuePosition, Attempt: j.Attempt, Prompt: j.Prompt,
		Width: j.Width, Height: j.Height, FPS: j.FPS, AudioSeconds: millis(j.AudioDuration), FaceFallback: j.FaceFallback,
		CreatedAt: j.CreatedAt, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt, ExpiresAt: j.ExpiresAt,
		QueueDeadline: j.QueueDeadline, BilledSeconds: millis(j.Billed), CostUSD: j.Cost.USD(),
		Links: JobLinks{
			Status: publicURL + "/status/" + j.ID,
			Result: publicURL + "/result/" + j.ID,
			Cancel: publicURL + "/cancel/" + j.ID,
		},
	}
	if j.ErrorCode != "" {
		v.Error = &JobError{Code: j.ErrorCode, Message: j.ErrorMessage}
	}
	if j.QueueETA != nil {
		eta := math.Round(j.QueueETA.Seconds())
		v.QueueETA = &eta
	}
	return v
}

type generateInput struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Any unique string of 1 to 255 printable ASCII characters (a UUID): a retried request with the same key returns the first job instead of creating another"`
	req            *http.Request
	w              http.ResponseWriter
}

// Resolve captures the raw request: the multipart body is streamed by the
// handler itself, to disk, with per-part limits.
func (in *generateInput) Resolve(ctx huma.Context) []error {
	in.req, in.w = humago.Unwrap(ctx)
	return nil
}

type jobOutput struct {
	Location string `header:"Location" doc:"The job's status URL"`
	Replayed string `header:"Idempotent-Replayed" doc:"true when an earlier job with the same Idempotency-Key is returned"`
	Body     Job
}

func opGenerate() huma.Operation {
	return huma.Operation{
		OperationID:   "generate",
		Summary:       "Create a video job",
		Description:   "Uploads a portrait and a speech recording and queues a job that makes the talking-avatar video. Inputs are checked before anything is queued. Answers 202 at once; poll the status link.",
		Tags:          []string{"Jobs"},
		DefaultStatus: http.StatusAccepted,
		Errors:        []int{400, 401, 408, 409, 413, 415, 422, 429, 503},
	}
}

// generateBody documents the multipart body of POST /generate. It is added to
// the OpenAPI document after registration: declared on the operation, huma
// would read and parse the body itself, whole, before the handler runs.
func generateBody() *huma.RequestBody {
	return &huma.RequestBody{
		Required: true,
		// Swagger UI's Try it out fills the form with the example: it
		// holds what works for anyone, and no webhook (which needs a
		// signing secret and a public URL first).
		Content: map[string]*huma.MediaType{"multipart/form-data": {Example: map[string]any{
			"image": "(the portrait's bytes: portrait.png)", "audio": "(the speech's bytes: speech.wav)", "prompt": "A woman speaking calmly",
			"width": 512, "height": 512, "fps": 25,
		}, Schema: &huma.Schema{
			Type:     "object",
			Required: []string{"image", "audio"},
			Properties: map[string]*huma.Schema{
				"image":         {Type: "string", Format: "binary", Description: "The portrait: PNG, JPEG or WebP, one frontal face"},
				"audio":         {Type: "string", Format: "binary", Description: "The speech: WAV, MP3, OGG, FLAC, M4A/AAC or WebM"},
				"prompt":        {Type: "string", Examples: []any{"A woman singing"}, Description: "A short description of the performance, e.g. \"A woman singing\""},
				"width":         {Type: "integer", Default: 512, Description: fmt.Sprintf("Output width, even, %d–%d (default 512)", generator.MinSide, generator.MaxSide)},
				"height":        {Type: "integer", Default: 512, Description: fmt.Sprintf("Output height, even, %d–%d (default 512)", generator.MinSide, generator.MaxSide)},
				"fps":           {Type: "integer", Default: 25, Description: fmt.Sprintf("Frames per second, %d–%d (default 25)", generator.MinFPS, generator.MaxFPS)},
				"seed":          {Type: "integer", Default: 0, Description: "Makes the random motion repeatable (0: derived from the job's id)"},
				"face_fallback": {Type: "boolean", Default: false, Description: "Animate an estimated face region when no face is detected, instead of refusing the image with no_face_detected"},
				"max_queue_seconds": {Type: "integer", Minimum: ptrFloat(1), Maximum: ptrFloat(86400), Examples: []any{86400},
					Description: "A deadline: if the job has not started this many seconds after it was accepted, it ends expired with error code queue_deadline_exceeded, unbilled"},
				"webhook_url": {Type: "string", MaxLength: ptrInt(2048), Examples: []any{""}, // "": Try it out sends none
					Description: "Where to POST the job's events, signed (see the webhooks of this document); default: your API key's default webhook URL, if it has one. An http(s) URL whose host is public: loopback, private, link-local and other non-public addresses are refused (webhook_url_forbidden). Needs your signing secret (POST /webhooks/secret) first"},
				"webhook_events": {Type: "string", Examples: []any{""}, // "": Try it out sends none
					Description: "The events to send, comma-separated, of job.started, job.completed, job.failed, job.cancelled and job.expired; default: every one but job.started"},
			},
		}}},
	}
}

func (a *api) generate(ctx context.Context, in *generateInput) (*jobOutput, error) {
	if in.IdempotencyKey != "" {
		if err := job.CheckIdempotencyKey(in.IdempotencyKey); err != nil {
			return nil, err
		}
	}
	// Before the upload is read: a refusal costs nothing.
	if err := a.checkBudget(ctx, in.IdempotencyKey); err != nil {
		return nil, err
	}
	if in.IdempotencyKey != "" {
		unlock, ok := a.keyLocks.lock(owner(ctx) + "\x00" + in.IdempotencyKey)
		if !ok {
			refund(ctx) // a retry that came too early: it costs nothing
			return nil, keyInUse()
		}
		defer unlock()
	}
	release, err := a.slots.acquire(ctx, owner(ctx), a.Uploads.SlotWait)
	if err != nil {
		return nil, err
	}
	defer release()
	up, err := parseUpload(in.w, in.req, a.UploadDir, a.Uploads)
	if err != nil {
		return nil, err
	}
	defer up.Close()
	// Replay or reuse of an Idempotency-Key is decided from the raw parts'
	// fingerprint, before any check of the inputs runs: a retry gets its
	// job back at once, and different inputs under a used key are refused
	// at once (and count).
	if in.IdempotencyKey != "" {
		j, err := a.Jobs.Replay(ctx, owner(ctx), in.IdempotencyKey, up.fingerprint)
		switch {
		case err == nil:
			refund(ctx)
			return a.jobOutput(j, true), nil
		case errors.Is(err, job.ErrIdempotencyMismatch):
			if err := a.chargeNow(ctx, in.w); err != nil {
				return nil, err
			}
			return nil, err
		case !errors.Is(err, job.ErrNotFound):
			return nil, err
		}
	}
	if err := a.chargeNow(ctx, in.w); err != nil {
		return nil, err
	}
	sub, err := submissionOf(up)
	if err != nil {
		return nil, err
	}
	sub.Owner, sub.IdempotencyKey, sub.RequestID = owner(ctx), in.IdempotencyKey, logging.Attr(ctx, "request_id")
	sub.KeyID = identity(ctx).KeyID
	j, replayed, err := a.Jobs.Submit(ctx, sub)
	if err != nil {
		return nil, err
	}
	if replayed { // the same request, sent twice at once: the other made the job
		refund(ctx)
	}
	return a.jobOutput(j, replayed), nil
}

func (a *api) jobOutput(j *job.Job, replayed bool) *jobOutput {
	v := a.view(j)
	out := &jobOutput{Location: v.Links.Status, Body: v}
	if replayed {
		out.Replayed = "true"
	}
	return out
}

type jobIDInput struct {
	JobID string `path:"job_id" doc:"The job's id, from POST /generate"`
}

type statusOutput struct{ Body Job }

func opStatus() huma.Operation {
	return huma.Operation{
		OperationID: "status",
		Summary:     "Get a job's state", Tags: []string{"Jobs"},
		Description: "State, progress, queue position while queued, timestamps, and the reason when failed.",
		Errors:      []int{401, 404},
	}
}

func (a *api) status(ctx context.Context, in *jobIDInput) (*statusOutput, error) {
	j, err := a.Jobs.Get(ctx, owner(ctx), in.JobID)
	if err != nil {
		return nil, err
	}
	return &statusOutput{Body: a.view(j)}, nil
}

// Result is where to fetch a finished video.
type Result struct {
	ID              string    `json:"job_id" format:"uuid"`
	URL             string    `json:"url" format:"uri" doc:"Signed download URL of the MP4; anyone holding it can download until url_expires_at"`
	URLExpiresAt    time.Time `json:"url_expires_at" doc:"When this URL stops working; ask again for a fresh one"`
	ExpiresAt       time.Time `json:"expires_at" doc:"When the video is deleted; after it this endpoint answers 410"`
	DurationSeconds float64   `json:"duration_seconds"`
	SizeBytes       int64     `json:"size_bytes"`
	Width           int       `json:"width"`
	Height          int       `json:"height"`
	FPS             int       `json:"fps"`
	ContentType     string    `json:"content_type" example:"video/mp4"`
	BilledSeconds   float64   `json:"billed_seconds" doc:"Generation time billed for the job, all runs"`
	CostUSD         float64   `json:"cost_usd" doc:"What the billed time cost"`
}

type resultOutput struct{ Body Result }

func opResult() huma.Operation {
	return huma.Operation{
		OperationID: "result",
		Summary:     "Get a finished job's video", Tags: []string{"Jobs"},
		Description: "A signed, expiring download URL and the video's facts. 409 while the job is not finished (or ended without a video), 410 once the video has expired.",
		Errors:      []int{401, 404, 409, 410},
	}
}

func (a *api) result(ctx context.Context, in *jobIDInput) (*resultOutput, error) {
	d, err := a.Jobs.Result(ctx, owner(ctx), in.JobID)
	if err != nil {
		return nil, err
	}
	return &resultOutput{Body: resultOf(d)}, nil
}

func resultOf(d *job.Download) Result {
	j := d.Job
	return Result{
		ID: j.ID, URL: d.URL, URLExpiresAt: d.URLExpiresAt, ExpiresAt: *j.ExpiresAt,
		DurationSeconds: millis(d.Duration), SizeBytes: d.Bytes,
		Width: j.Width, Height: j.Height, FPS: j.FPS, ContentType: "video/mp4",
		BilledSeconds: millis(j.Billed), CostUSD: j.Cost.USD(),
	}
}

func opCancel() huma.Operation {
	return huma.Operation{
		OperationID: "cancel",
		Summary:     "Cancel a job", Tags: []string{"Jobs"},
		Description: "Stops a queued or running job; a running generation stops within about a second. 409 if the job has already ended.",
		Errors:      []int{401, 404, 409},
	}
}

func (a *api) cancel(ctx context.Context, in *jobIDInput) (*statusOutput, error) {
	j, err := a.Jobs.Cancel(ctx, owner(ctx), in.JobID)
	if err != nil {
		return nil, err
	}
	return &statusOutput{Body: a.view(j)}, nil
}

type listInput struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Jobs per page"`
	Cursor string `query:"cursor" doc:"next_cursor of the previous page"`
}

type listOutput struct {
	Body struct {
		Jobs       []Job  `json:"jobs"`
		NextCursor string `json:"next_cursor,omitempty" doc:"Pass as cursor for the next page; absent on the last page"`
	}
}

func opList() huma.Operation {
	return huma.Operation{
		OperationID: "list-jobs",
		Summary:     "List your jobs", Tags: []string{"Jobs"},
		Description: "Your key's jobs, newest first, a page at a time.",
		Errors:      []int{401, 422},
	}
}

func (a *api) list(ctx context.Context, in *listInput) (*listOutput, error) {
	jobs, next, err := a.Jobs.List(ctx, owner(ctx), in.Cursor, in.Limit)
	if err != nil {
		return nil, err
	}
	out := &listOutput{}
	out.Body.Jobs = make([]Job, 0, len(jobs))
	for _, j := range jobs {
		out.Body.Jobs = append(out.Body.Jobs, a.view(j))
	}
	out.Body.NextCursor = next
	return out, nil
}

func ptrFloat(f float64) *float64 { return &f }

func ptrInt(i int) *int { return &i }

// millis is a duration in seconds, to the millisecond: what the API shows
// (a float64 of the sum of seconds and nanoseconds would show 1.3980000000000001).
func millis(d time.Duration) float64 { return math.Round(d.Seconds()*1000) / 1000 }
