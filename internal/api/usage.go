package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/avatar-api/avatar-api/internal/problem"
	"github.com/avatar-api/avatar-api/internal/stats"
)

// usageReader answers a customer's usage report (stats.Service, the
// dashboard's Monitor, which holds the history and the cost time zone).
type usageReader interface {
	Usage(ctx context.Context, r stats.UsageRequest) (*stats.Usage, error)
}

// UsageFigures are one bucket's figures, or the totals.
type UsageFigures struct {
	Start         time.Time `json:"start" doc:"The bucket's first instant, in the cost time zone"`
	End           time.Time `json:"end" doc:"The next bucket's first instant"`
	Requests      int64     `json:"requests" doc:"API requests your keys made that the service answered (any route and status, once the key was valid; its own health and metrics routes aside), counted per minute: up to a few seconds late, and kept as long as the service's monitoring history (METRICS_RETENTION)"`
	JobsSubmitted int64     `json:"jobs_submitted" doc:"Jobs created in the bucket"`
	Completed     int64     `json:"completed" doc:"Jobs that ended in the bucket with a video still available"`
	Expired       int64     `json:"expired" doc:"Jobs that ended in the bucket with a video, deleted since (completed, then expired)"`
	Lapsed        int64     `json:"lapsed" doc:"Jobs that expired in the queue, not started within their max_queue_seconds (no video, not billed)"`
	Failed        int64     `json:"failed"`
	Cancelled     int64     `json:"cancelled"`
	VideoSeconds  float64   `json:"video_seconds" doc:"Length of the videos of the completed and expired jobs"`
	BilledSeconds float64   `json:"billed_seconds" doc:"Generation time billed in the bucket (all runs, retried ones included)"`
	CostUSD       float64   `json:"cost_usd"`
}

// Usage is a customer's usage report.
type Usage struct {
	From        time.Time      `json:"from" doc:"The report's first instant (the range widened to whole buckets)"`
	To          time.Time      `json:"to" doc:"The instant after its last bucket"`
	Granularity string         `json:"granularity" enum:"day,hour"`
	Timezone    string         `json:"timezone" doc:"The cost time zone the buckets follow (COST_TIMEZONE)"`
	Buckets     []UsageFigures `json:"buckets" doc:"Every bucket of the range, oldest first, empty ones included"`
	Total       UsageFigures   `json:"total"`
}

type usageInput struct {
	From        string `query:"from" doc:"RFC 3339 time or date (YYYY-MM-DD, in the cost time zone); default: 29 days before to's day, at midnight"`
	To          string `query:"to" doc:"RFC 3339 time (exclusive) or date (included); default: now"`
	Granularity string `query:"granularity" enum:"day,hour" default:"day" doc:"Buckets: days (at most 400 days) or hours (at most 31 days)"`
}

type usageOutput struct{ Body Usage }

func opUsage() huma.Operation {
	return huma.Operation{
		OperationID: "usage",
		Summary:     "Your usage", Tags: []string{"Usage"},
		Description: "Your jobs and what they were billed, per day or hour of the service's cost time zone, and the totals. 422 for a range that is reversed, too long or unreadable.",
		Errors:      []int{422, 503},
	}
}

func (a *api) usage(ctx context.Context, in *usageInput) (*usageOutput, error) {
	ur, ok := a.Monitor.(usageReader)
	if !ok {
		return nil, problem.New(http.StatusNotFound, CodeNotFound, "usage reports are not enabled")
	}
	u, err := ur.Usage(ctx, stats.UsageRequest{Owner: owner(ctx), From: in.From, To: in.To, Hourly: in.Granularity == "hour"})
	if errors.Is(err, stats.ErrUsageRange) {
		return nil, problem.New(http.StatusUnprocessableEntity, CodeInvalidRequest, err.Error())
	}
	if err != nil {
		a.Log.ErrorContext(ctx, "reading a usage report failed", "error", err)
		return nil, problem.New(http.StatusServiceUnavailable, CodeUnavailable, "the figures could not be read; try again")
	}
	out := &usageOutput{Body: Usage{From: u.From.In(u.Location), To: u.To.In(u.Location), Granularity: "day", Timezone: u.Location.String(),
		Buckets: make([]UsageFigures, len(u.Buckets)), Total: usageFigures(u.Total, u.Location)}}
	if u.Hourly {
		out.Body.Granularity = "hour"
	}
	for i, b := range u.Buckets {
		out.Body.Buckets[i] = usageFigures(b, u.Location)
	}
	return out, nil
}

func usageFigures(f stats.UsageFigures, loc *time.Location) UsageFigures {
	return UsageFigures{Start: f.Start.In(loc), End: f.End.In(loc), Requests: f.Requests, JobsSubmitted: f.Submitted,
		Completed: f.Completed, Expired: f.Expired, Lapsed: f.Lapsed, Failed: f.Failed, Cancelled: f.Cancelled,
		VideoSeconds: millis(f.Video), BilledSeconds: millis(f.Billed), CostUSD: f.Cost.USD()}
}
