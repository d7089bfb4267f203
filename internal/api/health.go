package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/avatar-api/avatar-api/internal/problem"
)

type healthOutput struct {
	Body struct {
		Status string `json:"status" example:"ok"`
	}
}

func opHealth() huma.Operation {
	return huma.Operation{
		OperationID: "health", Tags: []string{"Operations"},
		Summary: "Liveness", Description: "200 while the process serves HTTP. Needs no key.",
	}
}

func (a *api) health(context.Context, *struct{}) (*healthOutput, error) {
	out := &healthOutput{}
	out.Body.Status = "ok"
	return out, nil
}

type readyInput struct{ req *http.Request }

func (in *readyInput) Resolve(ctx huma.Context) []error {
	in.req, _ = humago.Unwrap(ctx)
	return nil
}

type readyOutput struct {
	Body struct {
		Status string            `json:"status" enum:"ready" example:"ready"`
		Checks map[string]string `json:"checks" doc:"Each dependency: ok, or what is wrong"`
	}
}

func opReady() huma.Operation {
	return huma.Operation{
		OperationID: "ready", Tags: []string{"Operations"},
		Summary:     "Readiness",
		Description: "200 when the database, queue, storage and ffmpeg all answer; 503 with the failing checks otherwise. Needs no key.",
		Errors:      []int{503},
	}
}

// reportReadiness makes /ready's checks a metric too
// (avatar_ready_check_ok), read at scrape time, so that an outage shows in
// Prometheus while it lasts, and not only to whatever polls /ready.
func (a *api) reportReadiness() {
	if a.Metrics == nil || a.Ready == nil {
		return
	}
	a.Metrics.SetReadySource(func(ctx context.Context) map[string]string {
		r, err := http.NewRequestWithContext(ctx, http.MethodGet, "/ready", nil)
		if err != nil {
			return nil
		}
		return a.Ready(r)
	})
}

func (a *api) ready(_ context.Context, in *readyInput) (*readyOutput, error) {
	checks := a.Ready(in.req)
	for name, v := range checks {
		if v != "ok" && !strings.HasPrefix(v, "degraded") { // degraded still serves
			p := problem.Newf(http.StatusServiceUnavailable, CodeUnavailable, "%s: %s", name, v)
			for n, c := range checks {
				p.Errors = append(p.Errors, problem.Detail{Location: n, Message: c})
			}
			return nil, p
		}
	}
	out := &readyOutput{}
	out.Body.Status, out.Body.Checks = "ready", checks
	return out, nil
}
