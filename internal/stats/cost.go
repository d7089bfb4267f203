package stats

import (
	"context"
	"fmt"
	"time"

	"github.com/avatar-api/avatar-api/internal/store"
)

// Cost is what the runs have cost so far today and this month, in the
// cost time zone, and what the month will cost at the current rate.
type Cost struct {
	Today, Month         store.NanoUSD
	TodayBilled          time.Duration
	MonthBilled          time.Duration
	Forecast             store.NanoUSD    // the month's cost by its end, at the rate of the last 24 hours
	Customers            []CustomerToDate // the month's costliest customers (CostAt: ten)
	Last24h              store.NanoUSD    // the rate the forecast assumes
	DayStart             time.Time        // local midnight of today
	MonthStart, MonthEnd time.Time        // the month's first instant, and the next month's
	Now                  time.Time
}

// CostAt sums the charges of the day and the month of now in loc, and
// forecasts the month's end: what it has cost so far, plus the cost of
// the last 24 hours for each day that remains, pro rata (the "current
// burn rate": trailing, so that it follows a change of load within a day
// and is not diluted by a quiet start of the month).
func CostAt(ctx context.Context, h store.History, now time.Time, loc *time.Location) (Cost, error) {
	c, err := SpendAt(ctx, h, now, loc)
	if err != nil {
		return Cost{}, err
	}
	today, month := map[string]store.NanoUSD{}, map[string]store.NanoUSD{}
	for w, sums := range map[store.Window]map[string]store.NanoUSD{
		{From: c.DayStart, To: upTo(now)}: today, {From: c.MonthStart, To: upTo(now)}: month,
	} {
		owners, err := h.CostByOwner(ctx, w, 1_000_000)
		if err != nil {
			return Cost{}, fmt.Errorf("cost per customer: %w", err)
		}
		for _, o := range owners {
			sums[o.Owner] = o.Cost
		}
	}
	c.Customers = topToDate(today, month, 10)
	return c, nil
}

// SpendAt is CostAt without the customers: the day's and the month's
// cost and the forecast, what the alert rules and the spending cap read.
func SpendAt(ctx context.Context, h store.History, now time.Time, loc *time.Location) (Cost, error) {
	c, err := costAt(ctx, h, now, loc)
	if err != nil {
		return Cost{}, err
	}
	if c.TodayBilled, c.Today, err = h.ChargedIn(ctx, store.Window{From: c.DayStart, To: upTo(now)}); err != nil {
		return Cost{}, fmt.Errorf("today's cost: %w", err)
	}
	if c.MonthBilled, c.Month, err = h.ChargedIn(ctx, store.Window{From: c.MonthStart, To: upTo(now)}); err != nil {
		return Cost{}, fmt.Errorf("the month's cost: %w", err)
	}
	c.Forecast = Forecast(c.Month, c.Last24h, c.MonthEnd.Sub(now))
	return c, nil
}

// costAt is the day and month of now in loc, and the cost of the last 24
// hours; the day's and month's sums are left to the caller.
func costAt(ctx context.Context, h store.History, now time.Time, loc *time.Location) (Cost, error) {
	l := now.In(loc)
	c := Cost{
		Now:        now,
		DayStart:   time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc),
		MonthStart: time.Date(l.Year(), l.Month(), 1, 0, 0, 0, 0, loc),
		MonthEnd:   time.Date(l.Year(), l.Month()+1, 1, 0, 0, 0, 0, loc),
	}
	var err error
	if _, c.Last24h, err = h.ChargedIn(ctx, store.Window{From: now.Add(-24 * time.Hour), To: upTo(now)}); err != nil {
		return Cost{}, fmt.Errorf("the last day's cost: %w", err)
	}
	return c, nil
}

// upTo is the end of the windows that end now: charges are stamped when
// their transaction ran, and one made a moment ago by another replica
// counts as now.
func upTo(now time.Time) time.Time { return now.Add(time.Second) }

// Forecast is month-to-date cost plus the cost of the last 24 hours
// spread over the time left in the month.
func Forecast(month, last24h store.NanoUSD, left time.Duration) store.NanoUSD {
	if left <= 0 {
		return month
	}
	return month + store.NanoUSD(float64(last24h)*left.Hours()/24+0.5)
}
