// Package stats reads monitoring's history (store.History) into what the
// operator looks at: the dashboard's figures and charts, the cost of the
// day and the month with a forecast, and the usage report. Figures come
// from the jobs, their charges and the rollups, never from Prometheus, so
// that the embedded service keeps and shows its own history.
package stats

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/avatar-api/avatar-api/internal/store"
)

// Range is a span the dashboard shows, and the step of its charts.
type Range struct {
	Name string
	Span time.Duration
	Step time.Duration
}

// Ranges are the spans the dashboard offers, shortest first.
var Ranges = []Range{
	{"1h", time.Hour, time.Minute},
	{"6h", 6 * time.Hour, 5 * time.Minute},
	{"24h", 24 * time.Hour, 15 * time.Minute},
	{"7d", 7 * day, hour},
	{"30d", 30 * day, day},
}

// DefaultRange is the span the dashboard opens with.
const DefaultRange = "24h"

// RangeNamed is the range called name.
func RangeNamed(name string) (Range, bool) {
	for _, r := range Ranges {
		if r.Name == name {
			return r, true
		}
	}
	return Range{}, false
}

// NoGPU is what the GPU panel says when no worker has a GPU.
const NoGPU = "no GPU workers — CPU generator"

// Query is what a dashboard refresh asks for.
type Query struct {
	Range    Range
	Now      time.Time
	Location *time.Location // COST_TIMEZONE: days and months are counted in it
	Price    store.NanoUSD  // the price a second of the service's backend (shown)
	Budget   *store.NanoUSD // the month's budget, once one is set
}

// Dashboard is every figure of one refresh of the dashboard, as the page
// reads it (JSON). Times are RFC 3339, chart times Unix seconds; a null
// number is one there is no data for.
type Dashboard struct {
	GeneratedAt    time.Time       `json:"generated_at"`
	Range          string          `json:"range"`
	From           time.Time       `json:"from"`
	To             time.Time       `json:"to"`
	StepSeconds    int64           `json:"step_seconds"`
	Timezone       string          `json:"timezone"`
	Now            QueueNow        `json:"now"`
	Jobs           JobFigures      `json:"jobs"`
	Cost           CostFigures     `json:"cost"`
	Series         Series          `json:"series"`
	GPU            GPUPanel        `json:"gpu"`
	Requests       RequestPanels   `json:"requests"`
	Workers        []WorkerFigures `json:"workers"`
	TopCustomers   []CustomerCost  `json:"top_customers"`
	RecentFailures []Failure       `json:"recent_failures"`
}

// QueueNow is the queue at the moment of the refresh.
type QueueNow struct {
	Queued  int64 `json:"queued"`
	Running int64 `json:"running"`
}

// JobFigures are the jobs of the range: how many were submitted and ended
// how, and the generation time of those completed.
type JobFigures struct {
	Submitted         int64             `json:"submitted"`
	Completed         int64             `json:"completed"`
	Failed            int64             `json:"failed"`
	Cancelled         int64             `json:"cancelled"`
	SuccessRatio      *float64          `json:"success_ratio"` // completed ÷ (completed + failed)
	GenerationSeconds PercentileSeconds `json:"generation_seconds"`
}

// CostFigures are the day's and the month's cost in the cost time zone.
type CostFigures struct {
	TodayUSD           float64  `json:"today_usd"`
	MonthUSD           float64  `json:"month_usd"`
	ForecastUSD        float64  `json:"forecast_usd"`
	TodayBilledSeconds float64  `json:"today_billed_seconds"`
	MonthBilledSeconds float64  `json:"month_billed_seconds"`
	BudgetUSD          *float64 `json:"budget_usd"`
	PricePerSecondUSD  float64  `json:"price_per_second_usd"`
}

// Series are the range's charts, one value per step.
type Series struct {
	T         []int64    `json:"t"`
	Completed []int64    `json:"completed"`
	Failed    []int64    `json:"failed"`
	Cancelled []int64    `json:"cancelled"`
	P50       []*float64 `json:"p50"`
	P95       []*float64 `json:"p95"`
	P99       []*float64 `json:"p99"`
	CostUSD   []float64  `json:"cost_usd"`
}

// GPUPanel is each GPU's mean utilisation per step, or why there is none.
type GPUPanel struct {
	Workers []GPUSeries `json:"workers"`
	Message string      `json:"message"`
}

// GPUSeries is one GPU of one worker over the range.
type GPUSeries struct {
	Worker          string     `json:"worker"`
	GPU             int        `json:"gpu"`
	Utilization     []*float64 `json:"utilization"`
	MemoryUsedRatio []*float64 `json:"memory_used_ratio"`
}

// RequestPanels are the API's requests per hour for 48 hours and per day
// for 30 days, by status class.
type RequestPanels struct {
	Hourly RequestSeries `json:"hourly"`
	Daily  RequestSeries `json:"daily"`
}

// RequestSeries is requests per step and status class.
type RequestSeries struct {
	T  []int64 `json:"t"`
	C2 []int64 `json:"2xx"`
	C3 []int64 `json:"3xx"`
	C4 []int64 `json:"4xx"`
	C5 []int64 `json:"5xx"`
}

// WorkerFigures is one worker's use over the range.
type WorkerFigures struct {
	Worker          string    `json:"worker"`
	BusyRatio       *float64  `json:"busy_ratio"`
	BusySeconds     float64   `json:"busy_seconds"`
	CapacitySeconds float64   `json:"capacity_seconds"`
	LastSeen        time.Time `json:"last_seen"`
}

// CustomerCost is one customer's charges over the range.
type CustomerCost struct {
	Customer      string  `json:"customer"`
	Jobs          int64   `json:"jobs"`
	BilledSeconds float64 `json:"billed_seconds"`
	CostUSD       float64 `json:"cost_usd"`
}

// Failure is one failed job.
type Failure struct {
	JobID    string    `json:"job_id"`
	Customer string    `json:"customer"`
	Code     string    `json:"code"`
	Message  string    `json:"message"`
	At       time.Time `json:"at"`
}

// Fetch reads one refresh of the dashboard.
func Fetch(ctx context.Context, h store.History, q Query) (*Dashboard, error) {
	r, loc := q.Range, q.Location
	g := newGrid(q.Now, r.Step, int(r.Span/r.Step), loc)
	w := store.Window{From: g.from(), To: g.end}
	d := &Dashboard{
		GeneratedAt: q.Now.UTC(), Range: r.Name, From: w.From.UTC(), To: w.To.UTC(),
		StepSeconds: int64(r.Step / time.Second), Timezone: loc.String(),
		Workers: []WorkerFigures{}, TopCustomers: []CustomerCost{}, RecentFailures: []Failure{},
	}
	for _, step := range []func() error{
		func() error { return d.queue(ctx, h) },
		func() error { return d.outcomes(ctx, h, g, w) },
		func() error { return d.runTimes(ctx, h, g, w) },
		func() error { return d.charges(ctx, h, g, q) },
		func() error { return d.gpu(ctx, h, g, w) },
		func() error { return d.requests(ctx, h, q.Now, loc) },
		func() error { return d.lists(ctx, h, w, q.Now) },
	} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (d *Dashboard) queue(ctx context.Context, h store.History) error {
	depths, err := h.QueueDepths(ctx)
	if err != nil {
		return fmt.Errorf("reading the queue: %w", err)
	}
	for _, q := range depths {
		d.Now.Queued += q.Queued
		d.Now.Running += q.Running
	}
	return nil
}

func (d *Dashboard) outcomes(ctx context.Context, h store.History, g grid, w store.Window) error {
	rows, err := h.Outcomes(ctx, store.BucketParams{Window: w, Step: base(stepOf(g))})
	if err != nil {
		return fmt.Errorf("counting outcomes: %w", err)
	}
	n := len(g.starts)
	s := &d.Series
	s.T, s.Completed, s.Failed, s.Cancelled = g.unix(), make([]int64, n), make([]int64, n), make([]int64, n)
	for _, o := range rows {
		i := g.index(o.Start)
		if i < 0 {
			continue
		}
		switch o.State {
		case store.StateCompleted:
			s.Completed[i] += o.Jobs
			d.Jobs.Completed += o.Jobs
		case store.StateFailed:
			s.Failed[i] += o.Jobs
			d.Jobs.Failed += o.Jobs
		case store.StateCancelled:
			s.Cancelled[i] += o.Jobs
			d.Jobs.Cancelled += o.Jobs
		}
	}
	if ended := d.Jobs.Completed + d.Jobs.Failed; ended > 0 {
		d.Jobs.SuccessRatio = ptr(float64(d.Jobs.Completed) / float64(ended))
	}
	d.Jobs.Submitted, err = h.Submitted(ctx, w)
	if err != nil {
		return fmt.Errorf("counting submissions: %w", err)
	}
	return nil
}

// runTimes computes the generation time percentiles, of the whole range
// and of each step, exactly, from the completed jobs' run times.
func (d *Dashboard) runTimes(ctx context.Context, h store.History, g grid, w store.Window) error {
	runs, err := h.RunTimes(ctx, w)
	if err != nil {
		return fmt.Errorf("reading run times: %w", err)
	}
	n := len(g.starts)
	perStep := make([][]time.Duration, n)
	all := make([]time.Duration, 0, len(runs))
	for _, r := range runs {
		all = append(all, r.Run)
		if i := g.index(r.FinishedAt); i >= 0 {
			perStep[i] = append(perStep[i], r.Run)
		}
	}
	d.Jobs.GenerationSeconds = percentiles(all).Seconds()
	s := &d.Series
	s.P50, s.P95, s.P99 = make([]*float64, n), make([]*float64, n), make([]*float64, n)
	for i, runs := range perStep {
		if len(runs) == 0 {
			continue
		}
		p := percentiles(runs)
		s.P50[i], s.P95[i], s.P99[i] = ptr(p.P50.Seconds()), ptr(p.P95.Seconds()), ptr(p.P99.Seconds())
	}
	return nil
}

func (d *Dashboard) charges(ctx context.Context, h store.History, g grid, q Query) error {
	rows, err := h.Charged(ctx, store.BucketParams{Window: store.Window{From: g.from(), To: g.end}, Step: base(stepOf(g))})
	if err != nil {
		return fmt.Errorf("summing charges: %w", err)
	}
	d.Series.CostUSD = make([]float64, len(g.starts))
	perStep := make([]store.NanoUSD, len(g.starts))
	for _, c := range rows {
		if i := g.index(c.Start); i >= 0 {
			perStep[i] += c.Cost
		}
	}
	for i, c := range perStep {
		d.Series.CostUSD[i] = c.USD()
	}
	c, err := CostAt(ctx, h, q.Now, q.Location)
	if err != nil {
		return err
	}
	d.Cost = CostFigures{
		TodayUSD: c.Today.USD(), MonthUSD: c.Month.USD(), ForecastUSD: c.Forecast.USD(),
		TodayBilledSeconds: c.TodayBilled.Seconds(), MonthBilledSeconds: c.MonthBilled.Seconds(),
		PricePerSecondUSD: q.Price.USD(),
	}
	if q.Budget != nil {
		d.Cost.BudgetUSD = ptr(q.Budget.USD())
	}
	return nil
}

func (d *Dashboard) gpu(ctx context.Context, h store.History, g grid, w store.Window) error {
	rows, err := h.GPU(ctx, store.BucketParams{Window: w, Step: base(stepOf(g))})
	if err != nil {
		return fmt.Errorf("reading GPU readings: %w", err)
	}
	type key struct {
		worker string
		gpu    int
	}
	type sums struct{ util, utilN, mem, memN []float64 }
	n := len(g.starts)
	byGPU := map[key]*sums{}
	var order []key
	for _, b := range rows {
		i := g.index(b.Start)
		if i < 0 {
			continue
		}
		k := key{b.Worker, b.GPU}
		s := byGPU[k]
		if s == nil {
			s = &sums{make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)}
			byGPU[k] = s
			order = append(order, k)
		}
		s.util[i] += b.UtilizationSum
		s.utilN[i] += float64(b.UtilizationCount)
		s.mem[i] += b.MemoryRatioSum
		s.memN[i] += float64(b.MemoryRatioCount)
	}
	d.GPU.Workers = []GPUSeries{}
	for _, k := range order {
		s := byGPU[k]
		d.GPU.Workers = append(d.GPU.Workers, GPUSeries{Worker: k.worker, GPU: k.gpu,
			Utilization: means(s.util, s.utilN), MemoryUsedRatio: means(s.mem, s.memN)})
	}
	if len(order) == 0 {
		d.GPU.Message = NoGPU
	}
	return nil
}

// requests fills the two request panels: 48 hours by the hour, 30 days by
// the day, whatever the range.
func (d *Dashboard) requests(ctx context.Context, h store.History, now time.Time, loc *time.Location) error {
	var err error
	if d.Requests.Hourly, err = requestSeries(ctx, h, newGrid(now, hour, 48, loc)); err != nil {
		return err
	}
	d.Requests.Daily, err = requestSeries(ctx, h, newGrid(now, day, 30, loc))
	return err
}

func requestSeries(ctx context.Context, h store.History, g grid) (RequestSeries, error) {
	rows, err := h.Requests(ctx, store.BucketParams{Window: store.Window{From: g.from(), To: g.end}, Step: 15 * time.Minute})
	if err != nil {
		return RequestSeries{}, fmt.Errorf("summing requests: %w", err)
	}
	n := len(g.starts)
	s := RequestSeries{T: g.unix(), C2: make([]int64, n), C3: make([]int64, n), C4: make([]int64, n), C5: make([]int64, n)}
	for _, r := range rows {
		i := g.index(r.Start)
		if i < 0 {
			continue
		}
		switch r.Class {
		case "2xx":
			s.C2[i] += r.Requests
		case "3xx":
			s.C3[i] += r.Requests
		case "4xx":
			s.C4[i] += r.Requests
		case "5xx":
			s.C5[i] += r.Requests
		}
	}
	return s, nil
}

// lists fills the workers, the top customers and the recent failures.
func (d *Dashboard) lists(ctx context.Context, h store.History, w store.Window, now time.Time) error {
	use, err := h.WorkerUse(ctx, w)
	if err != nil {
		return fmt.Errorf("reading worker time: %w", err)
	}
	for _, u := range use {
		// A rollup's minute is written to until it ends: the worker was
		// there at the end of its last minute, or now if that is later.
		seen := u.LastSeen.Add(time.Minute)
		if seen.After(now) {
			seen = now
		}
		f := WorkerFigures{Worker: u.Worker, BusySeconds: u.Busy.Seconds(), CapacitySeconds: u.Capacity.Seconds(), LastSeen: seen.UTC()}
		if u.Capacity > 0 {
			f.BusyRatio = ptr(min(1, u.Busy.Seconds()/u.Capacity.Seconds()))
		}
		d.Workers = append(d.Workers, f)
	}
	costs, err := h.CostByOwner(ctx, w, 10)
	if err != nil {
		return fmt.Errorf("summing costs per customer: %w", err)
	}
	for _, c := range costs {
		d.TopCustomers = append(d.TopCustomers, CustomerCost{Customer: store.OwnerCustomer(c.Owner), Jobs: c.Jobs,
			BilledSeconds: c.Billed.Seconds(), CostUSD: c.Cost.USD()})
	}
	failed, err := h.Failures(ctx, w, 20)
	if err != nil {
		return fmt.Errorf("listing failures: %w", err)
	}
	for _, j := range failed {
		d.RecentFailures = append(d.RecentFailures, Failure{JobID: j.ID, Customer: store.OwnerCustomer(j.Owner),
			Code: j.ErrorCode, Message: j.ErrorMessage, At: *j.FinishedAt})
	}
	return nil
}

// stepOf is a grid's step (its buckets' length, a day taken as 24 hours).
func stepOf(g grid) time.Duration {
	if len(g.starts) < 2 {
		return g.end.Sub(g.starts[0])
	}
	return min(g.starts[1].Sub(g.starts[0]), day)
}

func means(sum, n []float64) []*float64 {
	out := make([]*float64, len(sum))
	for i := range sum {
		if n[i] > 0 {
			out[i] = ptr(sum[i] / n[i])
		}
	}
	return out
}

func ptr(f float64) *float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}
