package stats

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/avatar-api/avatar-api/internal/store"
)

// The spans a usage report may cover, once widened to whole buckets.
const (
	MaxUsageDays  = 400 // days
	MaxUsageHours = 31  // days of hours: 744 hours
)

// ErrUsageRange is the answer to a span of a usage report that is empty,
// reversed or too long.
var ErrUsageRange = errors.New("invalid usage range")

// UsageQuery is one customer's usage report: its owner, its span (From
// inclusive, To exclusive) and its buckets, days or hours in the cost
// time zone.
type UsageQuery struct {
	Owner    string
	From, To time.Time
	Hourly   bool
}

// UsageFigures are one bucket's figures, or a report's totals.
type UsageFigures struct {
	Start, End                                    time.Time
	Requests                                      int64 // API requests answered
	Submitted                                     int64
	Completed, Failed, Cancelled, Expired, Lapsed int64
	Video, Billed                                 time.Duration
	Cost                                          store.NanoUSD
}

// Usage is a customer's usage report: every bucket of the span, empty ones
// included, and the totals.
type Usage struct {
	From, To time.Time // widened to whole buckets
	Location *time.Location
	Hourly   bool
	Buckets  []UsageFigures
	Total    UsageFigures
}

// UsageRequest is a usage report as asked for: From and To are RFC 3339
// times or dates (YYYY-MM-DD, in the cost time zone; To's day is
// included); empty, the last DefaultUsageDays days up to now.
type UsageRequest struct {
	Owner    string
	From, To string
	Hourly   bool
}

// DefaultUsageDays is the span of a usage report that names none: today
// and the days before it.
const DefaultUsageDays = 30

// Usage is one customer's own figures: jobs created, jobs ended by their
// state now and their videos' length, and what the customer's runs were
// billed, from the same charges the dashboard's costs read. The span is
// widened to whole days or hours of the cost time zone.
func (s *Service) Usage(ctx context.Context, r UsageRequest) (*Usage, error) {
	loc := s.Location
	if loc == nil {
		loc = time.UTC
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	q, err := ParseUsage(r, now(), loc)
	if err != nil {
		return nil, err
	}
	return UsageOf(ctx, s.History, q, loc)
}

// ParseUsage reads the span of r, in loc, at now.
func ParseUsage(r UsageRequest, now time.Time, loc *time.Location) (UsageQuery, error) {
	q := UsageQuery{Owner: r.Owner, Hourly: r.Hourly}
	var err error
	if r.To == "" {
		q.To = now
	} else if q.To, err = parseUsageTime(r.To, loc, true); err != nil {
		return q, fmt.Errorf("%w: to: %w", ErrUsageRange, err)
	}
	if r.From == "" {
		l := q.To.Add(-time.Nanosecond).In(loc) // To's last instant: its day is the last
		q.From = time.Date(l.Year(), l.Month(), l.Day()-DefaultUsageDays+1, 0, 0, 0, 0, loc)
	} else if q.From, err = parseUsageTime(r.From, loc, false); err != nil {
		return q, fmt.Errorf("%w: from: %w", ErrUsageRange, err)
	}
	return q, nil
}

// parseUsageTime reads an RFC 3339 time, or a date in loc: its start, or
// with end its end (the next day's start).
func parseUsageTime(v string, loc *time.Location, end bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	d, err := time.ParseInLocation(time.DateOnly, v, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a date (YYYY-MM-DD)", v)
	}
	if end {
		d = time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, loc)
	}
	return d, nil
}

// UsageOf is Service.Usage over h, in loc.
func UsageOf(ctx context.Context, h store.History, q UsageQuery, loc *time.Location) (*Usage, error) {
	step, most := day, MaxUsageDays
	if q.Hourly {
		step, most = hour, MaxUsageHours*24
	}
	if !q.From.Before(q.To) {
		return nil, fmt.Errorf("%w: from must be before to", ErrUsageRange)
	}
	if q.To.Sub(q.From) > time.Duration(most+2)*step { // before a grid of it is built
		return nil, fmt.Errorf("%w: at most %d days", ErrUsageRange, MaxUsageDays)
	}
	g := grid{}
	for t := floor(q.From, step, loc); t.Before(q.To); t = next(t, step, loc) {
		g.starts = append(g.starts, t)
		g.end = next(t, step, loc)
	}
	if len(g.starts) > most {
		if q.Hourly {
			return nil, fmt.Errorf("%w: at most %d days of hours (%d hours); this range holds %d", ErrUsageRange, MaxUsageHours, most, len(g.starts))
		}
		return nil, fmt.Errorf("%w: at most %d days; this range holds %d", ErrUsageRange, most, len(g.starts))
	}
	u := &Usage{From: g.from(), To: g.end, Location: loc, Hourly: q.Hourly, Buckets: make([]UsageFigures, len(g.starts))}
	for i, start := range g.starts {
		u.Buckets[i].Start, u.Buckets[i].End = start, next(start, step, loc)
	}
	// Quarter-hours from the epoch start on every zone's local hours.
	rows, err := h.UsagePer(ctx, store.UsageParams{Owner: q.Owner,
		BucketParams: store.BucketParams{Window: store.Window{From: u.From, To: u.To}, Step: 15 * time.Minute}})
	if err != nil {
		return nil, fmt.Errorf("reading usage: %w", err)
	}
	u.Total.Start, u.Total.End = u.From, u.To
	for _, r := range rows {
		i := g.index(r.Start)
		if i < 0 {
			continue
		}
		u.Buckets[i].add(r)
		u.Total.add(r)
	}
	return u, nil
}

func (f *UsageFigures) add(r store.UsageBucket) {
	f.Requests += r.Requests
	f.Submitted += r.Submitted
	f.Completed += r.Completed
	f.Failed += r.Failed
	f.Cancelled += r.Cancelled
	f.Expired += r.Expired
	f.Lapsed += r.Lapsed
	f.Video += r.Video
	f.Billed += r.Billed
	f.Cost += r.Cost
}
