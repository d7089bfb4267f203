package testkit

import (
	"testing"
	"time"
)

func TestClockAdvanceFiresDueTimers(t *testing.T) {
	t.Parallel()
	var c Clock
	start := c.Now()
	soon, later := c.After(time.Hour), c.After(2*time.Hour)
	c.WaitTimers(t, 2)
	c.Advance(90 * time.Minute)
	select {
	case at := <-soon:
		if at.Sub(start) < 90*time.Minute {
			t.Fatalf("fired at %s after the start", at.Sub(start))
		}
	default:
		t.Fatal("a due timer did not fire")
	}
	select {
	case <-later:
		t.Fatal("a timer fired before its time")
	default:
	}
	if n := c.Timers(); n != 1 {
		t.Fatalf("%d timers pending, want 1", n)
	}
}

func TestClockFollowsRealTime(t *testing.T) {
	t.Parallel()
	var c Clock
	c.Advance(time.Hour)
	select {
	case <-c.After(time.Millisecond):
	case <-time.After(10 * time.Second):
		t.Fatal("a timer did not fire as real time passed")
	}
	if d := time.Until(c.Now()); d < 59*time.Minute {
		t.Fatalf("the clock is %s ahead, want an hour", d)
	}
}
