package api

import (
	"net/http"
	"reflect"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/avatar-api/avatar-api/internal/apikey"
	"github.com/avatar-api/avatar-api/internal/stats"
	"github.com/avatar-api/avatar-api/internal/webhook"
)

// examples are an example answer of each operation, by operation id: one
// realistic job seen through every route. A test checks that every
// operation has one and that each is valid against its schema.
func examples() map[string]any {
	completed := webhookExample("job.completed")
	job := completed.Data.Job
	queued := job
	pos, eta, zero := 2, 45.0, 0.0
	queued.State, queued.Progress, queued.Attempt, queued.StartedAt, queued.FinishedAt, queued.ExpiresAt = "queued", 0, 0, nil, nil, nil
	queued.QueuePosition, queued.QueueETA, queued.BilledSeconds, queued.CostUSD = &pos, &eta, zero, zero
	cancelled := queued
	cancelled.State, cancelled.QueuePosition, cancelled.QueueETA = "cancelled", nil, nil
	finished := job.CreatedAt.Add(9 * time.Second)
	cancelled.FinishedAt = &finished
	created := job.CreatedAt
	key := apikey.Key{ID: "0193a8e0-1b2c-7d3e-8f40-5a6b7c8d9e0f", Display: "av_live_Ab3x", Customer: "Acme Corp", Scopes: []string{"generate"},
		RateLimit: 0, CreatedBy: "cli:ops@host", CreatedAt: created.AddDate(0, -1, 0), Webhook: "https://hooks.acme.example/… #1f2e3d4c"}
	day := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	figures := UsageFigures{Start: day, End: day.AddDate(0, 0, 1), Requests: 431, JobsSubmitted: 12, Completed: 11, Failed: 1,
		VideoSeconds: 132.5, BilledSeconds: 41.2, CostUSD: 0.0078}
	delivery := webhook.Delivery{WebhookID: "msg_0193a8e2c4f37c2a9b1d5e6f7a8b9c0d", Event: "job.completed", Endpoint: "https://hooks.acme.example/… #1f2e3d4c",
		State: "delivered", EventAt: *job.FinishedAt, DeliveredAt: job.FinishedAt, Attempts: []webhook.Attempt{
			{At: job.FinishedAt.Add(40 * time.Millisecond), Status: 503, LatencyMS: 120, Error: `status 503 "busy"`},
			{At: job.FinishedAt.Add(5 * time.Second), Delivered: true, Status: 200, LatencyMS: 85},
		}}
	until := created.Add(24 * time.Hour)
	return map[string]any{
		"generate": queued,
		"status":   job,
		"cancel":   cancelled,
		"result":   *completed.Data.Result,
		"list-jobs": map[string]any{"jobs": []Job{job, cancelled},
			"next_cursor": cancelled.ID},
		"estimate": Estimate{VideoSeconds: 12.04, BilledSeconds: 3.612, PricePerSec: 0.00019, CostUSD: 0.000686, Width: 512, Height: 512, FPS: 25,
			Basis: EstimateBasis{Method: "recent", Jobs: 50, SameSize: true, PerVideo: 0.3}},
		"usage":                 Usage{From: day, To: day.AddDate(0, 0, 1), Granularity: "day", Timezone: "UTC", Buckets: []UsageFigures{figures}, Total: figures},
		"job-webhooks":          map[string]any{"webhooks": []webhook.Delivery{delivery}},
		"redeliver-webhook":     webhook.Delivery{WebhookID: delivery.WebhookID, Event: delivery.Event, Endpoint: delivery.Endpoint, State: "pending", EventAt: delivery.EventAt, Attempts: delivery.Attempts},
		"rotate-webhook-secret": webhook.Secret{Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw1hvLBKUbfOQ=", CreatedAt: created, PreviousUntil: &until},
		"webhook-secret":        webhook.SecretInfo{CreatedAt: created, PreviousUntil: &until},
		"whoami":                map[string]any{"key_id": key.ID, "customer": key.Customer, "scopes": key.Scopes, "rate_limit": 0},
		"create-key":            map[string]any{"key": "av_live_0123456789ABCDEFGHIJabcdefghij0123Ab3xYz", "record": key},
		"list-keys":             map[string]any{"keys": []apikey.Key{key}},
		"show-key": withEvents(key, []apikey.Event{
			{KeyID: key.ID, Action: "created", Actor: "cli:ops@host", At: key.CreatedAt},
			{KeyID: key.ID, Action: "updated", Actor: "key:0193a8e0-0000-7000-8000-000000000001", Detail: "rate_limit=500", At: key.CreatedAt.Add(48 * time.Hour)},
		}),
		"update-key":     key,
		"revoke-key":     revoked(key, created),
		"rotate-key":     map[string]any{"key": "av_live_9876543210ZYXWVUTSRQzyxwvutsrq9876Xy1zAb", "record": key},
		"health":         map[string]any{"status": "ok"},
		"ready":          map[string]any{"status": "ready", "checks": map[string]string{"database": "ok", "queue": "ok", "storage": "ok", "ffmpeg": "ok", "rate_limiter": "ok", "alerts": "ok"}},
		"dashboard-data": dashboardExample(created),
	}
}

// dashboardExample is the dashboard of an idle service: every panel
// there, every list empty.
func dashboardExample(at time.Time) stats.Dashboard {
	d := stats.Dashboard{GeneratedAt: at, Range: "24h", From: at.Add(-24 * time.Hour), To: at, StepSeconds: 3600, Timezone: "UTC"}
	fill(reflect.ValueOf(&d).Elem())
	d.Webhooks.Since = d.From
	return d
}

// fill gives every nil pointer, slice and map under v an empty value.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		fill(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.IsNil() {
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		}
	case reflect.Map:
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
	}
}

func withEvents(k apikey.Key, events []apikey.Event) any {
	out := struct {
		apikey.Key
		Events []apikey.Event `json:"events"`
	}{k, events}
	return out
}

func revoked(k apikey.Key, at time.Time) apikey.Key {
	k.RevokedAt = &at
	return k
}

// documentExamples puts each operation's example on its success answer.
func documentExamples(h huma.API) {
	ex := examples()
	for _, item := range h.OpenAPI().Paths {
		for _, op := range []*huma.Operation{item.Get, item.Post, item.Put, item.Patch, item.Delete} {
			if op == nil {
				continue
			}
			v, ok := ex[op.OperationID]
			if !ok {
				continue
			}
			status := op.DefaultStatus
			if status == 0 {
				status = http.StatusOK
			}
			if r := op.Responses[strconv.Itoa(status)]; r != nil && r.Content["application/json"] != nil {
				r.Content["application/json"].Example = v
			}
		}
	}
}
