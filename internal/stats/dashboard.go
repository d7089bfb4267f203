// Package stats reads monitoring's history (store.History) into what the
// operator looks at: the dashboard's figures and charts, the cost of the
// day and the month with a forecast, and the usage report. Figures come
// from the jobs, their charges and the rollups, never from Prometheus, so
// that the embedded service keeps and shows its own history.
package stats

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
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

// What the GPU panel says when it has nothing to draw: no worker has
// had a GPU in the last 30 days, or they have but ran no job in the range
// (GPUs are read while they run jobs).
const (
	NoGPU   = "no GPU workers — CPU generator"
	IdleGPU = "no GPU readings in this range: the GPUs ran no job"
	// NoRunPodGPU: with BACKEND=runpod, RunPod's workers bring their GPU
	// readings back with each job they complete.
	NoRunPodGPU = "no GPU readings yet: RunPod's workers report theirs with each job they complete"
)

// Query is what a dashboard refresh asks for.
type Query struct {
	Range    Range
	Now      time.Time
	Location *time.Location // COST_TIMEZONE: days and months are counted in it
	Price    store.NanoUSD  // the price a second of the service's backend (shown)
	Budget   *store.NanoUSD // the month's budget, once one is set
	// Retention is METRICS_RETENTION: rollups older than that are pruned,
	// so a process that cached them does not show them either (0: kept).
	Retention time.Duration
	// RunPod is the RunPod endpoint's health as last read; nil: the
	// backend is not RunPod.
	RunPod *RunPodHealth
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
	TopCustomers   []TopCustomer   `json:"top_customers"`
	RecentFailures []Failure       `json:"recent_failures"`
	RunPod         *RunPodPanel    `json:"runpod" doc:"The RunPod endpoint's workers and queue as last read; null unless BACKEND=runpod"`
	Alerts         *AlertsPanel    `json:"alerts" doc:"Firing alerts, alert channels and the spending cap"`
	Webhooks       *WebhooksPanel  `json:"webhooks" doc:"Customers whose webhook endpoints failed in the last 24 h, whatever the range; null when the service does not read webhook deliveries"`
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
	// Customers are the ten customers who cost most this month, with their
	// cost of today and of the month so far.
	Customers []CustomerToDate `json:"customers"`
}

// CustomerToDate is one customer's cost of today and of the month so far.
type CustomerToDate struct {
	Customer string  `json:"customer"`
	TodayUSD float64 `json:"today_usd"`
	MonthUSD float64 `json:"month_usd"`
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

// CustomerCost is one customer's charges over a report's span.
type CustomerCost struct {
	Customer      string  `json:"customer"`
	Jobs          int64   `json:"jobs"`
	BilledSeconds float64 `json:"billed_seconds"`
	CostUSD       float64 `json:"cost_usd"`
}

// TopCustomer is one customer's charges over the range, and its cost of
// today and of the month so far (days and months in the cost time zone).
type TopCustomer struct {
	Customer      string  `json:"customer"`
	Runs          int64   `json:"runs" doc:"Runs of generations billed (a job retried is billed per run)"`
	BilledSeconds float64 `json:"billed_seconds"`
	CostUSD       float64 `json:"cost_usd"`
	TodayUSD      float64 `json:"today_usd"`
	MonthUSD      float64 `json:"month_usd"`
}

// Failure is one failed job.
type Failure struct {
	JobID    string    `json:"job_id"`
	Customer string    `json:"customer"`
	Code     string    `json:"code"`
	Message  string    `json:"message"`
	At       time.Time `json:"at"`
}

// Fetch reads one refresh of the dashboard, every figure from the
// database (Service.Dashboard keeps what is over in a cache).
func Fetch(ctx context.Context, h store.History, q Query) (*Dashboard, error) {
	return fetch(ctx, h, q, &quarters{})
}

// fetch reads one refresh of the dashboard. Ranges in steps of a quarter
// of an hour or more, the request panels and the day's and month's cost
// are made of quarter-hours, those over for good read from cache; shorter
// steps are read as they are.
func fetch(ctx context.Context, h store.History, q Query, cache *quarters) (*Dashboard, error) {
	r, loc := q.Range, q.Location
	g := newGrid(q.Now, r.Step, int(r.Span/r.Step), loc)
	w := store.Window{From: g.from(), To: g.end}
	d := &Dashboard{
		GeneratedAt: q.Now.UTC(), Range: r.Name, From: w.From.UTC(), To: w.To.UTC(),
		StepSeconds: int64(r.Step / time.Second), Timezone: loc.String(),
		Workers: []WorkerFigures{}, TopCustomers: []TopCustomer{}, RecentFailures: []Failure{},
		RunPod: runpodPanel(q.RunPod),
	}
	// The panels of days reach back 30 local days; one span of quarters
	// serves them, the cost and, for the long ranges, the range itself.
	daily := newGrid(q.Now, day, 30, loc)
	c, err := costAt(ctx, h, q.Now, loc)
	if err != nil {
		return nil, err
	}
	first := daily.from()
	if c.MonthStart.Before(first) {
		first = c.MonthStart
	}
	if w.From.Before(first) {
		first = w.From
	}
	quarters, err := cache.span(ctx, h, first, g.end, q.Now)
	if err != nil {
		return nil, err
	}
	quarters = withoutPruned(quarters, q)
	d.cost(quarters, c, q)
	d.Requests.Hourly = requestSeries(newGrid(q.Now, hour, 48, loc), quarters)
	d.Requests.Daily = requestSeries(daily, quarters)
	slots := quarters
	if r.Step < quarter {
		if slots, err = loadSlots(ctx, h, w, r.Step); err != nil {
			return nil, err
		}
	}
	d.fill(g, slots, q.Now)
	d.customersToday(quarters, c)
	if len(d.GPU.Workers) == 0 && slices.ContainsFunc(quarters, func(s *slot) bool { return len(s.gpus) > 0 }) {
		d.GPU.Message = IdleGPU
	}
	if err := d.queue(ctx, h); err != nil {
		return nil, err
	}
	return d, d.failures(ctx, h, w)
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

// fill sums the slots of the grid into the range's figures and series:
// outcomes, submissions, percentiles (exact: of the run times themselves),
// cost per step, GPUs, workers and customers.
func (d *Dashboard) fill(g grid, slots []*slot, now time.Time) {
	n := len(g.starts)
	s := &d.Series
	s.T, s.Completed, s.Failed, s.Cancelled = g.unix(), make([]int64, n), make([]int64, n), make([]int64, n)
	s.P50, s.P95, s.P99, s.CostUSD = make([]*float64, n), make([]*float64, n), make([]*float64, n), make([]float64, n)
	cost := make([]store.NanoUSD, n)
	runs := make([][]time.Duration, n)
	var all []time.Duration
	owners := map[string]*ownerSum{}
	workers := map[string]*store.WorkerUse{}
	gpus := map[gpuKey]*[4][]float64{} // sums and counts of utilisation and memory, per step
	var gpuOrder []gpuKey
	for _, sl := range slots {
		i := g.index(sl.start)
		if i < 0 {
			continue
		}
		s.Completed[i] += sl.outcomes[store.StateCompleted]
		s.Failed[i] += sl.outcomes[store.StateFailed]
		s.Cancelled[i] += sl.outcomes[store.StateCancelled]
		d.Jobs.Submitted += sl.submitted
		cost[i] += sl.cost
		runs[i] = append(runs[i], sl.runs...)
		all = append(all, sl.runs...)
		for o, b := range sl.owners {
			c := owners[o]
			if c == nil {
				c = &ownerSum{}
				owners[o] = c
			}
			c.runs += b.Runs
			c.billed += b.Billed
			c.cost += b.Cost
		}
		for name, b := range sl.workers {
			u := workers[name]
			if u == nil {
				u = &store.WorkerUse{Worker: name}
				workers[name] = u
			}
			u.Capacity += b.Capacity
			u.Busy += b.Busy
			if b.LastMinute.After(u.LastSeen) {
				u.LastSeen = b.LastMinute
			}
		}
		for k, b := range sl.gpus {
			v := gpus[k]
			if v == nil {
				v = &[4][]float64{make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)}
				gpus[k] = v
				gpuOrder = append(gpuOrder, k)
			}
			v[0][i] += b.UtilizationSum
			v[1][i] += float64(b.UtilizationCount)
			v[2][i] += b.MemoryRatioSum
			v[3][i] += float64(b.MemoryRatioCount)
		}
	}
	for i := range n {
		d.Jobs.Completed += s.Completed[i]
		d.Jobs.Failed += s.Failed[i]
		d.Jobs.Cancelled += s.Cancelled[i]
		s.CostUSD[i] = cost[i].USD()
		if len(runs[i]) > 0 {
			p := percentiles(runs[i])
			s.P50[i], s.P95[i], s.P99[i] = ptr(p.P50.Seconds()), ptr(p.P95.Seconds()), ptr(p.P99.Seconds())
		}
	}
	if ended := d.Jobs.Completed + d.Jobs.Failed; ended > 0 {
		d.Jobs.SuccessRatio = ptr(float64(d.Jobs.Completed) / float64(ended))
	}
	d.Jobs.GenerationSeconds = percentiles(all).Seconds()
	d.GPU.Workers = []GPUSeries{}
	slices.SortFunc(gpuOrder, func(a, b gpuKey) int { return cmp.Or(cmp.Compare(a.worker, b.worker), cmp.Compare(a.gpu, b.gpu)) })
	for _, k := range gpuOrder {
		v := gpus[k]
		d.GPU.Workers = append(d.GPU.Workers, GPUSeries{Worker: k.worker, GPU: k.gpu, Utilization: means(v[0], v[1]), MemoryUsedRatio: means(v[2], v[3])})
	}
	if len(gpuOrder) == 0 {
		d.GPU.Message = NoGPU
		if d.RunPod != nil {
			d.GPU.Message = NoRunPodGPU
		}
	}
	d.workers(workers, now)
	d.customers(owners)
}

// workers lists each worker's busy ratio over the range, by name.
func (d *Dashboard) workers(use map[string]*store.WorkerUse, now time.Time) {
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
	slices.SortFunc(d.Workers, func(a, b WorkerFigures) int { return cmp.Compare(a.Worker, b.Worker) })
}

// ownerSum is one owner's charges, summed exactly.
type ownerSum struct {
	runs   int64
	billed time.Duration
	cost   store.NanoUSD
}

// customers keeps the ten customers who cost most over the range.
func (d *Dashboard) customers(owners map[string]*ownerSum) {
	for o, c := range owners {
		d.TopCustomers = append(d.TopCustomers, TopCustomer{Customer: store.OwnerCustomer(o), Runs: c.runs,
			BilledSeconds: c.billed.Seconds(), CostUSD: c.cost.USD()})
	}
	slices.SortFunc(d.TopCustomers, func(a, b TopCustomer) int {
		return cmp.Or(cmp.Compare(b.CostUSD, a.CostUSD), cmp.Compare(b.BilledSeconds, a.BilledSeconds), cmp.Compare(a.Customer, b.Customer))
	})
	d.TopCustomers = d.TopCustomers[:min(len(d.TopCustomers), 10)]
}

// withoutPruned is the quarters with the rollups (requests, workers'
// time, GPU readings) of those that METRICS_RETENTION has pruned since
// they were cached left out: every process shows the same history.
func withoutPruned(quarters []*slot, q Query) []*slot {
	if q.Retention <= 0 {
		return quarters
	}
	oldest := q.Now.Add(-q.Retention)
	out := make([]*slot, len(quarters))
	for i, s := range quarters {
		if s.start.Add(quarter).After(oldest) {
			out[i] = s
			continue
		}
		c := *s
		c.requests, c.workers, c.gpus = nil, nil, nil
		out[i] = &c
	}
	return out
}

// customersToday adds to the top customers their cost of today and of the
// month so far.
func (d *Dashboard) customersToday(quarters []*slot, c Cost) {
	for i := range d.TopCustomers {
		tc := &d.TopCustomers[i]
		owner := store.CustomerOwner(tc.Customer)
		var today, month store.NanoUSD
		for _, s := range quarters {
			if b := s.owners[owner]; b != nil && !s.start.Before(c.MonthStart) {
				month += b.Cost
				if !s.start.Before(c.DayStart) {
					today += b.Cost
				}
			}
		}
		tc.TodayUSD, tc.MonthUSD = today.USD(), month.USD()
	}
}

// cost fills the day's and month's cost: from the quarters since their
// start (local midnight and the first of the month: whole quarters), and
// the forecast from the last 24 hours.
func (d *Dashboard) cost(quarters []*slot, c Cost, q Query) {
	for _, s := range quarters {
		if !s.start.Before(c.MonthStart) {
			c.Month += s.cost
			c.MonthBilled += s.billed
		}
		if !s.start.Before(c.DayStart) {
			c.Today += s.cost
			c.TodayBilled += s.billed
		}
	}
	c.Forecast = Forecast(c.Month, c.Last24h, c.MonthEnd.Sub(q.Now))
	d.Cost = CostFigures{
		TodayUSD: c.Today.USD(), MonthUSD: c.Month.USD(), ForecastUSD: c.Forecast.USD(),
		TodayBilledSeconds: c.TodayBilled.Seconds(), MonthBilledSeconds: c.MonthBilled.Seconds(),
		PricePerSecondUSD: q.Price.USD(), Customers: []CustomerToDate{},
	}
	today, month := map[string]store.NanoUSD{}, map[string]store.NanoUSD{}
	for _, s := range quarters {
		if s.start.Before(c.MonthStart) {
			continue
		}
		for o, b := range s.owners {
			month[o] += b.Cost
			if !s.start.Before(c.DayStart) {
				today[o] += b.Cost
			}
		}
	}
	d.Cost.Customers = topToDate(today, month, 10)
	if q.Budget != nil {
		d.Cost.BudgetUSD = ptr(q.Budget.USD())
	}
}

// topToDate is the n customers who cost most this month, with their cost
// of today.
func topToDate(today, month map[string]store.NanoUSD, n int) []CustomerToDate {
	owners := slices.Collect(maps.Keys(month))
	slices.SortFunc(owners, func(a, b string) int { return cmp.Or(cmp.Compare(month[b], month[a]), cmp.Compare(a, b)) })
	out := []CustomerToDate{}
	for _, o := range owners[:min(n, len(owners))] {
		out = append(out, CustomerToDate{Customer: store.OwnerCustomer(o), TodayUSD: today[o].USD(), MonthUSD: month[o].USD()})
	}
	return out
}

// requestSeries sums the quarters' requests into the grid's steps.
func requestSeries(g grid, quarters []*slot) RequestSeries {
	n := len(g.starts)
	s := RequestSeries{T: g.unix(), C2: make([]int64, n), C3: make([]int64, n), C4: make([]int64, n), C5: make([]int64, n)}
	for _, q := range quarters {
		i := g.index(q.start)
		if i < 0 {
			continue
		}
		s.C2[i] += q.requests["2xx"]
		s.C3[i] += q.requests["3xx"]
		s.C4[i] += q.requests["4xx"]
		s.C5[i] += q.requests["5xx"]
	}
	return s
}

// failures lists the range's most recent failures.
func (d *Dashboard) failures(ctx context.Context, h store.History, w store.Window) error {
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
