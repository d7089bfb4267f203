package storetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/store"
)

// retention: PruneJobs deletes the final jobs that ended before its
// cutoff, oldest first and at most its limit, with their events and
// webhook deliveries; never a job that is not final, nor one that ended
// later. Every figure of GET /usage, the report and the costs reads the
// same after it as before. JobRefs names the jobs that remain.
func retention(t *testing.T, s Clocked) {
	ctx := context.Background()
	r, ok := s.(store.Retention)
	if !ok {
		t.Fatalf("%T does not implement store.Retention", s)
	}
	c := setClock(s, t0) // 23:00
	owner, other := newOwner(), newOwner()
	run := func(j *store.Job, billed time.Duration, end store.Transition) *store.Job {
		return runTo(t, s, c, j, billed, end)
	}
	var old []*store.Job
	old = append(old, run(createPriced(t, s, owner), 2*time.Second, store.Complete))
	old = append(old, run(createPriced(t, s, owner), 3*time.Second, store.Fail))
	old = append(old, run(createPriced(t, s, other), 7*time.Second, store.Complete))
	hooked := hookedJob(t, s, owner, hookURL, hookDisplay)
	old = append(old, run(hooked, 20*time.Second, store.Complete))
	c.add(time.Hour) // 00:00:32, the next hour and day
	old = append(old, run(createPriced(t, s, owner), 4*time.Second, store.Cancel))
	expired := run(createPriced(t, s, owner), 5*time.Second, store.Complete)
	apply(t, s, store.ApplyParams{JobID: expired.ID, Transition: store.Expire})
	lapsed := newJob(owner)
	lapsed.Price, lapsed.MaxQueue = price, time.Minute
	_, err := s.CreateJob(ctx, lapsed)
	must(t, err)
	c.add(90 * time.Second)
	apply(t, s, store.ApplyParams{JobID: lapsed.ID, Transition: store.Lapse, Code: failLapsed, Message: "waited too long"})
	old = append(old, expired, lapsed)
	queued := createPriced(t, s, owner) // never ends: never pruned

	w := store.Window{From: t0.Add(-time.Hour), To: t0.Add(3 * time.Hour)}
	figures := func() map[string]any {
		t.Helper()
		f := map[string]any{}
		for _, step := range []time.Duration{15 * time.Minute, time.Hour, 24 * time.Hour} {
			p := store.BucketParams{Window: w, Step: step}
			for _, o := range []string{owner, other} {
				u, err := s.UsagePer(ctx, store.UsageParams{BucketParams: p, Owner: o})
				must(t, err)
				f["usage "+o+" "+step.String()] = u
			}
			sp, err := s.SubmittedPer(ctx, p)
			must(t, err)
			f["submitted per "+step.String()] = sp
			oc, err := s.Outcomes(ctx, p)
			must(t, err)
			f["outcomes "+step.String()] = oc
		}
		n, err := s.Submitted(ctx, w)
		must(t, err)
		f["submitted"] = n
		u, err := s.UsageByOwner(ctx, w, 10)
		must(t, err)
		f["by owner"] = u
		codes, err := s.ErrorCodes(ctx, w, 10)
		must(t, err)
		f["codes"] = codes
		costs, err := s.CostByOwner(ctx, w, 10)
		must(t, err)
		f["costs"] = costs
		billed, cost, err := s.ChargedIn(ctx, w)
		must(t, err)
		f["charged"] = []any{billed, cost}
		return f
	}
	before := figures()
	if got := before["submitted"]; got != int64(len(old)+1) {
		t.Fatalf("submitted before pruning = %v, want %d", got, len(old)+1)
	}

	c.add(31 * 24 * time.Hour)
	recent := run(createPriced(t, s, owner), time.Second, store.Fail) // ended within the retention
	cutoff := c.t.Add(-30 * 24 * time.Hour)

	var keys []string
	var total store.Pruned
	for _, limit := range []int{2, 100, 100} {
		p, err := r.PruneJobs(ctx, store.PruneJobsParams{Before: cutoff, Limit: limit})
		must(t, err)
		want := min(int64(limit), int64(len(old))-total.Jobs)
		if p.Jobs != want {
			t.Fatalf("PruneJobs(limit %d) pruned %d jobs, want %d", limit, p.Jobs, want)
		}
		total.Jobs, total.Events, total.Deliveries = total.Jobs+p.Jobs, total.Events+p.Events, total.Deliveries+p.Deliveries
		keys = append(keys, p.Keys...)
	}
	// Each job: create, start, its end (and the expiry): 3 events, 4 of the expired; the lapsed 2.
	if total.Events != int64(3*len(old)) || total.Deliveries != 1 {
		t.Errorf("pruned %d events and %d deliveries, want %d and 1", total.Events, total.Deliveries, 3*len(old))
	}
	for _, j := range old {
		if _, err := s.GetJob(ctx, j.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("job %s read after pruning: %v, want not found", j.ID, err)
		}
		if ev, err := s.Events(ctx, store.EventsParams{JobID: j.ID, Limit: 10}); err != nil || len(ev) != 0 {
			t.Errorf("job %s has %d events after pruning (%v)", j.ID, len(ev), err)
		}
		for _, k := range []string{j.ImageKey, j.AudioKey} {
			if !slices.Contains(keys, k) {
				t.Errorf("the pruned job's key %s is not among those to delete", k)
			}
		}
	}
	if !slices.Contains(keys, "results/"+hooked.ID+"-1.mp4") {
		t.Errorf("the pruned video's key is not among those to delete: %q", keys)
	}
	if ds, _, err := webhooks(t, s).JobWebhooks(ctx, hooked.ID); err != nil || len(ds) != 0 {
		t.Errorf("the pruned job's deliveries: %+v, %v", ds, err)
	}

	refs, err := r.JobRefs(ctx, append(jobIDs(old), queued.ID, recent.ID))
	must(t, err)
	want := map[string]store.JobRef{queued.ID: {State: store.StateQueued}, recent.ID: {State: store.StateFailed}}
	if !reflect.DeepEqual(refs, want) {
		t.Errorf("JobRefs = %+v, want only the queued and the recent job: %+v", refs, want)
	}
	if after := figures(); !reflect.DeepEqual(after, before) {
		for k := range before {
			if !reflect.DeepEqual(after[k], before[k]) {
				t.Errorf("%s after pruning = %+v, before %+v", k, after[k], before[k])
			}
		}
	}
}

// runTo starts j's attempt 1 on worker w1, lets billed pass and ends it by
// end (Complete, Fail, or the owner's Cancel).
func runTo(t *testing.T, s Clocked, c *clock, j *store.Job, billed time.Duration, end store.Transition) *store.Job {
	t.Helper()
	apply(t, s, store.ApplyParams{JobID: j.ID, Transition: store.Start, Attempt: 1, Worker: "w1"})
	c.add(billed)
	p := store.ApplyParams{JobID: j.ID, Transition: end, Attempt: 1}
	switch end {
	case store.Complete:
		p.Result = store.Result{Key: "results/" + j.ID + "-1.mp4", ExpiresAt: c.t.Add(time.Hour)}
	case store.Fail:
		p.Code, p.Message = failGeneration, "no"
	case store.Cancel:
		p.Attempt, p.Owner = 0, j.Owner
	}
	apply(t, s, p)
	return j
}
