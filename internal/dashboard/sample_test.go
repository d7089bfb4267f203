package dashboard

import (
	"math"
	"math/rand/v2"
	"time"
	_ "time/tzdata" // Europe/Berlin wherever the tests run
)

// data is the JSON the page polls, as the brief's contract has it: times
// in RFC 3339 except the Unix seconds of the t arrays; a nil number is
// null, where there is no data.
type data struct {
	GeneratedAt    time.Time     `json:"generated_at"`
	Range          string        `json:"range"`
	From           time.Time     `json:"from"`
	To             time.Time     `json:"to"`
	StepSeconds    int64         `json:"step_seconds"`
	Timezone       string        `json:"timezone"`
	Now            now           `json:"now"`
	Jobs           jobs          `json:"jobs"`
	Cost           cost          `json:"cost"`
	Series         series        `json:"series"`
	GPU            gpu           `json:"gpu"`
	Requests       requestTotals `json:"requests"`
	Workers        []worker      `json:"workers"`
	TopCustomers   []customer    `json:"top_customers"`
	RecentFailures []failure     `json:"recent_failures"`
	RunPod         *runpod       `json:"runpod"`   // null: not BACKEND=runpod
	Alerts         *alerts       `json:"alerts"`   // null: a server without alert state
	Webhooks       *webhooks     `json:"webhooks"` // null: a server without webhook health
}

type now struct {
	Queued  *float64 `json:"queued"`
	Running *float64 `json:"running"`
}

type jobs struct {
	Submitted         *float64  `json:"submitted"`
	Completed         *float64  `json:"completed"`
	Failed            *float64  `json:"failed"`
	Cancelled         *float64  `json:"cancelled"`
	SuccessRatio      *float64  `json:"success_ratio"`
	GenerationSeconds quantiles `json:"generation_seconds"`
}

type quantiles struct {
	Count *float64 `json:"count"`
	P50   *float64 `json:"p50"`
	P95   *float64 `json:"p95"`
	P99   *float64 `json:"p99"`
}

type cost struct {
	TodayUSD           *float64 `json:"today_usd"`
	MonthUSD           *float64 `json:"month_usd"`
	ForecastUSD        *float64 `json:"forecast_usd"`
	TodayBilledSeconds *float64 `json:"today_billed_seconds"`
	MonthBilledSeconds *float64 `json:"month_billed_seconds"`
	BudgetUSD          *float64 `json:"budget_usd"`
	PricePerSecondUSD  *float64 `json:"price_per_second_usd"`
}

type series struct {
	T         []int64    `json:"t"`
	Completed []*float64 `json:"completed"`
	Failed    []*float64 `json:"failed"`
	Cancelled []*float64 `json:"cancelled"`
	P50       []*float64 `json:"p50"`
	P95       []*float64 `json:"p95"`
	P99       []*float64 `json:"p99"`
	CostUSD   []*float64 `json:"cost_usd"`
}

type gpu struct {
	Workers []gpuWorker `json:"workers"`
	Message string      `json:"message"`
}

type gpuWorker struct {
	Worker          string     `json:"worker"`
	GPU             int        `json:"gpu"`
	Utilization     []*float64 `json:"utilization"`
	MemoryUsedRatio []*float64 `json:"memory_used_ratio"`
}

type requestTotals struct {
	Hourly statusCounts `json:"hourly"`
	Daily  statusCounts `json:"daily"`
}

type statusCounts struct {
	T   []int64    `json:"t"`
	S2x []*float64 `json:"2xx"`
	S3x []*float64 `json:"3xx"`
	S4x []*float64 `json:"4xx"`
	S5x []*float64 `json:"5xx"`
}

type worker struct {
	Worker          string    `json:"worker"`
	BusyRatio       *float64  `json:"busy_ratio"`
	BusySeconds     *float64  `json:"busy_seconds"`
	CapacitySeconds *float64  `json:"capacity_seconds"`
	LastSeen        time.Time `json:"last_seen"`
}

type customer struct {
	Customer      string   `json:"customer"`
	Runs          *float64 `json:"runs"`
	BilledSeconds *float64 `json:"billed_seconds"`
	CostUSD       *float64 `json:"cost_usd"`
	TodayUSD      *float64 `json:"today_usd"`
	MonthUSD      *float64 `json:"month_usd"`
}

type failure struct {
	JobID    string    `json:"job_id"`
	Customer string    `json:"customer"`
	Code     string    `json:"code"`
	Message  string    `json:"message"`
	At       time.Time `json:"at"`
}

// runpod is the RunPod endpoint's health as last read: workers and queue
// null until a read succeeds, failed_at set when the last read failed.
type runpod struct {
	Workers         *runpodWorkers `json:"workers"`
	Queue           *runpodQueue   `json:"queue"`
	ReadAt          *time.Time     `json:"read_at"`
	FailedAt        *time.Time     `json:"failed_at"`
	IntervalSeconds *float64       `json:"interval_seconds"`
}

type runpodWorkers struct {
	Idle         *float64 `json:"idle"`
	Initializing *float64 `json:"initializing"`
	Ready        *float64 `json:"ready"`
	Running      *float64 `json:"running"`
	Throttled    *float64 `json:"throttled"`
	Unhealthy    *float64 `json:"unhealthy"`
}

type runpodQueue struct {
	InQueue    *float64 `json:"in_queue"`
	InProgress *float64 `json:"in_progress"`
}

// alerts is the alerts' state: what fires, every channel, and the
// spending cap (null when none is set).
type alerts struct {
	Firing   []firingAlert  `json:"firing"`
	Channels []alertChannel `json:"channels"`
	Cap      *spendingCap   `json:"cap"`
}

type firingAlert struct {
	Key        string    `json:"key"`
	Rule       string    `json:"rule"`
	Severity   string    `json:"severity"`
	Summary    string    `json:"summary"`
	Since      time.Time `json:"since"`
	NotifiedAt time.Time `json:"notified_at"`
}

// alertChannel is a channel's deliveries; failing_since is null when its
// last attempt delivered or none was made.
type alertChannel struct {
	Channel         string     `json:"channel"`
	Kind            string     `json:"kind"`
	Configured      bool       `json:"configured"`
	Pending         int64      `json:"pending"`
	Delivered       int64      `json:"delivered"`
	Failed          int64      `json:"failed"`
	LastAttemptAt   *time.Time `json:"last_attempt_at"`
	LastDelivered   bool       `json:"last_delivered"`
	LastDeliveredAt *time.Time `json:"last_delivered_at"`
	LastError       string     `json:"last_error,omitempty"`
	FailingSince    *time.Time `json:"failing_since"`
}

// spendingCap is the cap's settings and whether one is reached: period
// "day" or "month", resets_at null while jobs are accepted.
type spendingCap struct {
	DailyUSD   *float64   `json:"daily_usd"`
	MonthlyUSD *float64   `json:"monthly_usd"`
	Exhausted  bool       `json:"exhausted"`
	Period     string     `json:"period,omitempty"`
	SpentUSD   float64    `json:"spent_usd,omitempty"`
	ResetsAt   *time.Time `json:"resets_at"`
}

// sampleAlerts is the alerts' state at at: the daily cost alert firing,
// a webhook that fails (its error is markup) beside an email channel
// that delivers, and caps of $10.00 a day and $200.00 a month, not
// reached.
func sampleAlerts(at time.Time) *alerts {
	return &alerts{
		Firing: []firingAlert{{
			Key: "cost_daily/2026-12-03/10000000000n", Rule: "cost_daily", Severity: "critical",
			Summary: "GPU cost today is $12.40, over the $10.00 threshold",
			Since:   at.Add(-12 * time.Minute), NotifiedAt: at.Add(-11 * time.Minute),
		}},
		Channels: []alertChannel{
			{
				Channel: "webhook:hooks.slack.com:3f2a9c1e", Kind: "webhook", Configured: true,
				Pending: 1, Delivered: 4, Failed: 3, LastAttemptAt: timeAt(at.Add(-30 * time.Second)),
				LastDeliveredAt: timeAt(at.Add(-2 * time.Hour)), FailingSince: timeAt(at.Add(-10 * time.Minute)),
				LastError: `POST https://hooks.slack.com/…: 500 <img src=x onerror="document.title='pwned'">`,
			},
			{
				Channel: "email:smtp.example.com:9b1d04aa", Kind: "email", Configured: true,
				Delivered: 5, LastAttemptAt: timeAt(at.Add(-11 * time.Minute)), LastDelivered: true,
				LastDeliveredAt: timeAt(at.Add(-11 * time.Minute)),
			},
		},
		Cap: &spendingCap{DailyUSD: num(10), MonthlyUSD: num(200)},
	}
}

// webhooks is the customers whose webhook endpoints failed in the 24 h
// since since.
type webhooks struct {
	Since   time.Time        `json:"since"`
	Failing []failingWebhook `json:"failing"`
}

// failingWebhook is one customer's deliveries of the window; last_status
// 0 is no answer, last_delivered_at null is none delivered.
type failingWebhook struct {
	Customer        string     `json:"customer"`
	Endpoint        string     `json:"endpoint"`
	Deliveries      int        `json:"deliveries"`
	Delivered       int        `json:"delivered"`
	Retrying        int        `json:"retrying"`
	Failed          int        `json:"failed"`
	LastStatus      int        `json:"last_status"`
	LastError       string     `json:"last_error"`
	LastAttemptAt   time.Time  `json:"last_attempt_at"`
	LastDeliveredAt *time.Time `json:"last_delivered_at"`
}

// sampleWebhooks is the webhooks' state at at: acme's endpoint refuses
// connections (one delivery given up, two retrying, one delivered two
// hours ago), umbrella's answers 500 with markup and never delivered.
func sampleWebhooks(at time.Time) *webhooks {
	return &webhooks{
		Since: at.Add(-24 * time.Hour),
		Failing: []failingWebhook{
			{
				Customer: "acme", Endpoint: "https://hooks.acme.example/… #1f2e3d4c",
				Deliveries: 12, Delivered: 9, Retrying: 2, Failed: 1, LastStatus: 0,
				LastError:     "post to https://hooks.acme.example/… #1f2e3d4c: dial tcp 203.0.113.7:443: connect: connection refused",
				LastAttemptAt: at.Add(-3 * time.Minute), LastDeliveredAt: timeAt(at.Add(-2 * time.Hour)),
			},
			{
				Customer: "umbrella", Endpoint: "https://umbrella.example/… #0a0b0c0d",
				Deliveries: 1, Retrying: 1, LastStatus: 500,
				LastError:     `status 500 "<img src=x onerror=\"document.title='pwned'\">"`,
				LastAttemptAt: at.Add(-20 * time.Minute),
			},
		},
	}
}

func num(v float64) *float64 { return &v }

func timeAt(t time.Time) *time.Time { return &t }

// ranges are the ranges the page offers in the tests, and their length.
var ranges = map[string]time.Duration{
	"1h": time.Hour, "6h": 6 * time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour,
}

// sample is a plausible answer for rng ending at at: 96 steps of a day's
// traffic with a daily rhythm, two GPUs on one host, three workers (one
// gone quiet), five customers and six recent failures, one of whose
// message is markup. The numbers the tests read are fixed (see
// firstSample); the series come from seed.
func sample(at time.Time, rng string, seed uint64) data {
	r := rand.New(rand.NewPCG(seed, 7))
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		panic(err)
	}
	const steps = 96
	step := ranges[rng] / steps
	to := at.Truncate(time.Second)
	d := data{
		GeneratedAt: to, Range: rng, From: to.Add(-ranges[rng]), To: to,
		StepSeconds: int64(step / time.Second), Timezone: "Europe/Berlin",
		Now: now{Queued: num(3), Running: num(1)},
		Jobs: jobs{
			Submitted: num(125), Completed: num(110), Failed: num(8), Cancelled: num(2), SuccessRatio: num(0.932),
			GenerationSeconds: quantiles{Count: num(110), P50: num(1.2), P95: num(3.4), P99: num(5.0)},
		},
		Cost: cost{
			TodayUSD: num(1.2345), MonthUSD: num(45.67), ForecastUSD: num(80.12),
			TodayBilledSeconds: num(6497.1), MonthBilledSeconds: num(240368.4), PricePerSecondUSD: num(0.00019),
		},
	}

	// The steps: a day's rhythm, busiest in the afternoon.
	load := func(t time.Time) float64 {
		h := float64(t.In(berlin).Hour()) + float64(t.Minute())/60
		return 0.55 + 0.45*math.Sin((h-9)/24*2*math.Pi)
	}
	for i := range steps {
		t := d.From.Add(time.Duration(i+1) * step)
		l := load(t)
		completed := math.Round(l*6 + r.Float64()*2)
		failed := math.Round(max(0, r.NormFloat64()*0.6+l*0.4))
		p50 := 1.0 + l*0.3 + r.Float64()*0.2
		d.Series.T = append(d.Series.T, t.Unix())
		d.Series.Completed = append(d.Series.Completed, num(completed))
		d.Series.Failed = append(d.Series.Failed, num(failed))
		d.Series.Cancelled = append(d.Series.Cancelled, num(math.Round(r.Float64()*0.6)))
		d.Series.P50 = append(d.Series.P50, num(p50))
		d.Series.P95 = append(d.Series.P95, num(p50*2.6+r.Float64()*0.5))
		d.Series.P99 = append(d.Series.P99, num(p50*3.8+r.Float64()*1.5))
		d.Series.CostUSD = append(d.Series.CostUSD, num(completed*11.8*0.00019))
	}

	// Two GPUs, the second less busy; the last step has no sample yet.
	for g := range 2 {
		w := gpuWorker{Worker: "gpu-host-1:412", GPU: g}
		for i, t := range d.Series.T {
			u := min(1, load(time.Unix(t, 0))*(0.95-0.3*float64(g))+r.Float64()*0.08)
			if i == steps-1 {
				w.Utilization = append(w.Utilization, nil)
				w.MemoryUsedRatio = append(w.MemoryUsedRatio, nil)
				continue
			}
			w.Utilization = append(w.Utilization, num(u))
			w.MemoryUsedRatio = append(w.MemoryUsedRatio, num(0.35+u*0.4))
		}
		d.GPU.Workers = append(d.GPU.Workers, w)
	}

	// Requests: 48 hours, and 30 days from local midnights in Berlin.
	hour := to.Truncate(time.Hour)
	for i := range 48 {
		t := hour.Add(time.Duration(i-47) * time.Hour)
		d.Requests.Hourly.add(t, 180*load(t), r)
	}
	day := time.Date(to.In(berlin).Year(), to.In(berlin).Month(), to.In(berlin).Day(), 0, 0, 0, 0, berlin)
	for i := range 30 {
		t := day.AddDate(0, 0, i-29)
		d.Requests.Daily.add(t, 2600+float64(t.Weekday()%6)*300, r)
	}

	d.Workers = []worker{
		{Worker: "host-a:123", BusyRatio: num(0.42), BusySeconds: num(1234.5), CapacitySeconds: num(2938.0), LastSeen: to.Add(-2 * time.Second)},
		{Worker: "host-b:88", BusyRatio: num(0.87), BusySeconds: num(75168), CapacitySeconds: num(86400), LastSeen: to.Add(-9 * time.Second)},
		{Worker: "gpu-host-1:412", BusyRatio: num(0.05), BusySeconds: num(130), CapacitySeconds: num(2600), LastSeen: to.Add(-23 * time.Minute)},
	}
	d.TopCustomers = []customer{
		{Customer: "Acme", Runs: num(12), BilledSeconds: num(120.5), CostUSD: num(0.0229), TodayUSD: num(0.0229), MonthUSD: num(0.2061)},
		{Customer: "Globex Corporation", Runs: num(48), BilledSeconds: num(3210), CostUSD: num(0.6099), TodayUSD: num(0.6099), MonthUSD: num(5.4891)},
		{Customer: "Initech", Runs: num(30), BilledSeconds: num(1802.2), CostUSD: num(0.3424), TodayUSD: num(0.3424), MonthUSD: num(3.0816)},
		{Customer: "Umbrella", Runs: num(9), BilledSeconds: num(455), CostUSD: num(0.0865), TodayUSD: num(0.0865), MonthUSD: num(0.7785)},
		{Customer: "Hooli <b>XYZ</b>", Runs: num(11), BilledSeconds: num(909.4), CostUSD: num(0.1728), TodayUSD: num(0.1728), MonthUSD: num(1.5552)},
	}
	d.RecentFailures = []failure{
		{JobID: "0193a4f2-7c1e-7aa0-9d1b-3c2f5e8a9b10", Customer: "Acme", Code: "timeout", Message: "generation took longer than 10m0s", At: to.Add(-14 * time.Minute)},
		{JobID: "0193a4c9-11aa-7bb2-8c3d-0f1e2d3c4b5a", Customer: "Globex Corporation", Code: "no_face", Message: "no face found in the image", At: to.Add(-52 * time.Minute)},
		{JobID: "0193a3b0-5e6f-7c8d-9e0f-1a2b3c4d5e6f", Customer: "Initech", Code: "invalid_audio", Message: `<img src=x onerror="document.title='pwned'">`, At: to.Add(-3 * time.Hour)},
		{JobID: "0193a210-aaaa-7bbb-8ccc-dddddddddddd", Customer: "Umbrella", Code: "worker_lost", Message: "the worker stopped answering while it held the job; the job will not be retried because it already had three attempts", At: to.Add(-7 * time.Hour)},
		{JobID: "0193a100-1111-7222-8333-444444444444", Customer: "Acme", Code: "timeout", Message: "generation took longer than 10m0s", At: to.Add(-20 * time.Hour)},
		{JobID: "0193a000-9999-7888-8777-666666666666", Customer: "Hooli <b>XYZ</b>", Code: "internal_error", Message: "ffmpeg exited with status 1", At: to.Add(-23 * time.Hour)},
	}
	return d
}

// add appends one bucket of about total requests, split by status class.
func (s *statusCounts) add(t time.Time, total float64, r *rand.Rand) {
	total *= 0.85 + r.Float64()*0.3
	s.T = append(s.T, t.Unix())
	s.S2x = append(s.S2x, num(math.Round(total*0.9)))
	s.S3x = append(s.S3x, num(math.Round(total*0.02)))
	s.S4x = append(s.S4x, num(math.Round(total*0.07*r.Float64()*2)))
	s.S5x = append(s.S5x, num(math.Round(total*0.01*r.Float64()*3)))
}
