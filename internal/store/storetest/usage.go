package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/store"
)

// usage: an owner's figures are counted each at its own moment, in its
// bucket (created, ended, charged), by the job's state now; another
// owner's rows are not counted. RecentRuns lists the completed jobs of one
// backend, latest first, within its window and limit.
func usage(t *testing.T, s Clocked) {
	ctx := context.Background()
	c := setClock(s, t0) // 23:00
	owner, other := newOwner(), newOwner()
	run := func(owner string, billed time.Duration, end store.Transition) *store.Job {
		return runTo(t, s, c, createPriced(t, s, owner), billed, end)
	}
	done := run(owner, 2*time.Second, store.Complete) // 23:00:00 → 23:00:02
	run(owner, 3*time.Second, store.Fail)             // → 23:00:05
	run(other, 7*time.Second, store.Complete)         // → 23:00:12, not the owner's
	c.add(time.Hour)                                  // 00:00:12, the next hour
	run(owner, 4*time.Second, store.Cancel)           // → 00:00:16, billed to its last sign of life: 0 s
	expired := run(owner, 5*time.Second, store.Complete)
	apply(t, s, store.ApplyParams{JobID: expired.ID, Transition: store.Expire})
	createPriced(t, s, owner) // still queued: submitted, not ended

	got, err := s.UsagePer(ctx, store.UsageParams{Owner: owner,
		BucketParams: store.BucketParams{Window: store.Window{From: t0, To: c.t.Add(time.Second)}, Step: time.Hour}})
	must(t, err)
	want := []store.UsageBucket{
		{Start: t0, Submitted: 2, Completed: 1, Failed: 1, Video: 4700 * time.Millisecond,
			Runs: 2, Billed: 5 * time.Second, Cost: price.Of(5 * time.Second)},
		{Start: t0.Add(time.Hour), Submitted: 3, Cancelled: 1, Expired: 1, Video: 4700 * time.Millisecond,
			Runs: 2, Billed: 5 * time.Second, Cost: price.Of(5 * time.Second)},
	}
	if len(got) != len(want) {
		t.Fatalf("usage = %+v, want %+v", got, want)
	}
	for i := range want {
		if !got[i].Start.Equal(want[i].Start) {
			t.Errorf("bucket %d starts %s, want %s", i, got[i].Start, want[i].Start)
		}
		got[i].Start = want[i].Start
		if got[i] != want[i] {
			t.Errorf("bucket %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if got, err := s.UsagePer(ctx, store.UsageParams{Owner: newOwner(),
		BucketParams: store.BucketParams{Window: store.Window{From: t0, To: c.t}, Step: time.Hour}}); err != nil || len(got) != 0 {
		t.Fatalf("an owner without jobs: %+v, %v", got, err)
	}

	runs, err := s.RecentRuns(ctx, store.RecentRunsParams{Backend: "local", Since: t0, Limit: 10})
	must(t, err)
	// Completed (or expired since), latest first: expired, other's, done.
	if len(runs) != 3 || runs[0].Billed != 5*time.Second || runs[1].Billed != 7*time.Second || runs[2].Billed != 2*time.Second {
		t.Fatalf("recent runs = %+v", runs)
	}
	if r := runs[2]; r.Width != done.Width || r.Height != done.Height || r.FPS != done.FPS || r.Video != done.AudioDuration {
		t.Fatalf("figures %+v of job %+v", r, done)
	}
	for _, p := range []store.RecentRunsParams{
		{Backend: "local", Since: t0, Limit: 2},
		{Backend: "local", Since: t0.Add(time.Hour), Limit: 10},
		{Backend: "runpod", Since: t0, Limit: 10},
	} {
		runs, err := s.RecentRuns(ctx, p)
		must(t, err)
		wantN := map[string]int{"runpod": 0}[p.Backend]
		if p.Backend == "local" {
			wantN = 1
			if p.Limit == 2 {
				wantN = 2
			}
		}
		if len(runs) != wantN {
			t.Errorf("RecentRuns(%+v) = %d runs, want %d", p, len(runs), wantN)
		}
	}
}
