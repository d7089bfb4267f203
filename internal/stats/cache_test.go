package stats_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/stats"
	"github.com/avatar-api/avatar-api/internal/store"
)

// TestCachedQuartersAgree: a dashboard refreshed every few minutes while
// history is written — its quarters over for good read once, from cache —
// shows exactly what a refresh that reads everything shows, in every
// range, in a zone whose hours start at half past.
func TestCachedQuartersAgree(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	loc, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	h := newHistory(t)
	r := rand.New(rand.NewPCG(3, 4))
	now := time.Date(2026, 11, 28, 22, 3, 0, 0, time.UTC)
	warm := &stats.Service{History: h, Location: loc, Price: price, Now: func() time.Time { return now }}
	outcomes := []store.Transition{store.Complete, store.Complete, store.Complete, store.Fail, store.Cancel}
	for step := range 300 { // about a day and a half, in steps of 7 minutes
		next := now.Add(7 * time.Minute)
		for range r.IntN(4) { // jobs that end within the step
			at := now.Add(time.Duration(r.Int64N(int64(7 * time.Minute))))
			end := outcomes[r.IntN(len(outcomes))]
			h.run(t, fmt.Sprintf("c%d", r.IntN(5)), at, time.Duration(1+r.IntN(90))*time.Second, end, "timeout")
		}
		for m := now.Truncate(time.Minute); m.Before(next); m = m.Add(time.Minute) {
			must(t, h.AddRequests(ctx, []store.RequestCount{{Minute: m, Replica: "a", Class: "2xx", Requests: int64(r.IntN(9))},
				{Minute: m, Replica: "b", Class: []string{"2xx", "4xx", "5xx"}[r.IntN(3)], Requests: 1}}))
			must(t, h.AddWorkerTime(ctx, []store.WorkerTime{{Minute: m, Worker: "w", Capacity: time.Minute, Busy: time.Duration(r.IntN(60)) * time.Second}}))
			must(t, h.AddGPUSamples(ctx, []store.GPUSample{{At: m.Add(5 * time.Second), Worker: "g", Utilization: r.Float64(), MemoryUsed: 1, MemoryTotal: 2}}))
		}
		now = next
		h.now = now
		if _, err := warm.Dashboard(ctx, []string{"24h", "7d", "30d", "1h"}[step%4]); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range stats.RangeNames() {
		got, err := warm.Dashboard(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		want, err := stats.Fetch(ctx, h, stats.Query{Range: mustRange(t, name), Now: now, Location: loc, Price: price})
		if err != nil {
			t.Fatal(err)
		}
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if string(g) != string(w) {
			t.Errorf("range %s: the cached refresh differs from the full one:\n got %.600s\nwant %.600s", name, g, w)
		}
		if want.Jobs.Completed == 0 && name != "1h" {
			t.Errorf("range %s: no jobs: the test wrote nothing", name)
		}
	}
}
