package stats

import (
	"sort"
	"time"
)

// grid is a span of time cut into steps, in a time zone: the buckets of a
// chart. Steps of an hour or a day follow the zone's clock (a day is from
// local midnight to local midnight, 23 or 25 hours at a change of summer
// time); shorter steps are counted from the Unix epoch, which, as every
// zone's offset is a whole number of 15 minutes, also starts them on the
// local clock's marks.
type grid struct {
	starts []time.Time // each bucket's start; the last bucket ends at end
	end    time.Time
}

// Step sizes with a meaning on the local clock.
const (
	hour = time.Hour
	day  = 24 * time.Hour
)

// newGrid is the n buckets of step that end with the one holding now.
func newGrid(now time.Time, step time.Duration, n int, loc *time.Location) grid {
	g := grid{starts: make([]time.Time, n)}
	cur := floor(now, step, loc)
	g.end = next(cur, step, loc)
	for i := n - 1; i >= 0; i-- {
		g.starts[i] = cur
		cur = prev(cur, step, loc)
	}
	return g
}

// floor is the start of t's bucket of step.
func floor(t time.Time, step time.Duration, loc *time.Location) time.Time {
	l := t.In(loc)
	switch step {
	case day:
		return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
	case hour:
		return l.Truncate(time.Minute).Add(-time.Duration(l.Minute()) * time.Minute)
	}
	return t.Truncate(step).In(loc)
}

func next(t time.Time, step time.Duration, loc *time.Location) time.Time {
	if step == day {
		l := t.In(loc)
		return time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, loc)
	}
	return t.Add(step)
}

func prev(t time.Time, step time.Duration, loc *time.Location) time.Time {
	if step == day {
		l := t.In(loc)
		return time.Date(l.Year(), l.Month(), l.Day()-1, 0, 0, 0, 0, loc)
	}
	return t.Add(-step)
}

// from is the grid's first instant.
func (g grid) from() time.Time { return g.starts[0] }

// index is the bucket holding t, or -1 outside the grid.
func (g grid) index(t time.Time) int {
	if t.Before(g.starts[0]) || !t.Before(g.end) {
		return -1
	}
	return sort.Search(len(g.starts), func(i int) bool { return g.starts[i].After(t) }) - 1
}

// unix is the grid's starts in Unix seconds, as the charts take them.
func (g grid) unix() []int64 {
	out := make([]int64, len(g.starts))
	for i, t := range g.starts {
		out[i] = t.Unix()
	}
	return out
}
