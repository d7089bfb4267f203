package storetest

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/riverqueue/river/riverdriver"

	"github.com/avatar-api/avatar-api/internal/store"
)

// Clocked is a store whose clock a test sets: what RunHistory and
// RunAlerts need. Driver gives the tests River's view of the queue.
type Clocked interface {
	store.Store
	store.History
	store.Alerts
	SetClock(now func() time.Time)
	Driver() riverdriver.Driver[*sql.Tx]
}

// clock is a time a test moves by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time             { return c.t }
func (c *clock) add(d time.Duration) *clock { c.t = c.t.Add(d); return c }

// t0 is a fixed moment the history tests start at.
var t0 = time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC)

// Failure codes the history tests record (the workers' own).
const (
	failGeneration = "generation_failed"
	failLost       = "worker_lost"
	failTimeout    = "timeout"
)

// price is $0.00019 a second, the story's, in nano-dollars.
const price store.NanoUSD = 190_000

// RunHistory holds an implementation of store.History to its contract.
// open returns a new, empty store for each case, whose clock the case
// sets.
func RunHistory(t *testing.T, open func(t *testing.T) Clocked) {
	t.Helper()
	t.Run("RescueStale", func(t *testing.T) { rescueStale(t, open(t)) })
	t.Run("BillOwnRun", func(t *testing.T) { billOwnRun(t, open(t)) })
	t.Run("BillRunsOfSeveralAttempts", func(t *testing.T) { billSeveralRuns(t, open(t)) })
	t.Run("BillLostAndEndedRuns", func(t *testing.T) { billLostRuns(t, open(t)) })
	t.Run("BillReportedTime", func(t *testing.T) { billReported(t, open(t)) })
	t.Run("BillRemoteTakeover", func(t *testing.T) { billRemoteTakeover(t, open(t)) })
	t.Run("Rollups", func(t *testing.T) { rollups(t, open(t)) })
	t.Run("GPU", func(t *testing.T) { gpuReadings(t, open(t)) })
	t.Run("JobFigures", func(t *testing.T) { jobFigures(t, open(t)) })
	t.Run("Refusals", func(t *testing.T) { refusals(t, open(t)) })
	t.Run("OldestQueued", func(t *testing.T) { oldestQueued(t, open(t)) })
	t.Run("Prune", func(t *testing.T) { prune(t, open(t)) })
	t.Run("Sessions", func(t *testing.T) { sessions(t, open(t)) })
	t.Run("Usage", func(t *testing.T) { usage(t, open(t)) })
	t.Run("Retention", func(t *testing.T) { retention(t, open(t)) })
	t.Run("IdempotencyWindow", func(t *testing.T) { idempotencyWindow(t, open(t)) })
}

// idempotencyWindow: a key names its job for store.IdempotencyWindow;
// after it the key is free, and a new job takes it.
func idempotencyWindow(t *testing.T, s Clocked) {
	ctx := context.Background()
	c := setClock(s, t0)
	first := newJob("customer:idem")
	first.IdempotencyKey = "k"
	_, err := s.CreateJob(ctx, first)
	must(t, err)
	c.add(store.IdempotencyWindow - time.Second)
	again := newJob("customer:idem")
	again.IdempotencyKey = "k"
	if got, err := s.CreateJob(ctx, again); !errors.Is(err, store.ErrConflict) || got.ID != first.ID {
		t.Fatalf("within the window: %v, %+v; want the first job and a conflict", err, got)
	}
	c.add(2 * time.Second)
	if _, err := s.JobByIdempotencyKey(ctx, "customer:idem", "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("looked up after the window: %v, want not found", err)
	}
	later := newJob("customer:idem")
	later.IdempotencyKey = "k"
	_, err = s.CreateJob(ctx, later)
	must(t, err)
	if got, err := s.JobByIdempotencyKey(ctx, "customer:idem", "k"); err != nil || got.ID != later.ID {
		t.Fatalf("the key after the window names %+v (%v), want the new job", got, err)
	}
}

func setClock(s Clocked, t time.Time) *clock {
	c := &clock{t: t}
	s.SetClock(c.now)
	return c
}

func apply(t *testing.T, s Clocked, p store.ApplyParams) store.Applied {
	t.Helper()
	a, err := s.Apply(context.Background(), p)
	must(t, err)
	return a
}

func createPriced(t *testing.T, s Clocked, owner string) *store.Job {
	t.Helper()
	j := newJob(owner)
	j.Price = price
	_, err := s.CreateJob(context.Background(), j)
	must(t, err)
	return j
}

func wantCharge(t *testing.T, c *store.Charge, worker string, attempt int, billed time.Duration, reported bool) {
	t.Helper()
	if c == nil {
		t.Fatal("the transition billed nothing")
	}
	if c.Worker != worker || c.Attempt != attempt || c.Billed != billed || c.Reported != reported || c.Cost != price.Of(billed) {
		t.Fatalf("charge = %+v; want worker %s, attempt %d, billed %s (reported %v), cost %d", c, worker, attempt, billed, reported, price.Of(billed))
	}
}

// billOwnRun: a run ended by its own attempt is billed from its start to
// the transition, at the job's price, once; the job row adds it up.
func billOwnRun(t *testing.T, s Clocked) {
	ctx := context.Background()
	c := setClock(s, t0)
	j := createPriced(t, s, newOwner())
	c.add(2 * time.Second)
	a := apply(t, s, store.ApplyParams{JobID: j.ID, Transition: store.Start, Attempt: 1, Worker: "w1"})
	if a.Charge != nil || a.Job.Worker != "w1" || a.Job.RunStartedAt == nil || !a.Job.RunStartedAt.Equal(c.t) {
		t.Fatalf("start: charge %v, job %+v", a.Charge, a.Job)
	}
	c.add(10*time.Second + 500*time.Millisecond)
	a = apply(t, s, store.ApplyParams{JobID: j.ID, Transition: store.Complete, Attempt: 1,
		Result: store.Result{Key: "results/x.mp4", ExpiresAt: c.t.Add(time.Hour)}})
	wantCharge(t, a.Charge, "w1", 1, 10500*time.Millisecond, false)
	if a.Charge.Cost != 1_995_000 || a.Charge.Cost.USD() != 0.001995 {
		t.Fatalf("10.5 s at $0.00019/s cost %d nUSD, want 1 995 000", a.Charge.Cost)
	}
	if !a.Charge.Started.Equal(t0.Add(2*time.Second)) || !a.Charge.At.Equal(c.t) || a.Event.ID == 0 || a.Event.Transition != store.Complete {
		t.Fatalf("charge %+v, event %+v", a.Charge, a.Event)
	}
	got, err := s.GetJob(ctx, j.ID)
	must(t, err)
	if got.RunStartedAt != nil || got.RunTime != 10500*time.Millisecond || got.Billed != 10500*time.Millisecond ||
		got.Cost != 1_995_000 || got.Price != price || got.Worker != "w1" {
		t.Fatalf("job after completion: %+v", got)
	}
	c.add(time.Hour)
	if a := apply(t, s, store.ApplyParams{JobID: j.ID, Transition: store.Expire}); a.Charge != nil {
		t.Fatalf("expiry billed %+v", a.Charge)
	}
	charges, err := s.Charges(ctx, j.ID)
	must(t, err)
	if len(charges) != 1 || charges[0].Billed != 10500*time.Millisecond || charges[0].Owner != j.Owner || charges[0].Backend != "local" {
		t.Fatalf("charges = %+v, want the one run", charges)
	}
}

// billSeveralRuns: a requeued run is billed when it is given back, the
// next when it completes; a fail of a queued job bills nothing more.
func billSeveralRuns(t *testing.T, s Clocked) {
	ctx := context.Background()
	c := setClock(s, t0)
	j := createPriced(t, s, newOwner())
	apply(t, s, store.ApplyParams{JobID: j.ID, Transition: store.Start, Attempt: 1, Worker: "w1"})
	c.add(3 * time.Second)
	a := apply(t, s, store.ApplyParams{JobID: j.ID, Transition: store.Requeue, Attempt: 1})
	wantCharge(t, a.Charge, "w1", 1, 3*time.Second, false)
	c.add(time.Second)
	apply(t, s, store.ApplyParams{JobID: j.ID, Transition: store.Start, Attempt: 2, Worker: "w2"})
	c.add(7 * time.Second)
	a = apply(t, s, store.ApplyParams{JobID: j.ID, Transition: store.Fail, Attempt: 2, Code: failGeneration, Message: "m"})
	wantCharge(t, a.Charge, "w2", 2, 7*time.Second, false)
	got, err := s.GetJob(ctx, j.ID)
	must(t, err)
	if got.Billed != 10*time.Second || got.Cost != price.Of(3*time.Second)+price.Of(7*time.Second) || got.RunTime != 7*time.Second {
		t.Fatalf("job after two runs: billed %s, cost %d, run %s", got.Billed, got.Cost, got.RunTime)
	}
	// A queued job that fails had no run to bill.
	q := createPriced(t, s, newOwner())
	if a := apply(t, s, store.ApplyParams{JobID: q.ID, Transition: store.Fail, Code: failLost, Message: "m"}); a.Charge != nil {
		t.Fatalf("a queued job's failure billed %+v", a.Charge)
	}
	// A conflict bills nothing and changes nothing.
	_, err = s.Apply(ctx, store.ApplyParams{JobID: j.ID, Transition: store.Complete, Attempt: 2})
	if err == nil {
		t.Fatal("completing a failed job was allowed")
	}
	charges, err := s.Charges(ctx, j.ID)
	must(t, err)
	if len(charges) != 2 {
		t.Fatalf("%d charges, want 2", len(charges))
	}
}

// billLostRuns: a run ended by someone else — a successor's start, the
// customer's cancel, the sweep — is billed to its last sign of life.
func billLostRuns(t *testing.T, s Clocked) {
	ctx := context.Background()
	c := setClock(s, t0)
	j := createPriced(t, s, newOwner())
	apply(t, s, store.ApplyParams{JobID: j.ID, Transition: store.Start, Attempt: 1, Worker: "w1"})
	c.add(4 * time.Second)
	_, err := s.SetProgress(ctx, store.ProgressParams{JobID: j.ID, Attempt: 1, Progress: 0.5})
	must(t, err)
	c.add(10 * time.Minute) // w1 died
	a := apply(t, s, store.ApplyParams{JobID: j.ID, Transition: store.Start, Attempt: 2, Worker: "w2"})
	wantCharge(t, a.Charge, "w1", 1, 4*time.Second, false)
	if a.Job.Worker != "w2" || a.Job.RunStartedAt == nil || !a.Job.RunStartedAt.Equal(c.t) || a.Job.Billed != 4*time.Second {
		t.Fatalf("after the takeover: %+v", a.Job)
	}
	if q := a.Job.StartedAt; q == nil || !q.Equal(t0) {
		t.Fatalf("started_at moved to %v: it is the first start", q)
	}
	c.add(2 * time.Second)
	_, err = s.SetProgress(ctx, store.ProgressParams{JobID: j.ID, Attempt: 2, Progress: 0.1})
	must(t, err)
	c.add(500 * time.Millisecond)
	a = apply(t, s, store.ApplyParams{JobID: j.ID, Transition: store.Cancel, Owner: j.Owner})
	wantCharge(t, a.Charge, "w2", 2, 2*time.Second, false)

	k := createPriced(t, s, newOwner())
	apply(t, s, store.ApplyParams{JobID: k.ID, Transition: store.Start, Attempt: 1, Worker: "w3"})
	c.add(time.Hour)
	a = apply(t, s, store.ApplyParams{JobID: k.ID, Transition: store.Fail, Code: failLost, Message: "m"})
	wantCharge(t, a.Charge, "w3", 1, 0, false) // never heard from after its start
}

// billReported: a backend's own billed time replaces the wall time; the
// run's time stays what the service saw.
func billReported(t *testing.T, s Clocked) {
	c := setClock(s, t0)
	j := createPriced(t, s, newOwner())
	apply(t, s, store.ApplyParams{JobID: j.ID, Transition: store.Start, Attempt: 1, Worker: "gpu"})
	c.add(9 * time.Second)
	billed := 4200 * time.Millisecond
	a := apply(t, s, store.ApplyParams{JobID: j.ID, Transition: store.Complete, Attempt: 1, Billed: &billed,
		Result: store.Result{Key: "k", ExpiresAt: c.t.Add(time.Hour)}})
	wantCharge(t, a.Charge, "gpu", 1, billed, true)
	if a.Job.RunTime != 9*time.Second || a.Job.Billed != billed {
		t.Fatalf("run %s, billed %s", a.Job.RunTime, a.Job.Billed)
	}
}

// billRemoteTakeover: a run at another service (RunPod) that its
// follower lost goes on there; the successor that follows it bills it
// what the service reports, so the takeover bills nothing.
func billRemoteTakeover(t *testing.T, s Clocked) {
	ctx := context.Background()
	c := setClock(s, t0)
	j := createPriced(t, s, newOwner())
	apply(t, s, store.ApplyParams{JobID: j.ID, Transition: store.Start, Attempt: 1, Worker: "api-1"})
	must(t, s.SetRemote(ctx, store.RemoteParams{JobID: j.ID, Attempt: 1, RemoteID: "rp-1", Output: "staging/a.mp4"}))
	c.add(4 * time.Second)
	_, err := s.SetProgress(ctx, store.ProgressParams{JobID: j.ID, Attempt: 1, Progress: 0.5})
	must(t, err)
	c.add(10 * time.Minute) // api-1 died; rp-1 runs on
	a := apply(t, s, store.ApplyParams{JobID: j.ID, Transition: store.Start, Attempt: 2, Worker: "api-2"})
	wantCharge(t, a.Charge, "api-1", 1, 0, false)
	if a.Job.RemoteID != "rp-1" || a.Job.RemoteOutput != "staging/a.mp4" {
		t.Fatalf("the successor lost the run to follow: %+v", a.Job)
	}
	c.add(time.Minute)
	billed := 65 * time.Second // rp-1's executionTime, from its start
	a = apply(t, s, store.ApplyParams{JobID: j.ID, Transition: store.Complete, Attempt: 2, Billed: &billed,
		Result: store.Result{Key: "k", ExpiresAt: c.t.Add(time.Hour)}})
	wantCharge(t, a.Charge, "api-2", 2, billed, true)
	if a.Job.Billed != billed {
		t.Fatalf("job billed %s, want RunPod's %s once", a.Job.Billed, billed)
	}
}

// rollups: every replica's rows add up per minute; reads sum replicas in
// buckets of the window, From included, To not.
func rollups(t *testing.T, s Clocked) {
	ctx := context.Background()
	m := t0.Truncate(time.Minute)
	must(t, s.AddRequests(ctx, []store.RequestCount{
		{Minute: m, Replica: "a", Class: "2xx", Requests: 5},
		{Minute: m.Add(30 * time.Second), Replica: "a", Class: "2xx", Requests: 2}, // the same minute
		{Minute: m, Replica: "b", Class: "2xx", Requests: 1},
		{Minute: m, Replica: "a", Class: "4xx", Requests: 3},
		{Minute: m.Add(59 * time.Minute), Replica: "b", Class: "5xx", Requests: 1},
		{Minute: m.Add(time.Hour), Replica: "a", Class: "2xx", Requests: 100}, // outside the window
	}))
	must(t, s.AddRequests(ctx, []store.RequestCount{{Minute: m, Replica: "a", Class: "2xx", Requests: 10}}))
	got, err := s.Requests(ctx, store.BucketParams{Window: store.Window{From: m, To: m.Add(time.Hour)}, Step: 15 * time.Minute})
	must(t, err)
	want := []store.RequestBucket{{Start: m, Class: "2xx", Requests: 18}, {Start: m, Class: "4xx", Requests: 3},
		{Start: m.Add(45 * time.Minute), Class: "5xx", Requests: 1}}
	if len(got) != len(want) {
		t.Fatalf("request buckets = %+v, want %+v", got, want)
	}
	for i := range want {
		if !got[i].Start.Equal(want[i].Start) || got[i].Class != want[i].Class || got[i].Requests != want[i].Requests {
			t.Fatalf("request buckets = %+v, want %+v", got, want)
		}
	}

	must(t, s.AddWorkerTime(ctx, []store.WorkerTime{
		{Minute: m, Worker: "w1", Capacity: 60 * time.Second, Busy: 15 * time.Second},
		{Minute: m.Add(time.Minute), Worker: "w1", Capacity: 60 * time.Second, Busy: 45 * time.Second},
		{Minute: m, Worker: "w2", Capacity: 120 * time.Second, Busy: 0},
	}))
	must(t, s.AddWorkerTime(ctx, []store.WorkerTime{{Minute: m.Add(time.Minute), Worker: "w1", Capacity: 0, Busy: time.Second}}))
	per, err := s.WorkersPer(ctx, store.BucketParams{Window: store.Window{From: m, To: m.Add(time.Hour)}, Step: time.Minute})
	must(t, err)
	if len(per) != 3 || per[0].Worker != "w1" || per[0].Busy != 15*time.Second || per[1].Worker != "w2" ||
		per[2].Worker != "w1" || per[2].Busy != 46*time.Second || !per[2].LastMinute.Equal(m.Add(time.Minute)) {
		t.Fatalf("worker time per minute = %+v", per)
	}
	use, err := s.WorkersPer(ctx, store.BucketParams{Window: store.Window{From: m, To: m.Add(time.Hour)}, Step: 24 * time.Hour})
	must(t, err)
	if len(use) != 2 || use[0].Worker != "w1" || use[0].Capacity != 120*time.Second || use[0].Busy != 61*time.Second ||
		!use[0].LastMinute.Equal(m.Add(time.Minute)) || use[1].Worker != "w2" || use[1].Busy != 0 {
		t.Fatalf("worker use per day = %+v", use)
	}
}

// gpuReadings: GPU readings sum per bucket, worker and GPU; an unknown
// figure is left out of its mean.
func gpuReadings(t *testing.T, s Clocked) {
	ctx := context.Background()
	const gib = 1 << 30
	must(t, s.AddGPUSamples(ctx, []store.GPUSample{
		{At: t0, Worker: "w1", GPU: 0, Utilization: 0.5, MemoryUsed: 6 * gib, MemoryTotal: 24 * gib},
		{At: t0.Add(5 * time.Second), Worker: "w1", GPU: 0, Utilization: 1, MemoryUsed: 12 * gib, MemoryTotal: 24 * gib},
		{At: t0.Add(10 * time.Second), Worker: "w1", GPU: 0, Utilization: math.NaN(), MemoryUsed: -1, MemoryTotal: -1},
		{At: t0, Worker: "w1", GPU: 1, Utilization: 0.25, MemoryUsed: 0, MemoryTotal: 24 * gib},
	}))
	got, err := s.GPU(ctx, store.BucketParams{Window: store.Window{From: t0, To: t0.Add(time.Minute)}, Step: time.Minute})
	must(t, err)
	if len(got) != 2 {
		t.Fatalf("GPU buckets = %+v", got)
	}
	g := got[0]
	if g.GPU != 0 || g.UtilizationSum != 1.5 || g.UtilizationCount != 2 || g.MemoryRatioSum != 0.75 || g.MemoryRatioCount != 2 {
		t.Fatalf("GPU 0 = %+v, want utilisation 1.5/2, memory 0.75/2", g)
	}
	if got[1].GPU != 1 || got[1].UtilizationSum != 0.25 || got[1].MemoryRatioCount != 1 {
		t.Fatalf("GPU 1 = %+v", got[1])
	}
}

// jobFigures: outcomes, run times, submissions, costs per owner, usage,
// failures, error codes, the slowest jobs and the queue, from real
// transitions.
func jobFigures(t *testing.T, s Clocked) {
	ctx := context.Background()
	c := setClock(s, t0)
	acme, other := newOwner(), newOwner()
	run := func(owner string, d time.Duration, end store.Transition, code string) *store.Job {
		j := createPriced(t, s, owner)
		apply(t, s, store.ApplyParams{JobID: j.ID, Transition: store.Start, Attempt: 1, Worker: "w"})
		c.add(d)
		p := store.ApplyParams{JobID: j.ID, Transition: end, Attempt: 1, Code: code, Message: "m",
			Result: store.Result{Key: "k", ExpiresAt: c.t.Add(time.Hour)}}
		if end == store.Cancel {
			p.Attempt, p.Owner = 0, owner
		}
		apply(t, s, p)
		return j
	}
	fast := run(acme, 2*time.Second, store.Complete, "")
	slow := run(acme, 9*time.Second, store.Complete, "")
	run(other, 4*time.Second, store.Complete, "")
	run(other, time.Second, store.Fail, "timeout")
	run(acme, time.Second, store.Fail, "timeout")
	run(acme, time.Second, store.Fail, "no_face_detected")
	run(other, 0, store.Cancel, "")
	queued := createPriced(t, s, acme)
	running := createPriced(t, s, other)
	apply(t, s, store.ApplyParams{JobID: running.ID, Transition: store.Start, Attempt: 1, Worker: "w"})
	c.add(time.Hour)
	apply(t, s, store.ApplyParams{JobID: fast.ID, Transition: store.Expire}) // still a completed job
	w := store.Window{From: t0, To: c.t}

	outcomes, err := s.Outcomes(ctx, store.BucketParams{Window: w, Step: time.Hour})
	must(t, err)
	counts := map[store.State]int64{}
	for _, o := range outcomes {
		counts[o.State] += o.Jobs
	}
	if counts[store.StateCompleted] != 3 || counts[store.StateFailed] != 3 || counts[store.StateCancelled] != 1 || len(counts) != 3 {
		t.Fatalf("outcomes = %v", counts)
	}
	runs, err := s.RunTimes(ctx, w)
	must(t, err)
	if len(runs) != 3 || runs[0].Run != 2*time.Second || runs[1].Run != 9*time.Second || runs[2].Run != 4*time.Second {
		t.Fatalf("run times = %+v, want 2 s, 9 s, 4 s in order of completion", runs)
	}
	if n, err := s.Submitted(ctx, w); err != nil || n != 9 {
		t.Fatalf("submitted = %d, %v; want 9", n, err)
	}
	perHour, err := s.SubmittedPer(ctx, store.BucketParams{Window: w, Step: time.Hour})
	must(t, err)
	if len(perHour) != 1 || perHour[0].Count != 9 || !perHour[0].Start.Equal(t0) {
		t.Fatalf("submitted per hour = %+v", perHour)
	}
	byOwner, err := s.ChargedPerOwner(ctx, store.BucketParams{Window: w, Step: time.Hour})
	must(t, err)
	billedRuns := map[string]int64{}
	for _, b := range byOwner {
		billedRuns[b.Owner] += b.Runs
	}
	if len(billedRuns) != 2 || billedRuns[acme] != 4 || billedRuns[other] != 3 {
		t.Fatalf("charged per owner = %+v", byOwner)
	}
	if n, err := s.Submitted(ctx, store.Window{From: t0.Add(-time.Hour), To: t0}); err != nil || n != 0 {
		t.Fatalf("submitted before = %d, %v", n, err)
	}
	costs, err := s.CostByOwner(ctx, w, 10)
	must(t, err)
	if len(costs) != 2 || costs[0].Owner != acme || costs[0].Billed != 13*time.Second || costs[0].Jobs != 4 ||
		costs[0].Cost != price.Of(2*time.Second)+price.Of(9*time.Second)+2*price.Of(time.Second) {
		t.Fatalf("cost by owner = %+v", costs)
	}
	charged, err := s.ChargedPerOwner(ctx, store.BucketParams{Window: w, Step: 24 * time.Hour})
	must(t, err)
	var billed time.Duration
	for _, b := range charged {
		billed += b.Billed
	}
	if billed != 18*time.Second {
		t.Fatalf("billed in all %s, want 18 s", billed)
	}
	total, cost, err := s.ChargedIn(ctx, w)
	must(t, err)
	if total != 18*time.Second || cost != price.Of(2*time.Second)+price.Of(9*time.Second)+price.Of(4*time.Second)+3*price.Of(time.Second) {
		t.Fatalf("charged in the window: %s, %d", total, cost)
	}
	if total, cost, err := s.ChargedIn(ctx, store.Window{From: t0.Add(-time.Hour), To: t0}); err != nil || total != 0 || cost != 0 {
		t.Fatalf("charged before anything: %s, %d, %v", total, cost, err)
	}
	usage, err := s.UsageByOwner(ctx, w, 10)
	must(t, err)
	if len(usage) != 2 || usage[0].Owner != acme || usage[0].Submitted != 5 || usage[0].Completed != 2 || usage[0].Failed != 2 ||
		usage[1].Cancelled != 1 || usage[1].Submitted != 4 {
		t.Fatalf("usage = %+v", usage)
	}
	failures, err := s.Failures(ctx, w, 2)
	must(t, err)
	if len(failures) != 2 || failures[0].ErrorCode != "no_face_detected" {
		t.Fatalf("failures = %v", jobIDs(failures))
	}
	codes, err := s.ErrorCodes(ctx, w, 10)
	must(t, err)
	if len(codes) != 2 || codes[0] != (store.CodeCount{Code: failTimeout, Count: 2}) {
		t.Fatalf("error codes = %+v", codes)
	}
	slowest, err := s.Slowest(ctx, w, 1)
	must(t, err)
	if len(slowest) != 1 || slowest[0].ID != slow.ID {
		t.Fatalf("slowest = %v, want %s", jobIDs(slowest), slow.ID)
	}
	depths, err := s.QueueDepths(ctx)
	must(t, err)
	if len(depths) != 1 || depths[0] != (store.QueueDepth{Backend: "local", Queued: 1, Running: 1}) {
		t.Fatalf("queue depths = %+v (queued %s, running %s)", depths, queued.ID, running.ID)
	}
}

// prune: history older than the retention goes, with expired sessions;
// jobs and charges stay.
func prune(t *testing.T, s Clocked) {
	ctx := context.Background()
	c := setClock(s, t0)
	j := createPriced(t, s, newOwner())
	apply(t, s, store.ApplyParams{JobID: j.ID, Transition: store.Start, Attempt: 1, Worker: "w"})
	c.add(time.Second)
	apply(t, s, store.ApplyParams{JobID: j.ID, Transition: store.Fail, Attempt: 1, Code: failTimeout, Message: "m"})
	old, recent := t0.Add(-36*24*time.Hour), t0.Add(-time.Hour)
	for _, at := range []time.Time{old, recent} {
		must(t, s.AddRequests(ctx, []store.RequestCount{{Minute: at, Replica: "a", Class: "2xx", Requests: 1}}))
		must(t, s.AddWorkerTime(ctx, []store.WorkerTime{{Minute: at, Worker: "w", Capacity: time.Minute}}))
		must(t, s.AddGPUSamples(ctx, []store.GPUSample{{At: at, Worker: "w", Utilization: 1, MemoryUsed: 1, MemoryTotal: 2}}))
		must(t, s.AddRefusals(ctx, []store.RefusalCount{{Minute: at, Replica: "a", Owner: "o", Refusals: 1}}))
	}
	must(t, s.CreateSession(ctx, store.Session{Hash: "gone", KeyID: "k", CreatedAt: old, ExpiresAt: t0}))
	must(t, s.CreateSession(ctx, store.Session{Hash: "kept", KeyID: "k", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}))
	n, err := s.Prune(ctx, store.PruneParams{Before: t0.Add(-35 * 24 * time.Hour), Now: t0})
	must(t, err)
	if n != 5 {
		t.Fatalf("pruned %d rows, want 5 (4 old history rows, 1 expired session)", n)
	}
	all := store.Window{From: old.Add(-time.Hour), To: t0.Add(time.Hour)}
	reqs, err := s.Requests(ctx, store.BucketParams{Window: all, Step: time.Hour})
	must(t, err)
	use, err := s.WorkersPer(ctx, store.BucketParams{Window: all, Step: 24 * time.Hour})
	must(t, err)
	gpus, err := s.GPU(ctx, store.BucketParams{Window: all, Step: time.Hour})
	must(t, err)
	refused, err := s.RefusalsByOwner(ctx, all, 10)
	must(t, err)
	if len(reqs) != 1 || !reqs[0].Start.Equal(recent.Truncate(time.Hour)) || len(use) != 1 || len(gpus) != 1 ||
		len(refused) != 1 || refused[0].Refusals != 1 {
		t.Fatalf("after pruning: requests %+v, workers %+v, GPU %+v, refusals %+v", reqs, use, gpus, refused)
	}
	if _, err := s.SessionByHash(ctx, "gone"); err != store.ErrNotFound {
		t.Fatalf("expired session: %v", err)
	}
	if _, err := s.SessionByHash(ctx, "kept"); err != nil {
		t.Fatal(err)
	}
	if charges, err := s.Charges(ctx, j.ID); err != nil || len(charges) != 1 {
		t.Fatalf("charges after pruning: %v, %v", charges, err)
	}
}

// sessions: stored by hash, read back, deleted.
func sessions(t *testing.T, s Clocked) {
	ctx := context.Background()
	se := store.Session{Hash: "h1", KeyID: "key-1", CreatedAt: t0, ExpiresAt: t0.Add(12 * time.Hour)}
	must(t, s.CreateSession(ctx, se))
	got, err := s.SessionByHash(ctx, "h1")
	must(t, err)
	if got.KeyID != "key-1" || !got.CreatedAt.Equal(t0) || !got.ExpiresAt.Equal(se.ExpiresAt) {
		t.Fatalf("session = %+v", got)
	}
	if err := s.CreateSession(ctx, se); err != store.ErrConflict {
		t.Fatalf("a second session with the same hash: %v, want ErrConflict", err)
	}
	must(t, s.DeleteSession(ctx, "h1"))
	must(t, s.DeleteSession(ctx, "h1"))
	if _, err := s.SessionByHash(ctx, "h1"); err != store.ErrNotFound {
		t.Fatalf("deleted session: %v", err)
	}
}
