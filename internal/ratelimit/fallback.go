package ratelimit

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Fallback limits through Redis while it answers and through its own
// memory while it does not: the limits then hold per replica instead of
// across them. It says so once in the log, reports it in Degraded, and
// tries Redis again every RetryEvery, returning to it by itself.
type Fallback struct {
	primary    *Redis
	backup     *Memory
	log        *slog.Logger
	RetryEvery time.Duration

	mu        sync.Mutex
	downSince time.Time // zero while Redis answers
	nextTry   time.Time
}

// NewFallback returns a limiter on primary, falling back to memory.
func NewFallback(primary *Redis, log *slog.Logger) *Fallback {
	return &Fallback{primary: primary, backup: NewMemory(), log: log, RetryEvery: 5 * time.Second}
}

// Allow implements Limiter.
func (f *Fallback) Allow(ctx context.Context, key string, p Policy, now time.Time) (Decision, error) {
	if f.usePrimary(time.Now()) {
		d, err := f.primary.Allow(ctx, key, p, now)
		if err == nil {
			f.up()
			return d, nil
		}
		if ctx.Err() != nil {
			return Decision{}, ctx.Err()
		}
		f.down(err)
	}
	return f.backup.Allow(ctx, key, p, now)
}

func (f *Fallback) usePrimary(now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.downSince.IsZero() || now.After(f.nextTry) {
		f.nextTry = now.Add(f.RetryEvery) // while down, one request at a time probes
		return true
	}
	return false
}

func (f *Fallback) down(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.downSince.IsZero() {
		f.downSince = time.Now()
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

// Degraded reports whether limits currently hold per replica only.
func (f *Fallback) Degraded() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.downSince.IsZero()
}
