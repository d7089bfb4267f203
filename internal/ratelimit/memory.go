package ratelimit

import (
	"context"
	"sync"
	"time"
)

// Memory is the in-process limiter: exact for one process, and the
// fallback of each replica when Redis is unreachable.
type Memory struct {
	mu   sync.Mutex
	logs map[string]*window
	ops  int
}

// window holds the accepted times of one key and policy, oldest first, in
// a ring that grows up to the policy's limit.
type window struct {
	times []time.Time
	head  int // index of the oldest
	n     int
	span  time.Duration // the policy's window
}

// NewMemory returns an empty in-memory limiter.
func NewMemory() *Memory { return &Memory{logs: map[string]*window{}} }

// Allow implements Limiter.
func (m *Memory) Allow(_ context.Context, key string, p Policy, now time.Time) (Decision, error) {
	if err := check(p); err != nil {
		return Decision{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.maybeSweep(now)
	id := p.Name + "\x00" + key
	w := m.logs[id]
	if w == nil {
		w = &window{span: p.Window}
		m.logs[id] = w
	}
	w.expire(now.Add(-p.Window))
	if w.n >= p.Limit {
		return Decision{Remaining: 0, Reset: w.oldest().Add(p.Window).Sub(now)}, nil
	}
	w.push(now, p.Limit)
	d := Decision{Allowed: true, Remaining: p.Limit - w.n}
	if w.n > 0 {
		d.Reset = w.oldest().Add(p.Window).Sub(now)
	}
	return d, nil
}

// expire drops the times at or before cutoff: a request exactly one window
// old no longer counts.
func (w *window) expire(cutoff time.Time) {
	for w.n > 0 && !w.times[w.head].After(cutoff) {
		w.head = (w.head + 1) % len(w.times)
		w.n--
	}
}

func (w *window) oldest() time.Time { return w.times[w.head] }

func (w *window) push(t time.Time, limit int) {
	if w.n > 0 { // a clock stepping back must not break the order
		if newest := w.times[(w.head+w.n-1)%len(w.times)]; t.Before(newest) {
			t = newest
		}
	}
	if w.n == len(w.times) { // grow (up to limit) keeping order
		size := min(max(2*len(w.times), 4), limit)
		grown := make([]time.Time, size)
		for i := range w.n {
			grown[i] = w.times[(w.head+i)%len(w.times)]
		}
		w.times, w.head = grown, 0
	}
	w.times[(w.head+w.n)%len(w.times)] = t
	w.n++
}

// maybeSweep forgets keys with nothing in their window, now and then, so
// memory follows the active keys.
func (m *Memory) maybeSweep(now time.Time) {
	m.ops++
	if m.ops%4096 != 0 {
		return
	}
	for id, w := range m.logs {
		w.expire(now.Add(-w.span))
		if w.n == 0 {
			delete(m.logs, id)
		}
	}
}
