package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"
)

// Fallback limits through Redis while it answers and through its own
// memory while it does not: the limits then hold per replica instead of
// across them. Memory mirrors what Redis accepted, so a fall back starts
// from the truth, and what memory accepted during an outage is written to
// Redis before it is trusted again, so no switch lets a client through
// twice. An outage is logged once and reported by Degraded; Watch probes
// Redis in the background, so the state changes without traffic too.
type Fallback struct {
	primary    *Redis
	backup     *Memory
	log        *slog.Logger
	RetryEvery time.Duration

	mu        sync.Mutex
	downSince time.Time // zero while Redis answers
	nextTry   time.Time
	touched   map[string]touched // keys limited in memory during the outage
	released  []release          // releases Redis has not heard of yet
}

type release struct {
	key string
	p   Policy
	d   Decision
}

type touched struct {
	key string
	p   Policy
}

// maxTouched bounds how many keys an outage remembers for Redis.
const maxTouched = 100_000

// NewFallback returns a limiter on primary, falling back to memory.
func NewFallback(primary *Redis, log *slog.Logger) *Fallback {
	return &Fallback{primary: primary, backup: NewMemory(), log: log, RetryEvery: 5 * time.Second, touched: map[string]touched{}}
}

// Allow implements Limiter.
func (f *Fallback) Allow(ctx context.Context, key string, p Policy, now time.Time) (Decision, error) {
	if f.usePrimary(time.Now()) && f.recover(ctx) {
		d, err := f.primary.Allow(ctx, key, p, now)
		if err == nil {
			if d.Allowed { // mirrored, so that memory starts from the truth
				f.backup.Record(key, p, Entry{At: d.at, Member: d.member})
			}
			return d, nil
		}
		if ctx.Err() != nil {
			return Decision{}, ctx.Err()
		}
		f.down(err)
	}
	if err := check(p); err != nil {
		return Decision{}, err
	}
	if now.IsZero() {
		now = time.Now()
	}
	d := f.backup.allowNamed(key, p, now, newMember())
	if d.Allowed {
		f.mu.Lock()
		if len(f.touched) < maxTouched {
			f.touched[p.Name+"\x00"+key] = touched{key, p}
		}
		f.mu.Unlock()
	}
	return d, nil
}

// Release implements Limiter. The entry leaves memory at once, and Redis
// now or, while Redis is unreachable, before Redis is trusted again.
func (f *Fallback) Release(ctx context.Context, key string, p Policy, d Decision) error {
	f.backup.release(key, p, d.member)
	if !f.Degraded() {
		err := f.primary.Release(ctx, key, p, d)
		if err == nil {
			return nil
		}
		f.down(err)
	}
	f.mu.Lock()
	if len(f.released) < maxTouched {
		f.released = append(f.released, release{key, p, d})
	}
	f.mu.Unlock()
	return nil
}

// newMember names an entry: 128 random bits, the same name in Redis and
// in the memory that mirrors it, so that writing memory's entries back to
// Redis after an outage adds only those Redis lacks, and a release removes
// the entry wherever it is.
func newMember() string {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	return hex.EncodeToString(nonce[:])
}

// usePrimary says whether to ask Redis: always while it answers; while it
// does not, one request per RetryEvery probes, the others use memory.
func (f *Fallback) usePrimary(now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.downSince.IsZero() {
		return true
	}
	if now.After(f.nextTry) {
		f.nextTry = now.Add(f.RetryEvery)
		return true
	}
	return false
}

// recover, when Redis was down, writes to Redis the whole window memory
// holds for every key limited in memory meanwhile — what Redis accepted
// before (it may have lost it in a restart) and what memory accepted since;
// entries keep their names, so nothing is counted twice — and marks Redis
// up. It reports whether Redis may be used.
func (f *Fallback) recover(ctx context.Context) bool {
	f.mu.Lock()
	if f.downSince.IsZero() {
		f.mu.Unlock()
		return true
	}
	keys, released := f.touched, f.released
	f.touched, f.released = map[string]touched{}, nil
	f.mu.Unlock()
	restore := func() { // keep them all for the next try
		f.mu.Lock()
		for rest, v := range keys {
			f.touched[rest] = v
		}
		f.released = append(released, f.released...)
		f.mu.Unlock()
	}
	for _, r := range released {
		if err := f.primary.Release(ctx, r.key, r.p, r.d); err != nil {
			restore()
			return false
		}
	}
	now := time.Now()
	for _, k := range keys {
		if err := f.primary.Record(ctx, k.key, k.p, f.backup.entries(k.key, k.p, now)); err != nil {
			restore()
			return false
		}
	}
	f.up()
	return true
}

func (f *Fallback) down(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.downSince.IsZero() {
		f.downSince = time.Now()
		f.nextTry = f.downSince.Add(f.RetryEvery)
		f.log.Error("redis unreachable: rate limits now hold per replica until it returns", "error", err)
	}
}

func (f *Fallback) up() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.downSince.IsZero() {
		f.log.Info("redis is back: rate limits are shared again", "after", time.Since(f.downSince).Round(time.Second).String())
		f.downSince = time.Time{}
	}
}

// Watch pings Redis every RetryEvery until ctx ends, so that an outage and
// a recovery are noticed (and reported) without waiting for traffic.
func (f *Fallback) Watch(ctx context.Context) {
	t := time.NewTicker(f.RetryEvery)
	defer t.Stop()
	for {
		if err := f.primary.Ping(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			f.down(err)
		} else if f.Degraded() {
			f.recover(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Degraded reports whether limits currently hold per replica only.
func (f *Fallback) Degraded() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.downSince.IsZero()
}
