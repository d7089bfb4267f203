package stats

import (
	"testing"
	"time"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestDaysFollowTheZone: local days across a change of summer time are 25
// and 23 hours long, and start at local midnight.
func TestDaysFollowTheZone(t *testing.T) {
	t.Parallel()
	berlin := zone(t, "Europe/Berlin")
	now := time.Date(2026, 10, 26, 12, 0, 0, 0, berlin) // the day after summer time ended
	g := newGrid(now, day, 3, berlin)
	for i, want := range []time.Time{
		time.Date(2026, 10, 24, 0, 0, 0, 0, berlin), time.Date(2026, 10, 25, 0, 0, 0, 0, berlin), time.Date(2026, 10, 26, 0, 0, 0, 0, berlin),
	} {
		if !g.starts[i].Equal(want) {
			t.Errorf("day %d starts %s, want %s", i, g.starts[i], want)
		}
	}
	if long := g.starts[2].Sub(g.starts[1]); long != 25*time.Hour {
		t.Errorf("25 October 2026 in Berlin lasted %s, want 25h", long)
	}
	if !g.end.Equal(time.Date(2026, 10, 27, 0, 0, 0, 0, berlin)) {
		t.Errorf("end %s", g.end)
	}
	lastHour := time.Date(2026, 10, 25, 23, 59, 0, 0, berlin)
	if i := g.index(lastHour); i != 1 {
		t.Errorf("23:59 on the 25th is in bucket %d, want 1", i)
	}
	if g.index(g.starts[0].Add(-time.Nanosecond)) != -1 || g.index(g.end) != -1 {
		t.Error("instants outside the grid have a bucket")
	}
}

// TestHoursOfAHalfHourZone: in India the hours start at half past the UTC
// hour, and 15-minute buckets from the database fall inside them.
func TestHoursOfAHalfHourZone(t *testing.T) {
	t.Parallel()
	kolkata := zone(t, "Asia/Kolkata")
	now := time.Date(2026, 12, 3, 10, 20, 0, 0, time.UTC) // 15:50 in Kolkata
	g := newGrid(now, hour, 48, kolkata)
	last := g.starts[47]
	if last.In(kolkata).Minute() != 0 || last.UTC().Minute() != 30 || !last.Equal(time.Date(2026, 12, 3, 15, 0, 0, 0, kolkata)) {
		t.Fatalf("the current hour starts %s", last)
	}
	for q := g.from(); q.Before(g.end); q = q.Add(15 * time.Minute) {
		i := g.index(q)
		if i < 0 || g.index(q.Add(15*time.Minute-time.Nanosecond)) != i {
			t.Fatalf("the 15-minute bucket at %s straddles hours", q)
		}
	}
	if n := int(g.end.Sub(g.from()) / time.Hour); n != 48 {
		t.Fatalf("grid of %d hours", n)
	}
}

// TestShortSteps: steps under an hour start on the epoch's marks.
func TestShortSteps(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 10, 7, 31, 0, time.UTC)
	g := newGrid(now, 5*time.Minute, 72, time.UTC)
	if !g.starts[71].Equal(time.Date(2026, 12, 3, 10, 5, 0, 0, time.UTC)) || !g.end.Equal(time.Date(2026, 12, 3, 10, 10, 0, 0, time.UTC)) {
		t.Fatalf("last bucket %s, end %s", g.starts[71], g.end)
	}
	if g.index(now) != 71 || g.index(g.from()) != 0 {
		t.Fatal("index")
	}
}
