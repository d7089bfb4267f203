// Package rollup keeps, in each process, what it did minute by minute —
// the API requests it answered, by status class, and its workers' time,
// available and busy — and adds it to the database's rollups every few
// seconds (a row per process and minute; readers sum the processes). It
// also gives the running totals to Prometheus.
package rollup

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/avatar-api/avatar-api/internal/store"
)

// Writer is where the rollups go: the store.
type Writer interface {
	AddRequests(ctx context.Context, counts []store.RequestCount) error
	AddWorkerTime(ctx context.Context, use []store.WorkerTime) error
	AddRefusals(ctx context.Context, counts []store.RefusalCount) error
	AddOwnerRequests(ctx context.Context, counts []store.OwnerRequestCount) error
}

// Recorder counts one process's requests and workers' time until they are
// flushed. It is safe for concurrent use.
type Recorder struct {
	w    Writer
	name string // the process's, as replica and worker: "host:pid"
	now  func() time.Time
	log  *slog.Logger

	mu       sync.Mutex
	requests map[reqKey]int64
	refusals map[refusalKey]int64
	owners   map[refusalKey]int64     // requests per owner
	work     map[time.Time]*minuteUse // by minute
	slots    int                      // workers of this process
	busy     int                      // of which running a job
	since    time.Time                // when slots and busy last changed, or time was last counted
	total    Use                      // since the start, for Prometheus
}

type reqKey struct {
	minute time.Time
	class  string
}

type refusalKey struct {
	minute time.Time
	owner  string
}

type minuteUse struct{ capacity, busy time.Duration }

// Use is a process's workers' time since it started.
type Use struct {
	Slots, Busy     int
	BusySeconds     float64
	CapacitySeconds float64
}

// New returns a recorder writing to w under name; now is its clock (nil:
// time.Now).
func New(w Writer, name string, log *slog.Logger, now func() time.Time) *Recorder {
	if now == nil {
		now = time.Now
	}
	return &Recorder{w: w, name: name, now: now, log: log, requests: map[reqKey]int64{}, refusals: map[refusalKey]int64{}, owners: map[refusalKey]int64{}, work: map[time.Time]*minuteUse{}, since: now()}
}

// Request counts one answered request with its status code, and as one
// of owner's when owner is not "" (an authenticated customer's: GET
// /usage reports them).
func (r *Recorder) Request(owner string, status int) {
	class := classOf(status)
	if class == "" {
		return
	}
	m := r.now().Truncate(time.Minute)
	r.mu.Lock()
	r.requests[reqKey{m, class}]++
	if owner != "" {
		r.owners[refusalKey{m, owner}]++
	}
	r.mu.Unlock()
}

// Refused counts one request of owner refused by its rate limit (the
// alert rule rate_limit_spike reads them).
func (r *Recorder) Refused(owner string) {
	k := refusalKey{r.now().Truncate(time.Minute), owner}
	r.mu.Lock()
	r.refusals[k]++
	r.mu.Unlock()
}

// classOf is a status code's class, "" for a code outside 100–599.
func classOf(status int) string {
	if status < 100 || status > 599 {
		return ""
	}
	return string(rune('0'+status/100)) + "xx"
}

// SetSlots sets how many jobs this process's workers can run at once.
func (r *Recorder) SetSlots(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.advance()
	r.slots = n
}

// RunStarted counts a worker as busy from now (worker.Meter).
func (r *Recorder) RunStarted() { r.addBusy(1) }

// RunEnded counts a worker as idle from now (worker.Meter).
func (r *Recorder) RunEnded() { r.addBusy(-1) }

func (r *Recorder) addBusy(d int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.advance()
	r.busy = max(0, r.busy+d)
}

// Busy reports whether any worker of this process is running a job.
func (r *Recorder) Busy() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.busy > 0
}

// Use returns the workers' time so far, counted up to now.
func (r *Recorder) Use() Use {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.advance()
	u := r.total
	u.Slots, u.Busy = r.slots, r.busy
	return u
}

// advance counts the time since the last change, split at minute
// boundaries, at the current slots and busy workers. r.mu is held.
func (r *Recorder) advance() {
	now := r.now()
	for t := r.since; t.Before(now); {
		end := t.Truncate(time.Minute).Add(time.Minute)
		if end.After(now) {
			end = now
		}
		d := end.Sub(t)
		if r.slots > 0 {
			m := r.work[t.Truncate(time.Minute)]
			if m == nil {
				m = &minuteUse{}
				r.work[t.Truncate(time.Minute)] = m
			}
			m.capacity += time.Duration(r.slots) * d
			m.busy += time.Duration(min(r.busy, r.slots)) * d
			r.total.CapacitySeconds += float64(r.slots) * d.Seconds()
			r.total.BusySeconds += float64(min(r.busy, r.slots)) * d.Seconds()
		}
		t = end
	}
	if now.After(r.since) {
		r.since = now
	}
}

// Flush writes what was counted since the last flush. What could not be
// written is kept for the next (a database outage loses no counts, unless
// the process ends during it).
func (r *Recorder) Flush(ctx context.Context) error {
	r.mu.Lock()
	r.advance()
	reqs, work, refusals, owners := r.requests, r.work, r.refusals, r.owners
	r.requests, r.work, r.refusals, r.owners = map[reqKey]int64{}, map[time.Time]*minuteUse{}, map[refusalKey]int64{}, map[refusalKey]int64{}
	r.mu.Unlock()

	counts := make([]store.RequestCount, 0, len(reqs))
	for k, n := range reqs {
		counts = append(counts, store.RequestCount{Minute: k.minute, Replica: r.name, Class: k.class, Requests: n})
	}
	use := make([]store.WorkerTime, 0, len(work))
	for m, u := range work {
		use = append(use, store.WorkerTime{Minute: m, Worker: r.name, Capacity: u.capacity, Busy: u.busy})
	}
	refused := make([]store.RefusalCount, 0, len(refusals))
	for k, n := range refusals {
		refused = append(refused, store.RefusalCount{Minute: k.minute, Replica: r.name, Owner: k.owner, Refusals: n})
	}
	perOwner := make([]store.OwnerRequestCount, 0, len(owners))
	for k, n := range owners {
		perOwner = append(perOwner, store.OwnerRequestCount{Minute: k.minute, Replica: r.name, Owner: k.owner, Requests: n})
	}
	err := r.w.AddRequests(ctx, counts)
	if err != nil {
		r.keep(reqs, work, refusals, owners)
		return err
	}
	if err := r.w.AddWorkerTime(ctx, use); err != nil {
		r.keep(nil, work, refusals, owners)
		return err
	}
	if err := r.w.AddRefusals(ctx, refused); err != nil {
		r.keep(nil, nil, refusals, owners)
		return err
	}
	if err := r.w.AddOwnerRequests(ctx, perOwner); err != nil {
		r.keep(nil, nil, nil, owners)
		return err
	}
	return nil
}

// keep puts unwritten counts back, to be added to what came meanwhile.
func (r *Recorder) keep(reqs map[reqKey]int64, work map[time.Time]*minuteUse, refusals, owners map[refusalKey]int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, n := range reqs {
		r.requests[k] += n
	}
	for k, n := range refusals {
		r.refusals[k] += n
	}
	for k, n := range owners {
		r.owners[k] += n
	}
	for m, u := range work {
		cur := r.work[m]
		if cur == nil {
			cur = &minuteUse{}
			r.work[m] = cur
		}
		cur.capacity += u.capacity
		cur.busy += u.busy
	}
}

// Run flushes every interval until ctx ends, then once more. tick, if not
// nil, replaces the ticker (tests send on it).
func (r *Recorder) Run(ctx context.Context, every time.Duration, tick <-chan time.Time) {
	if tick == nil {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	failing := false
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := r.Flush(fctx); err != nil {
				r.log.Warn("writing the last rollups failed; they are lost", "error", err)
			}
			cancel()
			return
		case <-tick:
		}
		err := r.Flush(ctx)
		if err != nil && !failing && ctx.Err() == nil {
			r.log.Warn("writing rollups failed; kept for the next try", "error", err)
		}
		failing = err != nil
	}
}
