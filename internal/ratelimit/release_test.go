package ratelimit

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestRelease: a released decision is as if it had never been made, on
// every backend: the window has room again at once, and the time to wait
// is worked out from the entries that remain.
func TestRelease(t *testing.T) {
	t.Parallel()
	p := Policy{Name: "hourly", Limit: 3, Window: time.Hour}
	for name, l := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			var ds []Decision
			for i := range 3 {
				d, err := l.Allow(ctx, "k", p, t0.Add(time.Duration(i)*time.Minute))
				if err != nil || !d.Allowed {
					t.Fatalf("request %d: %+v %v", i, d, err)
				}
				ds = append(ds, d)
			}
			if err := l.Release(ctx, "k", p, ds[1]); err != nil {
				t.Fatal(err)
			}
			if err := l.Release(ctx, "k", p, ds[1]); err != nil { // twice: no harm
				t.Fatal(err)
			}
			d, _ := l.Allow(ctx, "k", p, t0.Add(3*time.Minute))
			if !d.Allowed || d.Remaining != 0 || d.Reset != 57*time.Minute {
				t.Fatalf("after a release: %+v, want allowed, 0 left, the oldest leaving in 57m", d)
			}
			refused, _ := l.Allow(ctx, "k", p, t0.Add(4*time.Minute))
			if refused.Allowed || refused.Reset != 56*time.Minute {
				t.Fatalf("full again: %+v", refused)
			}
			_ = l.Release(ctx, "k", p, refused) // a refusal recorded nothing
			if err := l.Release(ctx, "k", p, ds[0]); err != nil {
				t.Fatal(err)
			}
			d, _ = l.Allow(ctx, "k", p, t0.Add(5*time.Minute))
			if !d.Allowed || d.Reset != 57*time.Minute {
				t.Fatalf("after releasing the oldest: %+v, want the next oldest (t0+2m) to set the reset", d)
			}
		})
	}
}

// partition is a TCP proxy to the machine's Redis that can be cut and
// restored: a network outage that, unlike a restart, keeps Redis's data.
// While cut it keeps its port (so no other test can take it) and drops
// every connection.
type partition struct {
	addr  string
	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

func newPartition(t *testing.T) *partition {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &partition{addr: ln.Addr().String()}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			down := p.down
			p.mu.Unlock()
			if down {
				c.Close()
				continue
			}
			u, err := net.Dial("tcp", redisAddr)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); u.Close() }()
			go func() { _, _ = io.Copy(c, u); c.Close() }()
		}
	}()
	return p
}

func (p *partition) restore(*testing.T) {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

func (p *partition) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// fallbackThrough is a Fallback on the machine's Redis, reached through a
// partition the test can cut.
func fallbackThrough(t *testing.T) (*partition, *Fallback, *Redis) {
	net := newPartition(t)
	client := redis.NewClient(&redis.Options{Addr: net.addr, DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { client.Close() })
	r := newRedis(t)
	r.client = client
	return net, NewFallback(r, slog.New(slog.NewTextHandler(io.Discard, nil))), r
}

// TestReleaseAcrossAnOutage: a release made while Redis is unreachable is
// applied in memory at once and in Redis before Redis is trusted again, so
// the shared count stays exact.
func TestReleaseAcrossAnOutage(t *testing.T) {
	t.Parallel()
	net, f, r := fallbackThrough(t)
	client := r.client
	p := Policy{Name: "hourly", Limit: 3, Window: time.Hour}
	ctx := context.Background()
	first, _ := f.Allow(ctx, "k", p, time.Time{})
	if second, _ := f.Allow(ctx, "k", p, time.Time{}); !first.Allowed || !second.Allowed || f.Degraded() {
		t.Fatal("with Redis: not allowed")
	}
	net.cut()
	if d, _ := f.Allow(ctx, "k", p, time.Time{}); !d.Allowed || !f.Degraded() { // the third, in memory
		t.Fatalf("during the outage: %+v degraded=%v", d, f.Degraded())
	}
	if err := f.Release(ctx, "k", p, first); err != nil {
		t.Fatal(err)
	}
	if d, _ := f.Allow(ctx, "k", p, time.Time{}); !d.Allowed { // room made by the release
		t.Fatalf("after a release during the outage: %+v", d)
	}
	net.restore(t)
	if !f.recover(ctx) || f.Degraded() {
		t.Fatal("did not return to Redis")
	}
	// Redis holds the second, the third and the fourth: the first is gone.
	n, err := client.ZCard(ctx, r.prefix+p.Name+":k").Result()
	if err != nil || n != 3 {
		t.Fatalf("Redis counts %d (%v), want 3", n, err)
	}
	if d, _ := f.Allow(ctx, "k", p, time.Time{}); d.Allowed {
		t.Fatal("after recovery a fourth request in the window got through")
	}
}

// TestOutageWritesBackOnlyWhatRedisLacks: after a network outage (Redis
// kept its data), memory's window is written back to Redis under the names
// Redis gave the entries, so what Redis already held is not counted twice.
func TestOutageWritesBackOnlyWhatRedisLacks(t *testing.T) {
	t.Parallel()
	net, f, r := fallbackThrough(t)
	client := r.client
	p := Policy{Name: "hourly", Limit: 5, Window: time.Hour}
	ctx := context.Background()
	for range 2 {
		if d, _ := f.Allow(ctx, "k", p, time.Time{}); !d.Allowed {
			t.Fatal("with Redis: refused")
		}
	}
	net.cut()
	if d, _ := f.Allow(ctx, "k", p, time.Time{}); !d.Allowed || !f.Degraded() {
		t.Fatal("during the outage: refused, or not degraded")
	}
	net.restore(t)
	if !f.recover(ctx) {
		t.Fatal("did not return to Redis")
	}
	if n, err := client.ZCard(ctx, r.prefix+p.Name+":k").Result(); err != nil || n != 3 {
		t.Fatalf("Redis counts %d (%v), want the 3 requests made", n, err)
	}
}
