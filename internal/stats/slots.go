package stats

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/avatar-api/avatar-api/internal/store"
)

// slot is everything the dashboard reads of one span of time (a step of a
// short range, or a quarter-hour): the sums of the history's rows in it.
type slot struct {
	start     time.Time
	requests  map[string]int64 // by status class
	outcomes  map[store.State]int64
	submitted int64
	billed    time.Duration
	cost      store.NanoUSD
	runs      []time.Duration // completed jobs' run times
	owners    map[string]*store.OwnerBucket
	workers   map[string]*store.WorkerBucket
	gpus      map[gpuKey]*store.GPUBucket
}

type gpuKey struct {
	worker string
	gpu    int
}

// loadSlots reads the history of w in slots of step, one per step of w
// (empty ones too), in order.
func loadSlots(ctx context.Context, h store.History, w store.Window, step time.Duration) ([]*slot, error) {
	var out []*slot
	at := map[int64]*slot{}
	for t := w.From.Truncate(step); t.Before(w.To); t = t.Add(step) {
		s := &slot{start: t, requests: map[string]int64{}, outcomes: map[store.State]int64{},
			owners: map[string]*store.OwnerBucket{}, workers: map[string]*store.WorkerBucket{}, gpus: map[gpuKey]*store.GPUBucket{}}
		out = append(out, s)
		at[t.Unix()] = s
	}
	of := func(t time.Time) *slot { return at[t.Truncate(step).Unix()] }
	p := store.BucketParams{Window: w, Step: step}
	requests, err := h.Requests(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("summing requests: %w", err)
	}
	for _, r := range requests {
		if s := of(r.Start); s != nil {
			s.requests[r.Class] += r.Requests
		}
	}
	outcomes, err := h.Outcomes(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("counting outcomes: %w", err)
	}
	for _, o := range outcomes {
		if s := of(o.Start); s != nil {
			s.outcomes[o.State] += o.Jobs
		}
	}
	submitted, err := h.SubmittedPer(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("counting submissions: %w", err)
	}
	for _, c := range submitted {
		if s := of(c.Start); s != nil {
			s.submitted += c.Count
		}
	}
	owners, err := h.ChargedPerOwner(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("summing charges: %w", err)
	}
	for _, o := range owners {
		if s := of(o.Start); s != nil {
			o := o
			s.owners[o.Owner] = &o
			s.billed += o.Billed
			s.cost += o.Cost
		}
	}
	runs, err := h.RunTimes(ctx, w)
	if err != nil {
		return nil, fmt.Errorf("reading run times: %w", err)
	}
	for _, r := range runs {
		if s := of(r.FinishedAt); s != nil {
			s.runs = append(s.runs, r.Run)
		}
	}
	workers, err := h.WorkersPer(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("summing worker time: %w", err)
	}
	for _, b := range workers {
		if s := of(b.Start); s != nil {
			b := b
			s.workers[b.Worker] = &b
		}
	}
	gpus, err := h.GPU(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("reading GPU readings: %w", err)
	}
	for _, b := range gpus {
		if s := of(b.Start); s != nil {
			b := b
			s.gpus[gpuKey{b.Worker, b.GPU}] = &b
		}
	}
	return out, nil
}

// quarter is the slot of the long ranges and of the panels of days: every
// time zone's day and hour is made of whole quarter-hours.
const quarter = 15 * time.Minute

// settle is how long after its end a quarter-hour is taken as final: the
// rows of a quarter are written as it happens (a job's end, a charge, at
// its transaction's time) or within seconds (each process adds its
// rollups every 5 s), and 15 minutes covers a process's retries and a
// little skew between the clocks of replicas. A process that could not
// write for longer than that (a database outage of its own) has its late
// rows read by the other processes only after they restart.
const settle = 15 * time.Minute

// keep is how far back quarters are cached: the longest span a panel
// shows (30 local days, starting at a midnight) and some.
const keep = 32 * 24 * time.Hour

// quarters caches, per process, what the database holds of the
// quarter-hours that are over: they are read once, so that a refresh of a
// month of history reads only the last half hour. Safe for concurrent
// use; concurrent refreshes wait for one load.
type quarters struct {
	mu     sync.Mutex
	closed []*slot // contiguous, in order
}

// span returns the quarters of [from, to): those over for good from the
// cache (loading what it lacks), the rest from the database now.
func (c *quarters) span(ctx context.Context, h store.History, from, to, now time.Time) ([]*slot, error) {
	from = from.Truncate(quarter)
	cutoff := now.Add(-settle).Truncate(quarter)
	var out []*slot
	if from.Before(cutoff) {
		end := cutoff
		if to.Before(end) {
			end = to
		}
		cached, err := c.get(ctx, h, from, end, now)
		if err != nil {
			return nil, err
		}
		out = cached
	}
	if to.After(cutoff) {
		tail, err := loadSlots(ctx, h, store.Window{From: maxTime(from, cutoff), To: to}, quarter)
		if err != nil {
			return nil, err
		}
		out = append(out, tail...)
	}
	return out, nil
}

// get returns the closed quarters of [from, to), loading the ones the
// cache lacks at either end and forgetting those older than keep.
func (c *quarters) get(ctx context.Context, h store.History, from, to, now time.Time) ([]*slot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if oldest := now.Add(-keep); len(c.closed) > 0 && c.closed[0].start.Before(oldest) {
		i, _ := slices.BinarySearchFunc(c.closed, oldest, func(s *slot, t time.Time) int { return s.start.Compare(t) })
		c.closed = slices.Clone(c.closed[i:])
	}
	if len(c.closed) == 0 {
		loaded, err := loadSlots(ctx, h, store.Window{From: from, To: to}, quarter)
		if err != nil {
			return nil, err
		}
		c.closed = loaded
	}
	if first := c.closed[0].start; from.Before(first) {
		loaded, err := loadSlots(ctx, h, store.Window{From: from, To: first}, quarter)
		if err != nil {
			return nil, err
		}
		c.closed = append(loaded, c.closed...)
	}
	if end := c.closed[len(c.closed)-1].start.Add(quarter); end.Before(to) {
		loaded, err := loadSlots(ctx, h, store.Window{From: end, To: to}, quarter)
		if err != nil {
			return nil, err
		}
		c.closed = append(c.closed, loaded...)
	}
	i, _ := slices.BinarySearchFunc(c.closed, from, func(s *slot, t time.Time) int { return s.start.Compare(t) })
	j, _ := slices.BinarySearchFunc(c.closed, to, func(s *slot, t time.Time) int { return s.start.Compare(t) })
	// Clipped: the caller appends its tail, which must not land in the
	// cache's own array.
	return slices.Clip(c.closed[i:j]), nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
