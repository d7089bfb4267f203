package stats

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/store"
	"github.com/avatar-api/avatar-api/internal/store/sqlite"
)

// TestCacheSharedByRefreshes: refreshes at moments on either side of a
// quarter's settling, at once and in any order, never change what the
// cache holds: each answers what a full read answers (run with -race).
func TestCacheSharedByRefreshes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "a.db"), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	base := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	var rows []store.RequestCount
	for m := base.Add(-2 * time.Hour); m.Before(base.Add(time.Hour)); m = m.Add(time.Minute) {
		rows = append(rows, store.RequestCount{Minute: m, Replica: "a", Class: "2xx", Requests: int64(m.Minute() + 1)})
	}
	if err := h.AddRequests(ctx, rows); err != nil {
		t.Fatal(err)
	}
	r, _ := RangeNamed("24h")
	query := func(now time.Time) Query { return Query{Range: r, Now: now, Location: time.UTC} }
	// 12:29:59 and 12:30:01: the quarter 12:00–12:15 settles in between.
	moments := []time.Time{base.Add(29*time.Minute + 59*time.Second), base.Add(30*time.Minute + time.Second), base.Add(46 * time.Minute), base.Add(44 * time.Minute)}
	want := map[time.Time]string{}
	for _, now := range moments {
		d, err := Fetch(ctx, h, query(now))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(d.Requests)
		want[now] = string(b)
	}
	cache := &quarters{}
	check := func(now time.Time) {
		d, err := fetch(ctx, h, query(now), cache)
		if err != nil {
			t.Error(err)
			return
		}
		if b, _ := json.Marshal(d.Requests); string(b) != want[now] {
			t.Errorf("at %s the cached refresh differs from a full read", now.Format("15:04:05"))
		}
	}
	for _, now := range moments { // in order, then back in time
		check(now)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { check(moments[i%len(moments)]) })
	}
	wg.Wait()
}
