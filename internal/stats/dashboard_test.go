package stats_test

import (
	"context"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/stats"
	"github.com/avatar-api/avatar-api/internal/store"
)

// TestDashboardFigures fills a real database with jobs, charges, rollups
// and GPU readings at known times, and checks every figure of a refresh.
func TestDashboardFigures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHistory(t)
	now := time.Date(2026, 12, 3, 10, 7, 0, 0, time.UTC)
	// Ten completed runs of 1..10 s in the hour before now, two failures
	// and a cancel; one completed run a day and a half ago (outside 24 h).
	for i := 1; i <= 10; i++ {
		h.run(t, "acme", now.Add(-time.Duration(i)*time.Minute), time.Duration(i)*time.Second, store.Complete, "")
	}
	h.run(t, "globex", now.Add(-20*time.Minute), 30*time.Second, store.Fail, "timeout")
	h.run(t, "globex", now.Add(-2*time.Hour), 5*time.Second, store.Fail, "no_face_detected")
	h.run(t, "globex", now.Add(-3*time.Hour), 0, store.Cancel, "")
	h.run(t, "initech", now.Add(-36*time.Hour), 50*time.Second, store.Complete, "")
	h.now = now
	minute := now.Truncate(time.Minute)
	must(t, h.AddRequests(ctx, []store.RequestCount{
		{Minute: minute, Replica: "a", Class: "2xx", Requests: 7},
		{Minute: minute, Replica: "b", Class: "2xx", Requests: 3},
		{Minute: minute.Add(-3 * time.Hour), Replica: "a", Class: "5xx", Requests: 2},
		{Minute: minute.Add(-10 * 24 * time.Hour), Replica: "a", Class: "4xx", Requests: 4},
	}))
	must(t, h.AddWorkerTime(ctx, []store.WorkerTime{{Minute: minute, Worker: "host:1", Capacity: time.Minute, Busy: 15 * time.Second}}))
	budget := store.NanoUSD(50e9)

	d, err := stats.Fetch(ctx, h, stats.Query{Range: mustRange(t, "24h"), Now: now, Location: time.UTC, Price: price, Budget: &budget})
	if err != nil {
		t.Fatal(err)
	}
	if d.Jobs.Completed != 10 || d.Jobs.Failed != 2 || d.Jobs.Cancelled != 1 || d.Jobs.Submitted != 13 {
		t.Errorf("jobs = %+v", d.Jobs)
	}
	if r := d.Jobs.SuccessRatio; r == nil || math.Abs(*r-10.0/12) > 1e-12 {
		t.Errorf("success ratio = %v, want 10/12", r)
	}
	if g := d.Jobs.GenerationSeconds; g.Count != 10 || *g.P50 != 5 || *g.P95 != 10 || *g.P99 != 10 {
		t.Errorf("generation percentiles = %+v, want P50 5 s, P95 and P99 10 s", g)
	}
	if len(d.Series.T) != 96 || d.StepSeconds != 900 || !d.To.Equal(time.Date(2026, 12, 3, 10, 15, 0, 0, time.UTC)) {
		t.Fatalf("grid: %d steps of %d s to %s", len(d.Series.T), d.StepSeconds, d.To)
	}
	var completed int64
	for _, n := range d.Series.Completed {
		completed += n
	}
	// The last step (10:00–10:15) holds the runs that ended at 10:00 to
	// 10:06, 1..7 s long; the one before, 8..10 s.
	last, prev := 95, 94
	if completed != 10 || d.Series.Completed[last] != 7 || d.Series.Completed[prev] != 3 {
		t.Errorf("completed per step: last %d, before %d, in all %d", d.Series.Completed[last], d.Series.Completed[prev], completed)
	}
	if p := d.Series.P50[last]; p == nil || *p != 4 {
		t.Errorf("P50 of the last step = %v, want 4 s (of 1..7 s)", p)
	}
	if d.Series.P50[0] != nil {
		t.Error("a step without jobs has a percentile")
	}
	var cost float64
	for _, c := range d.Series.CostUSD {
		cost += c
	}
	wantCost := (price.Of(55*time.Second) + price.Of(35*time.Second)).USD() // ten runs, two failures
	if math.Abs(cost-wantCost) > 1e-12 || math.Abs(d.Cost.TodayUSD-wantCost) > 1e-12 {
		t.Errorf("cost per step sums to %g, today %g; want %g", cost, d.Cost.TodayUSD, wantCost)
	}
	if d.Cost.BudgetUSD == nil || *d.Cost.BudgetUSD != 50 || d.Cost.PricePerSecondUSD != 0.00019 {
		t.Errorf("cost = %+v", d.Cost)
	}
	if d.GPU.Message != stats.NoGPU || len(d.GPU.Workers) != 0 {
		t.Errorf("gpu panel without GPUs = %+v", d.GPU)
	}
	hourly, daily := d.Requests.Hourly, d.Requests.Daily
	if len(hourly.T) != 48 || hourly.C2[47] != 10 || hourly.C5[44] != 2 || len(daily.T) != 30 || daily.C2[29] != 10 || daily.C4[19] != 4 {
		t.Errorf("requests: hourly 2xx %v 5xx %v; daily 4xx %v", hourly.C2[40:], hourly.C5[40:], daily.C4)
	}
	if len(d.Workers) != 1 || d.Workers[0].BusyRatio == nil || *d.Workers[0].BusyRatio != 0.25 {
		t.Errorf("workers = %+v", d.Workers)
	}
	if len(d.TopCustomers) != 2 || d.TopCustomers[0].Customer != "acme" || d.TopCustomers[0].Runs != 10 ||
		d.TopCustomers[0].TodayUSD != price.Of(55*time.Second).USD() || d.TopCustomers[0].MonthUSD != d.TopCustomers[0].TodayUSD ||
		d.TopCustomers[1].TodayUSD != price.Of(35*time.Second).USD() {
		t.Errorf("top customers = %+v", d.TopCustomers)
	}
	if len(d.RecentFailures) != 2 || d.RecentFailures[0].Code != "timeout" || d.RecentFailures[0].Customer != "globex" {
		t.Errorf("failures = %+v", d.RecentFailures)
	}

	// With GPU readings, the panel has a line per GPU and no message.
	must(t, h.AddGPUSamples(ctx, []store.GPUSample{
		{At: now.Add(-time.Minute), Worker: "gpu-1", GPU: 0, Utilization: 0.8, MemoryUsed: 1, MemoryTotal: 4},
		{At: now.Add(-2 * time.Minute), Worker: "gpu-1", GPU: 0, Utilization: 0.4, MemoryUsed: 1, MemoryTotal: 4},
	}))
	d, err = stats.Fetch(ctx, h, stats.Query{Range: mustRange(t, "1h"), Now: now, Location: time.UTC, Price: price})
	if err != nil {
		t.Fatal(err)
	}
	if d.GPU.Message != "" || len(d.GPU.Workers) != 1 || len(d.Series.T) != 60 {
		t.Fatalf("gpu panel = %+v", d.GPU)
	}
	u := d.GPU.Workers[0].Utilization
	if u[59] != nil || u[58] == nil || *u[58] != 0.8 || u[57] == nil || *u[57] != 0.4 {
		t.Errorf("GPU utilisation per minute: %v %v %v", u[57], u[58], u[59])
	}

	// GPUs that ran no job in the range: the panel says so, and does not
	// claim there is no GPU.
	d, err = stats.Fetch(ctx, h, stats.Query{Range: mustRange(t, "1h"), Now: now.Add(2 * time.Hour), Location: time.UTC, Price: price})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.GPU.Workers) != 0 || d.GPU.Message != stats.IdleGPU {
		t.Errorf("an idle GPU fleet: %+v", d.GPU)
	}
	// The month's customers, with today's cost; rollups older than the
	// retention are not shown, jobs still are.
	d, err = stats.Fetch(ctx, h, stats.Query{Range: mustRange(t, "24h"), Now: now, Location: time.UTC, Price: price, Retention: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if cs := d.Cost.Customers; len(cs) != 3 || cs[0].Customer != "acme" || cs[0].TodayUSD != price.Of(55*time.Second).USD() ||
		cs[0].MonthUSD != cs[0].TodayUSD || cs[1].Customer != "initech" || cs[1].TodayUSD != 0 || cs[1].MonthUSD != price.Of(50*time.Second).USD() {
		t.Errorf("the month's customers: %+v", cs)
	}
	if d.Requests.Hourly.C5[44] != 0 || d.Requests.Hourly.C2[47] != 10 || d.Jobs.Completed != 10 {
		t.Errorf("with a retention of 2 h: 5xx of 3 h ago %d, 2xx now %d, jobs %d", d.Requests.Hourly.C5[44], d.Requests.Hourly.C2[47], d.Jobs.Completed)
	}

	// The JSON has the names the page reads.
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	must(t, json.Unmarshal(b, &m))
	for _, k := range []string{"generated_at", "range", "now", "jobs", "cost", "series", "gpu", "requests", "workers", "top_customers", "recent_failures"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	gen := m["jobs"].(map[string]any)["generation_seconds"].(map[string]any)
	if gen["p50"].(float64) != 5 {
		t.Errorf("generation_seconds = %v", gen)
	}
}

func mustRange(t *testing.T, name string) stats.Range {
	t.Helper()
	r, ok := stats.RangeNamed(name)
	if !ok {
		t.Fatalf("no range %q", name)
	}
	return r
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
