package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/avatar-api/avatar-api/internal/job"
	"github.com/avatar-api/avatar-api/internal/problem"
	"github.com/avatar-api/avatar-api/internal/webhook"
)

// CodeNoWebhook refuses the redelivery of a job that sent no webhook.
const CodeNoWebhook = "no_webhook_delivery"

// WebhookEvent is the body of every webhook: what happened, when, and the
// job as GET /status shows it.
type WebhookEvent struct {
	Type      string     `json:"type" enum:"job.started,job.completed,job.failed,job.cancelled,job.expired" doc:"What happened"`
	Timestamp time.Time  `json:"timestamp" doc:"When the job's transition happened"`
	Data      WebhookJob `json:"data"`
}

// WebhookJob is the job as GET /status shows it when the attempt is sent,
// with the video's download when completed.
type WebhookJob struct {
	Job
	Result *Result `json:"result,omitempty" doc:"With job.completed, while the video is kept: a signed download URL (valid until url_expires_at; GET /result gives a fresh one) and the video's facts"`
}

// WebhookBody is the JSON body of a webhook of event typ made at at, of
// job j and, when completed, its download d (nil: none).
func WebhookBody(publicURL, typ string, at time.Time, j *job.Job, d *job.Download) ([]byte, error) {
	e := WebhookEvent{Type: typ, Timestamp: at.UTC(), Data: WebhookJob{Job: view(publicURL, j)}}
	if d != nil {
		r := resultOf(d)
		e.Data.Result = &r
	}
	return json.Marshal(e)
}

type secretInput struct {
	Body *struct { // optional: no body is the defaults
		GraceSeconds *int `json:"grace_seconds,omitempty" minimum:"0" maximum:"604800" doc:"After a rotation, how long webhooks are signed with the previous secret too (default 86400: a day)"`
	}
}

type secretOutput struct{ Body *webhook.Secret }

func opRotateSecret() huma.Operation {
	return huma.Operation{
		OperationID: "rotate-webhook-secret", DefaultStatus: http.StatusCreated,
		Summary: "Create or rotate your webhook signing secret", Tags: []string{"Webhooks"},
		Description: "Creates your signing secret (whsec_…), or replaces it: the answer is the only time it is shown. " +
			"After a rotation both the new and the previous secret sign each webhook (two v1 signatures) for grace_seconds, " +
			"so that you can deploy the new one without missing an event. Needed before any webhook_url is accepted.",
		Errors: []int{401, 422},
	}
}

func (a *api) rotateSecret(ctx context.Context, in *secretInput) (*secretOutput, error) {
	grace := webhook.DefaultGrace
	if in.Body != nil && in.Body.GraceSeconds != nil {
		grace = time.Duration(*in.Body.GraceSeconds) * time.Second
	}
	s, err := a.hooks().Rotate(ctx, identity(ctx).Customer, grace)
	if err != nil {
		return nil, recordsDown(err)
	}
	return &secretOutput{Body: s}, nil
}

type secretInfoOutput struct{ Body *webhook.SecretInfo }

func opSecretInfo() huma.Operation {
	return huma.Operation{
		OperationID: "webhook-secret",
		Summary:     "Describe your webhook signing secret", Tags: []string{"Webhooks"},
		Description: "When your secret was made and, during a rotation's grace period, until when the previous one signs too; never the secret. 404 webhook_secret_missing before one is made.",
		Errors:      []int{401, 404},
	}
}

func (a *api) secretInfo(ctx context.Context, _ *struct{}) (*secretInfoOutput, error) {
	info, err := a.hooks().Info(ctx, identity(ctx).Customer)
	if err != nil {
		if errors.Is(err, webhook.ErrNoSecret) {
			return nil, problem.New(http.StatusNotFound, webhook.CodeSecretMissing, "you have no webhook signing secret yet; POST /webhooks/secret makes one")
		}
		return nil, recordsDown(err)
	}
	return &secretInfoOutput{Body: info}, nil
}

type deliveriesOutput struct {
	Body struct {
		Webhooks []webhook.Delivery `json:"webhooks" doc:"Oldest first"`
	}
}

func opJobWebhooks() huma.Operation {
	return huma.Operation{
		OperationID: "job-webhooks",
		Summary:     "List a job's webhook deliveries", Tags: []string{"Webhooks"},
		Description: "Each event sent for the job, with every attempt: its time, the endpoint's status, latency and error.",
		Errors:      []int{401, 404},
	}
}

func (a *api) jobWebhooks(ctx context.Context, in *jobIDInput) (*deliveriesOutput, error) {
	if _, err := a.Jobs.Get(ctx, owner(ctx), in.JobID); err != nil {
		return nil, recordsDown(err)
	}
	ds, err := a.hooks().Deliveries(ctx, in.JobID)
	if err != nil {
		return nil, recordsDown(err)
	}
	out := &deliveriesOutput{}
	out.Body.Webhooks = ds
	return out, nil
}

type deliveryOutput struct{ Body *webhook.Delivery }

func opRedeliver() huma.Operation {
	return huma.Operation{
		OperationID: "redeliver-webhook", DefaultStatus: http.StatusAccepted,
		Summary: "Send a job's last webhook again", Tags: []string{"Webhooks"},
		Description: "Sends the job's last event again, with the same webhook-id (deduplicate on it), its data as the job is now and a fresh result URL; retried like any delivery. 409 no_webhook_delivery if the job sent none.",
		Errors:      []int{401, 404, 409},
	}
}

func (a *api) redeliver(ctx context.Context, in *jobIDInput) (*deliveryOutput, error) {
	if _, err := a.Jobs.Get(ctx, owner(ctx), in.JobID); err != nil {
		return nil, recordsDown(err)
	}
	d, err := a.hooks().Redeliver(ctx, in.JobID)
	if errors.Is(err, webhook.ErrNoDelivery) {
		return nil, problem.New(http.StatusConflict, CodeNoWebhook, "this job has sent no webhook: it had no webhook_url, or no event it asked for has happened yet")
	}
	if err != nil {
		return nil, recordsDown(err)
	}
	return &deliveryOutput{Body: d}, nil
}

// ensureSecret makes customer's signing secret if they have none, when
// an operator has given their key a default webhook URL: its jobs would
// be refused without one. It returns the new secret, to show once, or
// "": they had one, or it could not be made (logged; the key's change
// stands, and the customer can make one with POST /webhooks/secret).
func (a *api) ensureSecret(ctx context.Context, customer string) string {
	s, err := a.hooks().Ensure(ctx, customer)
	if err != nil {
		a.Log.ErrorContext(ctx, "making a customer's webhook secret failed", "customer", customer, "error", err)
		return ""
	}
	if s == nil {
		return ""
	}
	return s.Secret
}

// hooks is the webhook service; without one its routes answer 503.
func (a *api) hooks() webhookService {
	if a.JobWebhooks == nil {
		return noWebhooks{}
	}
	return a.JobWebhooks
}

type webhookService interface {
	Rotate(ctx context.Context, customer string, grace time.Duration) (*webhook.Secret, error)
	Info(ctx context.Context, customer string) (*webhook.SecretInfo, error)
	Ensure(ctx context.Context, customer string) (*webhook.Secret, error)
	Deliveries(ctx context.Context, jobID string) ([]webhook.Delivery, error)
	Redeliver(ctx context.Context, jobID string) (*webhook.Delivery, error)
}

type noWebhooks struct{}

var errNoWebhooks = problem.New(http.StatusServiceUnavailable, CodeUnavailable, "webhooks are not available on this server")

func (noWebhooks) Rotate(context.Context, string, time.Duration) (*webhook.Secret, error) {
	return nil, errNoWebhooks
}
func (noWebhooks) Info(context.Context, string) (*webhook.SecretInfo, error) {
	return nil, errNoWebhooks
}
func (noWebhooks) Ensure(context.Context, string) (*webhook.Secret, error) { return nil, errNoWebhooks }
func (noWebhooks) Deliveries(context.Context, string) ([]webhook.Delivery, error) {
	return nil, errNoWebhooks
}
func (noWebhooks) Redeliver(context.Context, string) (*webhook.Delivery, error) {
	return nil, errNoWebhooks
}

// documentWebhooks adds the webhooks a customer receives to the OpenAPI
// document (3.1's webhooks): one per event, the same body and headers.
func documentWebhooks(h huma.API) {
	doc := h.OpenAPI()
	schema := doc.Components.Schemas.Schema(reflect.TypeFor[WebhookEvent](), true, "WebhookEvent")
	header := func(name, desc, example string) *huma.Param {
		return &huma.Param{Name: name, In: "header", Required: true, Description: desc, Schema: &huma.Schema{Type: "string"}, Example: example}
	}
	events := map[string]string{
		"job.started":   "The job's first attempt started (only when webhook_events asks for it).",
		"job.completed": "The video is ready: data.result has its signed download URL.",
		"job.failed":    "The job ended without a video: data.error says why.",
		"job.cancelled": "The job was cancelled.",
		"job.expired":   "The job expired: not started within its max_queue_seconds (data.error.code queue_deadline_exceeded, unbilled), or its video was deleted after its retention.",
	}
	doc.Webhooks = map[string]*huma.PathItem{}
	for name, desc := range events {
		doc.Webhooks[name] = &huma.PathItem{Post: &huma.Operation{
			OperationID: "webhook-" + name,
			Summary:     name,
			Description: desc + " Signed with the Standard Webhooks scheme: verify webhook-signature (HMAC-SHA256 of `webhook-id.webhook-timestamp.body` under your whsec_ secret) and refuse old timestamps; deduplicate on webhook-id, which every retry and redelivery of an event repeats. Answer 2xx within 10 s; anything else is retried with exponential backoff for up to 24 h.",
			Tags:        []string{"Webhooks"},
			Security:    []map[string][]string{},
			Parameters: []*huma.Param{
				header("webhook-id", "The event's id: the same on every retry", "msg_0193a8e2c4f37c2a9b1d5e6f7a8b9c0d"),
				header("webhook-timestamp", "When this attempt was sent, in Unix seconds", "1764763200"),
				header("webhook-signature", "Space-separated v1,<base64 HMAC-SHA256> signatures: two during a secret rotation's grace period", "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="),
			},
			RequestBody: &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{"application/json": {Schema: schema, Example: webhookExample(name)}}},
			Responses:   map[string]*huma.Response{"2XX": {Description: "Received: no retry follows"}},
		}}
	}
}

// exampleFailure is the code of a failed job in the examples: the
// workers' generation_failed (the HTTP layer does not import them).
const exampleFailure = "generation_failed"

// webhookExample is an example body of event typ for the OpenAPI document.
func webhookExample(typ string) WebhookEvent {
	id := "0193a8e2-c4f3-7c2a-9b1d-5e6f7a8b9c0d"
	base := "https://avatar.example.com"
	created := time.Date(2026, 12, 3, 9, 30, 0, 0, time.UTC)
	started, finished := created.Add(4*time.Second), created.Add(21*time.Second)
	j := Job{ID: id, State: "completed", Progress: 1, Attempt: 1, Prompt: "A woman speaking calmly", Width: 512, Height: 512, FPS: 25,
		AudioSeconds: 12.04, CreatedAt: created, StartedAt: &started, FinishedAt: &finished, BilledSeconds: 16.9, CostUSD: 0.003211,
		Links: JobLinks{Status: base + "/status/" + id, Result: base + "/result/" + id, Cancel: base + "/cancel/" + id}}
	e := WebhookEvent{Type: typ, Timestamp: finished, Data: WebhookJob{Job: j}}
	switch typ {
	case "job.completed":
		expires := finished.Add(7 * 24 * time.Hour)
		j.ExpiresAt = &expires
		e.Data.Job = j
		e.Data.Result = &Result{ID: id, URL: base + "/files/results/" + id + "-1.mp4?expires=1764757821&filename=avatar-" + id + ".mp4&sig=9f1c2e7a5b3d4c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a", URLExpiresAt: finished.Add(time.Hour),
			ExpiresAt: expires, DurationSeconds: 12.04, SizeBytes: 1843200, Width: 512, Height: 512, FPS: 25, ContentType: "video/mp4",
			BilledSeconds: 16.9, CostUSD: 0.003211}
	case "job.started":
		j.State, j.Progress, j.FinishedAt, j.BilledSeconds, j.CostUSD = "processing", 0, nil, 0, 0
		e.Data.Job, e.Timestamp = j, started
	case "job.failed":
		j.State, j.Error = "failed", &JobError{Code: exampleFailure, Message: "the video could not be generated; the error was logged"}
		e.Data.Job = j
	case "job.cancelled":
		j.State, j.Progress = "cancelled", 0.4
		e.Data.Job = j
	case "job.expired":
		deadline := created.Add(60 * time.Second)
		j.State, j.Progress, j.Attempt, j.StartedAt, j.FinishedAt, j.BilledSeconds, j.CostUSD = "expired", 0, 0, nil, &deadline, 0, 0
		j.QueueDeadline = &deadline
		j.Error = &JobError{Code: job.CodeQueueDeadline, Message: "the job was not started within its max_queue_seconds"}
		e.Data.Job, e.Timestamp = j, deadline
	}
	return e
}
