package stats

import (
	"context"
	"fmt"
	"time"

	"github.com/avatar-api/avatar-api/internal/store"
)

// Report is the usage report of a span of time (`avatar-api report`): the
// story's log-analysis helpers, read from the database.
type Report struct {
	From              time.Time         `json:"from"`
	To                time.Time         `json:"to"`
	Submitted         int64             `json:"submitted"`
	Completed         int64             `json:"completed"`
	Failed            int64             `json:"failed"`
	Cancelled         int64             `json:"cancelled"`
	SuccessRatio      *float64          `json:"success_ratio"`
	GenerationSeconds PercentileSeconds `json:"generation_seconds"`
	BilledSeconds     float64           `json:"billed_seconds"`
	CostUSD           float64           `json:"cost_usd"`
	TopByUsage        []CustomerUsage   `json:"top_customers_by_usage"`
	TopByCost         []CustomerCost    `json:"top_customers_by_cost"`
	ErrorCodes        []ErrorCount      `json:"error_codes"`
	Slowest           []SlowJob         `json:"slowest_jobs"`
	// ToDate is the cost of today and of the month so far, whatever the
	// span, in the cost time zone (set by the caller: CostAt).
	ToDate *ToDate `json:"to_date,omitempty"`
}

// ToDate is the cost of the calendar day and month of the report's end.
type ToDate struct {
	Timezone    string           `json:"timezone"`
	TodayUSD    float64          `json:"today_usd"`
	MonthUSD    float64          `json:"month_usd"`
	ForecastUSD float64          `json:"forecast_usd"`
	Customers   []CustomerToDate `json:"customers"`
}

// ToDateOf is c as the report shows it.
func ToDateOf(c Cost, loc *time.Location) *ToDate {
	return &ToDate{Timezone: loc.String(), TodayUSD: c.Today.USD(), MonthUSD: c.Month.USD(), ForecastUSD: c.Forecast.USD(), Customers: c.Customers}
}

// CustomerUsage is what one customer submitted in the span and how it
// ended (what it cost is in the charges: TopByCost).
type CustomerUsage struct {
	Customer  string `json:"customer"`
	Submitted int64  `json:"submitted"`
	Completed int64  `json:"completed"`
	Failed    int64  `json:"failed"`
	Cancelled int64  `json:"cancelled"`
}

// ErrorCount is how many jobs failed with one code.
type ErrorCount struct {
	Code string `json:"code"`
	Jobs int64  `json:"jobs"`
}

// SlowJob is one of the jobs that took longest to generate.
type SlowJob struct {
	JobID             string    `json:"job_id"`
	Customer          string    `json:"customer"`
	GenerationSeconds float64   `json:"generation_seconds"`
	AudioSeconds      float64   `json:"audio_seconds"`
	Worker            string    `json:"worker"`
	FinishedAt        time.Time `json:"finished_at"`
}

// ReportOf reads the report of w: the jobs that ended in it (outcomes,
// generation times, errors, the slowest), the jobs submitted in it (per
// customer), and the charges made in it (cost, per customer). top bounds
// each list.
func ReportOf(ctx context.Context, h store.History, w store.Window, top int) (*Report, error) {
	r := &Report{From: w.From, To: w.To, TopByUsage: []CustomerUsage{}, TopByCost: []CustomerCost{},
		ErrorCodes: []ErrorCount{}, Slowest: []SlowJob{}}
	var err error
	if r.Submitted, err = h.Submitted(ctx, w); err != nil {
		return nil, fmt.Errorf("counting submissions: %w", err)
	}
	outcomes, err := h.Outcomes(ctx, store.BucketParams{Window: w, Step: day})
	if err != nil {
		return nil, fmt.Errorf("counting outcomes: %w", err)
	}
	for _, o := range outcomes {
		switch o.State {
		case store.StateCompleted:
			r.Completed += o.Jobs
		case store.StateFailed:
			r.Failed += o.Jobs
		case store.StateCancelled:
			r.Cancelled += o.Jobs
		}
	}
	if ended := r.Completed + r.Failed; ended > 0 {
		r.SuccessRatio = ptr(float64(r.Completed) / float64(ended))
	}
	runs, err := h.RunTimes(ctx, w)
	if err != nil {
		return nil, fmt.Errorf("reading run times: %w", err)
	}
	all := make([]time.Duration, len(runs))
	for i, run := range runs {
		all[i] = run.Run
	}
	r.GenerationSeconds = percentiles(all).Seconds()
	billed, cost, err := h.ChargedIn(ctx, w)
	if err != nil {
		return nil, fmt.Errorf("summing charges: %w", err)
	}
	r.BilledSeconds, r.CostUSD = billed.Seconds(), cost.USD()
	if err := r.lists(ctx, h, w, top); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Report) lists(ctx context.Context, h store.History, w store.Window, top int) error {
	usage, err := h.UsageByOwner(ctx, w, top)
	if err != nil {
		return fmt.Errorf("counting jobs per customer: %w", err)
	}
	for _, u := range usage {
		r.TopByUsage = append(r.TopByUsage, CustomerUsage{Customer: store.OwnerCustomer(u.Owner), Submitted: u.Submitted,
			Completed: u.Completed, Failed: u.Failed, Cancelled: u.Cancelled})
	}
	costs, err := h.CostByOwner(ctx, w, top)
	if err != nil {
		return fmt.Errorf("summing costs per customer: %w", err)
	}
	for _, c := range costs {
		r.TopByCost = append(r.TopByCost, CustomerCost{Customer: store.OwnerCustomer(c.Owner), Jobs: c.Jobs,
			BilledSeconds: c.Billed.Seconds(), CostUSD: c.Cost.USD()})
	}
	codes, err := h.ErrorCodes(ctx, w, top)
	if err != nil {
		return fmt.Errorf("counting error codes: %w", err)
	}
	for _, c := range codes {
		r.ErrorCodes = append(r.ErrorCodes, ErrorCount{Code: c.Code, Jobs: c.Count})
	}
	slow, err := h.Slowest(ctx, w, top)
	if err != nil {
		return fmt.Errorf("listing the slowest jobs: %w", err)
	}
	for _, j := range slow {
		r.Slowest = append(r.Slowest, SlowJob{JobID: j.ID, Customer: store.OwnerCustomer(j.Owner),
			GenerationSeconds: j.RunTime.Seconds(), AudioSeconds: j.AudioDuration.Seconds(), Worker: j.Worker, FinishedAt: *j.FinishedAt})
	}
	return nil
}
