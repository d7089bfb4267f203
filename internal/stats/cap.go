package stats

import (
	"context"
	"sync"
	"time"

	"github.com/avatar-api/avatar-api/internal/store"
)

// Cap is the optional hard cap on spending (COST_DAILY_CAP_USD,
// COST_MONTHLY_CAP_USD): once the day's or the month's cost reaches its
// cap, new jobs are refused until the period ends. The cost is read at
// most every TTL (a sum over the period's charges is too dear for every
// request), and again as soon as a period it found exhausted has ended.
type Cap struct {
	Daily, Monthly store.NanoUSD // 0: no cap
	History        store.History
	Location       *time.Location   // COST_TIMEZONE
	Now            func() time.Time // nil: time.Now
	TTL            time.Duration    // 0: 5 s

	mu    sync.Mutex
	at    time.Time // when state was read; zero: never
	state CapState
}

// CapState is the cap's state as read at the latest TTL, told at At.
type CapState struct {
	At        time.Time // when it was asked for
	Exhausted bool
	Period    string        // "day" or "month": the period whose cap is reached ("" when none is)
	Cap       store.NanoUSD // that period's cap
	Spent     store.NanoUSD // and its cost so far
	ResetsAt  time.Time     // when that period ends
}

// On reports whether any cap is set.
func (c *Cap) On() bool { return c != nil && (c.Daily > 0 || c.Monthly > 0) }

// Check returns the cap's state now. With no cap set it reads nothing.
func (c *Cap) Check(ctx context.Context) (CapState, error) {
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	if !c.On() {
		return CapState{At: now}, nil
	}
	ttl := c.TTL
	if ttl <= 0 {
		ttl = 5 * time.Second
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	fresh := !c.at.IsZero() && !now.Before(c.at) && now.Sub(c.at) < ttl
	if fresh && !(c.state.Exhausted && !now.Before(c.state.ResetsAt)) {
		st := c.state
		st.At = now // the reading's, so that the wait until ResetsAt is exact
		return st, nil
	}
	loc := c.Location
	if loc == nil {
		loc = time.UTC
	}
	cost, err := SpendAt(ctx, c.History, now, loc)
	if err != nil {
		return CapState{At: now}, err
	}
	st := CapState{At: now}
	switch {
	// The month's first: its refusal lasts longer, and is what to raise.
	case c.Monthly > 0 && cost.Month >= c.Monthly:
		st = CapState{At: now, Exhausted: true, Period: "month", Cap: c.Monthly, Spent: cost.Month, ResetsAt: cost.MonthEnd}
	case c.Daily > 0 && cost.Today >= c.Daily:
		st = CapState{At: now, Exhausted: true, Period: "day", Cap: c.Daily, Spent: cost.Today,
			ResetsAt: cost.DayStart.AddDate(0, 0, 1)}
	}
	c.at, c.state = now, st
	return st, nil
}
