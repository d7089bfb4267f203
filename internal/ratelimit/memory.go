package ratelimit

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// Memory is the in-process limiter: exact for one process, and the
// fallback of each replica when Redis is unreachable.
type Memory struct {
	mu   sync.Mutex
	logs map[string]*window
	ops  int
	seq  uint64 // names the entries of decisions made here
}

// window holds the accepted times of one key and policy, oldest first, in
// a ring that grows up to the policy's limit.
type window struct {
	times   []time.Time
	members []string // names of the entries, when mirrored from Redis
	head    int      // index of the oldest
	n       int
	span    time.Duration // the policy's window
}

// NewMemory returns an empty in-memory limiter.
func NewMemory() *Memory { return &Memory{logs: map[string]*window{}} }

// Allow implements Limiter.
func (m *Memory) Allow(_ context.Context, key string, p Policy, now time.Time) (Decision, error) {
	if err := check(p); err != nil {
		return Decision{}, err
	}
	if now.IsZero() {
		now = time.Now()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.maybeSweep(now)
	m.seq++
	return m.allow(key, p, now, "m"+strconv.FormatUint(m.seq, 10)), nil
}

// Release implements Limiter: the entry d recorded leaves the log, if it is
// still in the window.
func (m *Memory) Release(_ context.Context, key string, p Policy, d Decision) error {
	m.release(key, p, d.member)
	return nil
}

func (m *Memory) release(key string, p Policy, member string) {
	if member == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if w := m.logs[p.Name+"\x00"+key]; w != nil {
		w.remove(member)
	}
}

// allowNamed is Allow recording the request under member.
func (m *Memory) allowNamed(key string, p Policy, now time.Time, member string) Decision {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.allow(key, p, now, member)
}

// Entry is one accepted request: when, and its name in Redis.
type Entry struct {
	At     time.Time
	Member string
}

// allow decides, recording the request under member.
func (m *Memory) allow(key string, p Policy, now time.Time, member string) Decision {
	id := p.Name + "\x00" + key
	w := m.logs[id]
	if w == nil {
		w = &window{span: p.Window}
		m.logs[id] = w
	}
	w.expire(now.Add(-p.Window))
	if w.n >= p.Limit {
		// One more fits once n-limit+1 of the recorded leave (more than one
		// when the limit was lowered since they were accepted).
		return Decision{Remaining: 0, Reset: w.at(w.n - p.Limit).Add(p.Window).Sub(now)}
	}
	w.push(now, member, p.Limit)
	return Decision{Allowed: true, Remaining: p.Limit - w.n, Reset: w.oldest().Add(p.Window).Sub(now), at: now, member: member}
}

// Record adds an accepted time to the log of key without deciding: what
// Redis accepted, kept so that a fallback to memory starts from the truth.
func (m *Memory) Record(key string, p Policy, e Entry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.allow(key, p, e.At, e.Member)
}

// entries returns what the log of key holds now, for Redis's return.
func (m *Memory) entries(key string, p Policy, now time.Time) []Entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.logs[p.Name+"\x00"+key]
	if w == nil {
		return nil
	}
	w.expire(now.Add(-p.Window))
	out := make([]Entry, 0, w.n)
	for i := range w.n {
		k := (w.head + i) % len(w.times)
		out = append(out, Entry{At: w.times[k], Member: w.members[k]})
	}
	return out
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

// remove drops the entry named member, keeping the others in order.
func (w *window) remove(member string) {
	for i := range w.n {
		if w.members[(w.head+i)%len(w.times)] != member {
			continue
		}
		for j := i; j < w.n-1; j++ {
			a, b := (w.head+j)%len(w.times), (w.head+j+1)%len(w.times)
			w.times[a], w.members[a] = w.times[b], w.members[b]
		}
		w.n--
		return
	}
}

// at is the i-th oldest recorded time.
func (w *window) at(i int) time.Time { return w.times[(w.head+i)%len(w.times)] }

func (w *window) push(t time.Time, member string, limit int) {
	if w.n > 0 { // a clock stepping back must not break the order
		if newest := w.times[(w.head+w.n-1)%len(w.times)]; t.Before(newest) {
			t = newest
		}
	}
	if w.n == len(w.times) { // grow (up to limit) keeping order
		size := min(max(2*len(w.times), 4), limit)
		grown, names := make([]time.Time, size), make([]string, size)
		for i := range w.n {
			grown[i] = w.times[(w.head+i)%len(w.times)]
			names[i] = w.members[(w.head+i)%len(w.times)]
		}
		w.times, w.members, w.head = grown, names, 0
	}
	k := (w.head + w.n) % len(w.times)
	w.times[k], w.members[k] = t, member
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
