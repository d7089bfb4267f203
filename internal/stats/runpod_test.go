package stats_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/stats"
)

// runpodSource is a RunPod health source whose answer the test sets, as
// the app's poller sets it.
type runpodSource struct {
	mu sync.Mutex
	h  stats.RunPodHealth
}

func (s *runpodSource) set(h stats.RunPodHealth) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.h = h
}

func (s *runpodSource) get() stats.RunPodHealth {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.h
}

// runpodJSON is the dashboard's runpod as JSON, refreshed over rng.
func runpodJSON(t *testing.T, svc *stats.Service, rng string) string {
	t.Helper()
	d, err := svc.Dashboard(context.Background(), rng)
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]json.RawMessage
	b, _ := json.Marshal(d)
	if err := json.Unmarshal(b, &all); err != nil {
		t.Fatal(err)
	}
	got, ok := all["runpod"]
	if !ok {
		t.Fatalf("no runpod in %s", b)
	}
	return string(got)
}

// TestRunPodPanel: with a RunPod source, every refresh carries the
// endpoint's workers and queue as last read, with when, in any range;
// before the first read they are null, and a failed read since the last
// good one is told with its time. Without a source, runpod is null.
func TestRunPodPanel(t *testing.T) {
	t.Parallel()
	h := newHistory(t)
	now := time.Date(2026, 12, 3, 10, 7, 0, 0, time.UTC)
	h.now = now
	src := &runpodSource{}
	svc := &stats.Service{History: h, Location: time.UTC, Price: price, Now: func() time.Time { return now }, RunPod: src.get}

	src.set(stats.RunPodHealth{Interval: 30 * time.Second})
	if got, want := runpodJSON(t, svc, "24h"), `{"workers":null,"queue":null,"read_at":null,"failed_at":null,"interval_seconds":30}`; got != want {
		t.Errorf("before the first read:\n got %s\nwant %s", got, want)
	}

	ny, err := time.LoadLocation("America/New_York") // shown in UTC, as every time of the JSON
	if err != nil {
		t.Fatal(err)
	}
	src.set(stats.RunPodHealth{Interval: 30 * time.Second, FailedAt: now.Add(-5 * time.Second).In(ny)})
	if got, want := runpodJSON(t, svc, "24h"), `{"workers":null,"queue":null,"read_at":null,"failed_at":"2026-12-03T10:06:55Z","interval_seconds":30}`; got != want {
		t.Errorf("after a failed first read:\n got %s\nwant %s", got, want)
	}

	read := stats.RunPodHealth{
		Workers: stats.RunPodWorkers{Idle: 1, Initializing: 2, Ready: 3, Running: 4, Throttled: 5, Unhealthy: 6},
		Queue:   stats.RunPodQueue{InQueue: 7, InProgress: 8},
		ReadAt:  now.Add(-12 * time.Second), Interval: 30 * time.Second,
	}
	src.set(read)
	want := `{"workers":{"idle":1,"initializing":2,"ready":3,"running":4,"throttled":5,"unhealthy":6},` +
		`"queue":{"in_queue":7,"in_progress":8},"read_at":"2026-12-03T10:06:48Z","failed_at":null,"interval_seconds":30}`
	for _, rng := range stats.RangeNames() {
		if got := runpodJSON(t, svc, rng); got != want {
			t.Errorf("read, range %s:\n got %s\nwant %s", rng, got, want)
		}
	}

	read.FailedAt = now.Add(-2 * time.Second)
	src.set(read)
	want = `{"workers":{"idle":1,"initializing":2,"ready":3,"running":4,"throttled":5,"unhealthy":6},` +
		`"queue":{"in_queue":7,"in_progress":8},"read_at":"2026-12-03T10:06:48Z","failed_at":"2026-12-03T10:06:58Z","interval_seconds":30}`
	if got := runpodJSON(t, svc, "1h"); got != want {
		t.Errorf("read, then a failed read:\n got %s\nwant %s", got, want)
	}

	local := &stats.Service{History: h, Location: time.UTC, Price: price, Now: func() time.Time { return now }}
	if got := runpodJSON(t, local, "24h"); got != "null" {
		t.Errorf("without RunPod: runpod is %s, want null", got)
	}
}
