package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/store"
)

// refusals: every replica's refusals add up per minute and owner, and are
// summed per owner over a window, From included, To not, most first.
func refusals(t *testing.T, s Clocked) {
	ctx := context.Background()
	m := t0.Truncate(time.Minute)
	must(t, s.AddRefusals(ctx, []store.RefusalCount{
		{Minute: m, Replica: "a", Owner: "acme", Refusals: 2},
		{Minute: m.Add(20 * time.Second), Replica: "a", Owner: "acme", Refusals: 3}, // the same minute
		{Minute: m, Replica: "b", Owner: "acme", Refusals: 4},
		{Minute: m, Replica: "a", Owner: "other", Refusals: 1},
		{Minute: m.Add(59 * time.Minute), Replica: "b", Owner: "other", Refusals: 5},
		{Minute: m.Add(-time.Minute), Replica: "a", Owner: "early", Refusals: 100}, // before the window
		{Minute: m.Add(time.Hour), Replica: "a", Owner: "late", Refusals: 100},     // after it
	}))
	must(t, s.AddRefusals(ctx, []store.RefusalCount{{Minute: m, Replica: "a", Owner: "acme", Refusals: 1}}))
	must(t, s.AddRefusals(ctx, nil))
	w := store.Window{From: m, To: m.Add(time.Hour)}
	got, err := s.RefusalsByOwner(ctx, w, 10)
	must(t, err)
	if want := []store.OwnerRefusals{{Owner: "acme", Refusals: 10}, {Owner: "other", Refusals: 6}}; !slices.Equal(got, want) {
		t.Fatalf("refusals by owner = %+v, want %+v", got, want)
	}
	if got, err := s.RefusalsByOwner(ctx, w, 1); err != nil || len(got) != 1 || got[0].Owner != "acme" {
		t.Fatalf("refusals by owner, at most 1: %+v, %v", got, err)
	}
	if got, err := s.RefusalsByOwner(ctx, store.Window{From: m.Add(2 * time.Hour), To: m.Add(3 * time.Hour)}, 10); err != nil || len(got) != 0 {
		t.Fatalf("refusals of an empty window: %+v, %v", got, err)
	}
}

// oldestQueued: when the job that has waited longest became queued, by
// creation or by a return to the queue; nil when none waits.
func oldestQueued(t *testing.T, s Clocked) {
	ctx := context.Background()
	want := func(at *time.Time) {
		t.Helper()
		got, err := s.OldestQueued(ctx)
		must(t, err)
		if (got == nil) != (at == nil) || got != nil && !got.Equal(*at) {
			t.Fatalf("oldest queued = %v, want %v", got, at)
		}
	}
	want(nil)
	c := setClock(s, t0)
	first := createPriced(t, s, newOwner())
	c.add(time.Minute)
	createPriced(t, s, newOwner())
	t0 := t0
	want(&t0)
	c.add(time.Minute)
	apply(t, s, store.ApplyParams{JobID: first.ID, Transition: store.Start, Attempt: 1, Worker: "w"})
	second := t0.Add(time.Minute)
	want(&second)
	c.add(time.Minute)
	apply(t, s, store.ApplyParams{JobID: first.ID, Transition: store.Requeue, Attempt: 1})
	want(&second)
}
