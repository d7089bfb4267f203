package alert_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/avatar-api/avatar-api/internal/alert"
	"github.com/avatar-api/avatar-api/internal/store"
	"github.com/avatar-api/avatar-api/internal/store/sqlite"
	"github.com/avatar-api/avatar-api/internal/store/sqlstore"
)

// bill records one job that ran for run, ending at end, at $1 a second.
func bill(t *testing.T, st *sqlstore.Store, now *time.Time, end time.Time, run time.Duration) {
	t.Helper()
	ctx := context.Background()
	id := uuid.Must(uuid.NewV7()).String()
	*now = end.Add(-run)
	if _, err := st.CreateJob(ctx, &store.Job{ID: id, Owner: store.CustomerOwner("acme"), ImageKey: "i/" + id, AudioKey: "a/" + id,
		Width: 512, Height: 512, FPS: 25, Price: 1_000_000_000, AudioDuration: time.Second}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply(ctx, store.ApplyParams{JobID: id, Transition: store.Start, Attempt: 1, Worker: "w"}); err != nil {
		t.Fatal(err)
	}
	*now = end
	if _, err := st.Apply(ctx, store.ApplyParams{JobID: id, Transition: store.Complete, Attempt: 1,
		Result: store.Result{Key: "r/" + id, ExpiresAt: end.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
}

// TestForecastComesTrue: a forecast alert of a budget's share is not
// "resolved" when the actual spend reaches that share (the forecast came
// true); both fire until the month ends. An alert that stops holding is
// resolved only after alert.ResolveAfter.
func TestForecastComesTrue(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "avatar.db"), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)
	st.SetClock(func() time.Time { return now })
	e := &alert.Engine{
		Rules: alert.Rules{MonthlyBudget: 1000 * 1_000_000_000}, Store: st, Repeat: 24 * time.Hour,
		Now: func() time.Time { return now },
	}
	evaluate := func() []string {
		t.Helper()
		ev, err := e.Evaluate(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, f := range ev.Firing {
			keys = append(keys, f.Key)
		}
		return keys
	}
	firing := func() map[string]bool {
		t.Helper()
		states, err := st.AlertStates(context.Background(), 100)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, s := range states {
			out[s.Key] = s.Firing
		}
		return out
	}
	// $100 spent in the last day of a month with 21 days left: the
	// forecast ($100 + 21 × $100) passes 100 % of $1000; nothing spent is
	// near 50 %.
	bill(t, st, &now, time.Date(2026, 12, 10, 11, 0, 0, 0, time.UTC), 100*time.Second)
	if got := evaluate(); len(got) != 3 || got[0] != "budget_forecast/2026-12/100" {
		t.Fatalf("firing %v, want the forecast of 50, 80 and 100 %%", got)
	}
	// $400 more: $500 spent, 50 % of the budget: the forecast of 50 % no
	// longer holds by the rules, but stays firing with the actual.
	bill(t, st, &now, time.Date(2026, 12, 10, 12, 30, 0, 0, time.UTC), 400*time.Second)
	now = now.Add(alert.ResolveAfter + time.Minute)
	if got := evaluate(); len(got) != 3 || got[0] != "budget_actual/2026-12/50" {
		t.Fatalf("firing %v, want the actual 50 %% and the forecast of 80 and 100 %%", got)
	}
	f := firing()
	if !f["budget_forecast/2026-12/50"] || !f["budget_actual/2026-12/50"] {
		t.Fatalf("alert states %v: the forecast of 50 %% resolved when it came true", f)
	}
	// The next month: everything of December resolves, ResolveAfter after
	// it last held.
	now = time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC)
	evaluate()
	now = time.Date(2027, 1, 1, 0, 1, 0, 0, time.UTC)
	evaluate()
	if f := firing(); !f["budget_actual/2026-12/50"] {
		t.Fatalf("resolved before ResolveAfter: %v", f)
	}
	now = time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC).Add(alert.ResolveAfter)
	evaluate()
	for k, on := range firing() {
		if on {
			t.Errorf("%s still fires in January", k)
		}
	}
}
