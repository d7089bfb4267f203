package testkit

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// Clock is the real clock that a test can move forward: Now is the time
// of day plus every Advance so far, and a timer from After fires when that
// time reaches its deadline, by time passing or by an Advance. So a test
// waits out a cache's lifetime, a throttle's refill or an upload slot's
// wait at once, and everything that merely needs time to pass still works.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
	timers []*timer
}

type timer struct {
	at   time.Time
	c    chan time.Time
	stop func() bool
}

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now()
}

func (c *Clock) now() time.Time { return time.Now().Add(c.offset) }

// After is time.After on this clock.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{at: c.now().Add(d), c: make(chan time.Time, 1)}
	c.timers = append(c.timers, t)
	t.stop = time.AfterFunc(d, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.fire(t)
	}).Stop
	return t.c
}

// fire sends t's time, once; c.mu is held.
func (c *Clock) fire(t *timer) {
	i := slices.Index(c.timers, t)
	if i < 0 {
		return
	}
	c.timers = slices.Delete(c.timers, i, i+1)
	t.stop()
	t.c <- c.now()
}

// Advance moves the clock forward by d and fires the timers now due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
	now := c.now()
	for _, t := range slices.Clone(c.timers) {
		if !t.at.After(now) {
			c.fire(t)
		}
	}
}

// Timers is how many timers from After have not fired yet.
func (c *Clock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// WaitTimers waits until n timers are pending: whatever the test started
// is now waiting on this clock.
func (c *Clock) WaitTimers(t testing.TB, n int) {
	t.Helper()
	WaitFor(t, 30*time.Second, "a wait on the clock", func() bool { return c.Timers() >= n })
}
