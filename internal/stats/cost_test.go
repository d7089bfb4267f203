package stats_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/avatar-api/avatar-api/internal/stats"
	"github.com/avatar-api/avatar-api/internal/store"
	"github.com/avatar-api/avatar-api/internal/store/sqlite"
	"github.com/avatar-api/avatar-api/internal/store/sqlstore"
)

// price is $0.00019 a second, in nano-dollars.
const price store.NanoUSD = 190_000

// history is a real SQLite store whose clock the test moves, and a way to
// bill runs at given times.
type history struct {
	*sqlstore.Store
	now time.Time
}

func newHistory(t *testing.T) *history {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "avatar.db"), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	h := &history{Store: s}
	s.SetClock(func() time.Time { return h.now })
	return h
}

// run makes a job of customer that runs for d and ends with end at at,
// with code if it fails; it returns the job.
func (h *history) run(t *testing.T, customer string, at time.Time, d time.Duration, end store.Transition, code string) *store.Job {
	t.Helper()
	ctx := context.Background()
	id := uuid.Must(uuid.NewV7()).String()
	j := &store.Job{ID: id, Owner: store.CustomerOwner(customer), ImageKey: "i/" + id, AudioKey: "a/" + id,
		Width: 512, Height: 512, FPS: 25, Seed: 1, Price: price, AudioDuration: 3 * time.Second}
	h.now = at.Add(-d - time.Second)
	if _, err := h.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	h.now = at.Add(-d)
	if _, err := h.Apply(ctx, store.ApplyParams{JobID: id, Transition: store.Start, Attempt: 1, Worker: "w1"}); err != nil {
		t.Fatal(err)
	}
	h.now = at
	a, err := h.Apply(ctx, store.ApplyParams{JobID: id, Transition: end, Attempt: 1, Code: code, Message: "it failed",
		Result: store.Result{Key: "r/" + id, ExpiresAt: at.Add(6 * time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	return a.Job
}

// TestCostOfTheDayAndMonthInAZone: days and months are counted in the
// cost time zone. In New York, a run billed at 23:30 on 30 November is
// November's — though it is 1 December in UTC — and today's cost starts
// at local midnight.
func TestCostOfTheDayAndMonthInAZone(t *testing.T) {
	t.Parallel()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	h := newHistory(t)
	local := func(mo time.Month, d, hh, mm int) time.Time { return time.Date(2026, mo, d, hh, mm, 0, 0, ny) }
	h.run(t, "acme", local(11, 15, 12, 0), 100*time.Second, store.Complete, "")   // mid-November
	h.run(t, "acme", local(11, 30, 23, 30), 200*time.Second, store.Complete, "")  // 04:30 UTC on 1 December
	h.run(t, "acme", local(12, 1, 0, 30), 10*time.Second, store.Complete, "")     // today
	h.run(t, "globex", local(12, 1, 2, 0), 20*time.Second, store.Fail, "timeout") // today, failed: billed too
	now := local(12, 1, 3, 0)

	c, err := stats.CostAt(context.Background(), h, now, ny)
	if err != nil {
		t.Fatal(err)
	}
	if c.TodayBilled != 30*time.Second || c.Today != price.Of(10*time.Second)+price.Of(20*time.Second) {
		t.Errorf("today: %s, %d nUSD; want 30 s", c.TodayBilled, c.Today)
	}
	if c.MonthBilled != 30*time.Second || c.Month != c.Today {
		t.Errorf("December: %s, %d nUSD; want today's alone", c.MonthBilled, c.Month)
	}
	if !c.DayStart.Equal(local(12, 1, 0, 0)) || !c.MonthStart.Equal(local(12, 1, 0, 0)) || !c.MonthEnd.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, ny)) {
		t.Errorf("day %s, month %s to %s", c.DayStart, c.MonthStart, c.MonthEnd)
	}
	// The last 24 hours hold the 200 s run of 30 November too: the rate
	// the forecast spreads over the 31 days minus 3 hours left.
	rate := price.Of(230 * time.Second)
	left := c.MonthEnd.Sub(now)
	want := c.Month + store.NanoUSD(float64(rate)*left.Hours()/24+0.5)
	if c.Last24h != rate || c.Forecast != want {
		t.Errorf("forecast %d from rate %d, want %d from %d", c.Forecast, c.Last24h, want, rate)
	}

	// In UTC the same charges fall otherwise: it is 08:00 on 1 December,
	// and the run of 23:30 New York time is December's and today's.
	u, err := stats.CostAt(context.Background(), h, now, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if u.TodayBilled != 230*time.Second || u.MonthBilled != 230*time.Second {
		t.Errorf("in UTC: today %s, month %s; want 230 s each", u.TodayBilled, u.MonthBilled)
	}

	// A month later, November's two runs are last month's.
	nov, err := stats.CostAt(context.Background(), h, local(11, 30, 23, 59), ny)
	if err != nil {
		t.Fatal(err)
	}
	if nov.MonthBilled != 300*time.Second || nov.TodayBilled != 200*time.Second {
		t.Errorf("on 30 November: month %s, today %s; want 300 s and 200 s", nov.MonthBilled, nov.TodayBilled)
	}
}

// TestForecast: the month's cost so far plus a day's rate for each day
// left.
func TestForecast(t *testing.T) {
	t.Parallel()
	if got := stats.Forecast(1_000_000_000, 100_000_000, 10*24*time.Hour); got != 2_000_000_000 {
		t.Errorf("$1 so far, $0.10 a day, 10 days left: forecast %d nUSD, want $2", got)
	}
	if got := stats.Forecast(5, 100, 0); got != 5 {
		t.Errorf("at the month's end the forecast is what it cost: %d", got)
	}
}
