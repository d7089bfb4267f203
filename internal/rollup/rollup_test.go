package rollup_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/rollup"
	"github.com/avatar-api/avatar-api/internal/store"
	"github.com/avatar-api/avatar-api/internal/store/sqlite"
	"github.com/avatar-api/avatar-api/internal/store/sqlstore"
)

var t0 = time.Date(2026, 12, 3, 10, 0, 30, 0, time.UTC)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func open(t *testing.T) *sqlstore.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "avatar.db"), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestRequestsAndWorkerTime: requests land in their minute and class;
// worker time is split at minute boundaries; a flush adds to what the
// database has, and two processes add up.
func TestRequestsAndWorkerTime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t)
	c := &clock{t0}
	r := rollup.New(s, "host:1", quiet, c.now)
	r.SetSlots(2)
	r.Request("customer:acme", 200)
	r.Request("customer:acme", 201)
	r.Request("customer:acme", 404)
	r.Request("customer:acme", 999) // not a status: not counted
	r.RunStarted()
	c.t = c.t.Add(45 * time.Second) // 10:01:15: 30 s in minute 10:00, 15 s in 10:01
	r.Request("customer:acme", 503)
	if !r.Busy() {
		t.Fatal("a running job does not make the workers busy")
	}
	must(t, r.Flush(ctx))
	r.RunEnded()
	c.t = c.t.Add(15 * time.Second)
	must(t, r.Flush(ctx))

	other := rollup.New(s, "host:2", quiet, c.now)
	other.Request("customer:acme", 200)
	must(t, other.Flush(ctx))

	w := store.Window{From: t0.Add(-time.Hour), To: t0.Add(time.Hour)}
	reqs, err := s.Requests(ctx, store.BucketParams{Window: w, Step: time.Minute})
	must(t, err)
	got := map[string]int64{}
	for _, b := range reqs {
		got[b.Start.Format("15:04")+" "+b.Class] += b.Requests
	}
	want := map[string]int64{"10:00 2xx": 2, "10:00 4xx": 1, "10:01 5xx": 1, "10:01 2xx": 1}
	if len(got) != len(want) {
		t.Fatalf("requests = %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Fatalf("requests = %v, want %v", got, want)
		}
	}
	// The customer's own: every request with a status, both processes'.
	usage, err := s.UsagePer(ctx, store.UsageParams{BucketParams: store.BucketParams{Window: w, Step: time.Minute}, Owner: "customer:acme"})
	must(t, err)
	perCustomer := map[string]int64{}
	for _, b := range usage {
		perCustomer[b.Start.Format("15:04")] += b.Requests
	}
	if perCustomer["10:00"] != 3 || perCustomer["10:01"] != 2 || len(perCustomer) != 2 {
		t.Fatalf("the customer's requests = %v, want 3 at 10:00 and 2 at 10:01", perCustomer)
	}
	r.Request("", 200) // no valid key: no customer's
	must(t, r.Flush(ctx))
	if usage, _ := s.UsagePer(ctx, store.UsageParams{BucketParams: store.BucketParams{Window: w, Step: time.Hour}, Owner: ""}); len(usage) != 0 {
		t.Fatalf("a request without a customer counted as one's: %+v", usage)
	}
	use, err := s.WorkersPer(ctx, store.BucketParams{Window: w, Step: 24 * time.Hour})
	must(t, err)
	// Two slots for 60 s: 120 slot-seconds; one busy for 45 s.
	if len(use) != 1 || use[0].Worker != "host:1" || use[0].Capacity != 120*time.Second || use[0].Busy != 45*time.Second {
		t.Fatalf("worker use = %+v", use)
	}
	u := r.Use()
	if u.Slots != 2 || u.Busy != 0 || u.CapacitySeconds != 120 || u.BusySeconds != 45 {
		t.Fatalf("use = %+v", u)
	}
	// Minute by minute: 10:00 had 30 s × 2 slots, 10:01 the other 30 s.
	perMinute, err := s.WorkersPer(ctx, store.BucketParams{Window: store.Window{From: t0.Truncate(time.Minute), To: t0.Add(time.Hour)}, Step: time.Minute})
	must(t, err)
	if perMinute[0].Capacity != 60*time.Second || perMinute[0].Busy != 30*time.Second {
		t.Fatalf("10:00 = %+v", perMinute[0])
	}
}

// failing fails its first n writes.
type failing struct {
	rollup.Writer
	n int
}

func (f *failing) AddRequests(ctx context.Context, c []store.RequestCount) error {
	if f.n > 0 {
		f.n--
		return errors.New("database away")
	}
	return f.Writer.AddRequests(ctx, c)
}

// TestFlushKeepsWhatItCouldNotWrite: counts survive a failed write and
// are added to the next.
func TestFlushKeepsWhatItCouldNotWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t)
	c := &clock{t0}
	r := rollup.New(&failing{Writer: s, n: 1}, "host:1", quiet, c.now)
	r.SetSlots(1)
	r.RunStarted()
	r.Request("customer:acme", 200)
	r.Refused("customer:acme")
	c.t = c.t.Add(10 * time.Second)
	if err := r.Flush(ctx); err == nil {
		t.Fatal("the failed write was not reported")
	}
	r.Request("customer:acme", 200)
	r.Refused("customer:acme")
	r.Refused("customer:globex")
	must(t, r.Flush(ctx))
	refused, err := s.RefusalsByOwner(ctx, store.Window{From: t0.Add(-time.Hour), To: t0.Add(time.Hour)}, 10)
	must(t, err)
	if len(refused) != 2 || refused[0] != (store.OwnerRefusals{Owner: "customer:acme", Refusals: 2}) || refused[1].Refusals != 1 {
		t.Fatalf("refusals after a failed write: %+v, want acme's 2 kept and globex's 1", refused)
	}
	use, err := s.WorkersPer(ctx, store.BucketParams{Window: store.Window{From: t0.Add(-time.Hour), To: t0.Add(time.Hour)}, Step: 24 * time.Hour})
	must(t, err)
	if len(use) != 1 || use[0].Busy != 10*time.Second || use[0].Capacity != 10*time.Second {
		t.Fatalf("worker time after a failed write: %+v, want the 10 s kept", use)
	}
	reqs, err := s.Requests(ctx, store.BucketParams{Window: store.Window{From: t0.Add(-time.Hour), To: t0.Add(time.Hour)}, Step: time.Hour})
	must(t, err)
	if len(reqs) != 1 || reqs[0].Requests != 2 {
		t.Fatalf("requests = %+v, want the 2", reqs)
	}
}

// TestRunFlushesOnTicksAndAtTheEnd: Run writes at each tick and once more
// when its context ends.
func TestRunFlushesOnTicksAndAtTheEnd(t *testing.T) {
	t.Parallel()
	s := open(t)
	c := &clock{t0}
	r := rollup.New(s, "host:1", quiet, c.now)
	tick := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx, time.Hour, tick); close(done) }()
	count := func() int64 {
		reqs, err := s.Requests(context.Background(), store.BucketParams{Window: store.Window{From: t0.Add(-time.Hour), To: t0.Add(time.Hour)}, Step: time.Hour})
		must(t, err)
		var n int64
		for _, b := range reqs {
			n += b.Requests
		}
		return n
	}
	r.Request("customer:acme", 200)
	tick <- t0
	tick <- t0 // the first tick's flush has ended once the second is taken
	if n := count(); n != 1 {
		t.Fatalf("after a tick: %d requests written, want 1", n)
	}
	r.Request("customer:acme", 200)
	cancel()
	<-done
	if n := count(); n != 2 {
		t.Fatalf("after the end: %d requests written, want 2", n)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
