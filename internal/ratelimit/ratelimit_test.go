package ratelimit

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

const redisAddr = "127.0.0.1:6379" // the machine's Redis (also in CI)

func newRedis(t testing.TB) *Redis {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: redisAddr})
	t.Cleanup(func() { c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("Redis at %s: %v (the Redis path is tested for real)", redisAddr, err)
	}
	return NewRedis(c, "test:"+uuid.NewString()[:8]+":")
}

func backends(t *testing.T) map[string]Limiter {
	return map[string]Limiter{"memory": NewMemory(), "redis": newRedis(t)}
}

var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

func TestContract(t *testing.T) {
	t.Parallel()
	p := Policy{Name: "hourly", Limit: 10, Window: time.Hour}
	for name, l := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			// 10 requests a minute apart are allowed, the 11th refused.
			for i := range 10 {
				d, err := l.Allow(ctx, "k", p, t0.Add(time.Duration(i)*time.Minute))
				if err != nil || !d.Allowed || d.Remaining != 9-i {
					t.Fatalf("request %d: %+v %v", i, d, err)
				}
			}
			at := t0.Add(30 * time.Minute)
			d, _ := l.Allow(ctx, "k", p, at)
			if d.Allowed || d.Remaining != 0 || d.Reset != 30*time.Minute {
				t.Fatalf("11th: %+v, want refused with reset 30m (the oldest leaves at t0+1h)", d)
			}
			// Refused retries are not counted: the wait does not move.
			for i := range 50 {
				d, _ = l.Allow(ctx, "k", p, at.Add(time.Duration(i)*time.Second))
			}
			if d.Allowed || d.Reset != 30*time.Minute-49*time.Second {
				t.Fatalf("after retries: %+v", d)
			}
			// Exactly when the oldest leaves, one request fits again.
			if d, _ := l.Allow(ctx, "k", p, t0.Add(time.Hour-time.Microsecond)); d.Allowed {
				t.Fatal("allowed a microsecond early")
			}
			if d, _ := l.Allow(ctx, "k", p, t0.Add(time.Hour)); !d.Allowed || d.Remaining != 0 || d.Reset != time.Minute {
				t.Fatalf("at the reset: %+v", d)
			}
			// Other keys and other policies are separate.
			if d, _ := l.Allow(ctx, "other", p, at); !d.Allowed || d.Remaining != 9 {
				t.Fatalf("another key: %+v", d)
			}
			if d, _ := l.Allow(ctx, "k", Policy{Name: "polling", Limit: 2, Window: time.Minute}, at); !d.Allowed {
				t.Fatalf("another policy: %+v", d)
			}
			if _, err := l.Allow(ctx, "k", Policy{Name: "bad", Limit: 0, Window: time.Hour}, at); err == nil {
				t.Fatal("a zero limit was accepted")
			}
		})
	}
}

// TestNeverMoreThanLimitInAnyWindow: an adversarial client bursts at the
// window's edges and retries at once when refused; every rolling window
// of its accepted requests holds at most the limit, and every refusal's
// Retry-After is exactly when one more would fit.
func TestNeverMoreThanLimitInAnyWindow(t *testing.T) {
	t.Parallel()
	p := Policy{Name: "hourly", Limit: 20, Window: time.Hour}
	for name, l := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(1, 2))
			var accepted []time.Time
			now := t0
			for range 3000 {
				switch r := rng.IntN(40); {
				case r == 0: // jump to just before the coming hour edge, then burst across it
					if edge := now.Truncate(time.Hour).Add(time.Hour - time.Duration(rng.IntN(3))*time.Second); edge.After(now) {
						now = edge
					}
				case r < 8:
					now = now.Add(time.Duration(rng.IntN(120)) * time.Second)
				default:
					now = now.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
				}
				d, err := l.Allow(context.Background(), "k", p, now)
				if err != nil {
					t.Fatal(err)
				}
				if d.Allowed {
					accepted = append(accepted, now)
					continue
				}
				// The reset is exact: at now+Reset one more fits; a
				// microsecond earlier it does not.
				inWindow := count(accepted, now.Add(-p.Window), now)
				at := now.Add(d.Reset - p.Window)
				if inWindow != p.Limit || count(accepted, at, now) > p.Limit-1 || count(accepted, at.Add(-time.Microsecond), now) != p.Limit {
					t.Fatalf("refused with %d in the window, reset %s", inWindow, d.Reset)
				}
			}
			for i, a := range accepted {
				if n := count(accepted, a.Add(-p.Window), a); n > p.Limit {
					t.Fatalf("%d accepted in the hour ending at request %d", n, i)
				}
			}
			t.Logf("%s: %d of 3000 requests accepted, %d refused, none over %d in any rolling hour", name, len(accepted), 3000-len(accepted), p.Limit)
		})
	}
}

// count is how many times fall in (from, to].
func count(times []time.Time, from, to time.Time) int {
	n := 0
	for _, x := range times {
		if x.After(from) && !x.After(to) {
			n++
		}
	}
	return n
}

// TestConcurrentClientsSharedRedis: 200 clients at once, on two limiters
// sharing Redis (two replicas), one key, limit 50: exactly 50 allowed.
func TestConcurrentClientsSharedRedis(t *testing.T) {
	t.Parallel()
	a := newRedis(t)
	b := &Redis{client: redis.NewClient(&redis.Options{Addr: redisAddr}), prefix: a.prefix}
	defer b.client.Close()
	p := Policy{Name: "hourly", Limit: 50, Window: time.Hour}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := range 200 {
		l := a
		if i%2 == 1 {
			l = b
		}
		wg.Go(func() {
			d, err := l.Allow(context.Background(), "shared", p, time.Now())
			if err != nil {
				t.Error(err)
			}
			if d.Allowed {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 50 {
		t.Fatalf("%d allowed, want exactly 50", n)
	}
}

// TestRedisOutage: with Redis gone, requests are still limited (per
// replica, in memory) and the outage is reported; when Redis returns on
// the same address, the limiter goes back to it by itself.
func TestRedisOutage(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	srv := startRedis(t, addr)
	client := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer client.Close()
	f := NewFallback(NewRedis(client, "outage:"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	f.RetryEvery = 100 * time.Millisecond
	p := Policy{Name: "hourly", Limit: 4, Window: time.Hour}
	ctx := context.Background()
	for range 2 {
		if d, err := f.Allow(ctx, "k", p, time.Time{}); err != nil || !d.Allowed || f.Degraded() {
			t.Fatalf("with Redis: %+v %v degraded=%v", d, err, f.Degraded())
		}
	}
	srv.Process.Kill()
	_ = srv.Wait()
	allowed := 0
	for range 10 {
		d, err := f.Allow(ctx, "k", p, time.Time{})
		if err != nil {
			t.Fatalf("during the outage: %v", err)
		}
		if d.Allowed {
			allowed++
		}
	}
	// Memory knew the 2 Redis had accepted: 2 more, not 4.
	if !f.Degraded() || allowed != 2 {
		t.Fatalf("during the outage: degraded=%v, %d of 10 allowed (want 2 of the 4)", f.Degraded(), allowed)
	}
	startRedis(t, addr)
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go f.Watch(wctx) // notices the return without traffic
	deadline := time.Now().Add(5 * time.Second)
	for f.Degraded() {
		if time.Now().After(deadline) {
			t.Fatal("did not return to Redis")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Back on Redis, which was told what memory accepted: still full.
	if d, _ := f.Allow(ctx, "k", p, time.Time{}); d.Allowed {
		t.Fatal("after recovery a fifth request got through")
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startRedis runs a throwaway redis-server (Debian's, as on this machine
// and in CI) on addr.
func startRedis(t *testing.T, addr string) *exec.Cmd {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	for i := 0; c.Ping(context.Background()).Err() != nil; i++ {
		if i > 100 {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cmd
}

// TestLoweredLimit: after a key's limit is lowered below what its window
// holds, the wait is until enough requests leave, and nothing is negative.
func TestLoweredLimit(t *testing.T) {
	t.Parallel()
	for name, l := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			for i := range 10 {
				if d, _ := l.Allow(ctx, "k", Policy{Name: "hourly", Limit: 10, Window: time.Hour}, t0.Add(time.Duration(i)*time.Minute)); !d.Allowed {
					t.Fatal("refused under the old limit")
				}
			}
			low := Policy{Name: "hourly", Limit: 3, Window: time.Hour}
			d, _ := l.Allow(ctx, "k", low, t0.Add(30*time.Minute))
			// 8 of the 10 must leave; the 8th oldest was at t0+7m.
			if d.Allowed || d.Remaining != 0 || d.Reset != 37*time.Minute {
				t.Fatalf("%+v, want refused, remaining 0, reset 37m", d)
			}
			if d, _ := l.Allow(ctx, "k", low, t0.Add(67*time.Minute)); !d.Allowed {
				t.Fatalf("refused at the reset: %+v", d)
			}
		})
	}
}

// TestRedisBatchedExact: decisions sent to Redis together are as exact as
// one at a time: of 200 requests at once on one key with a limit of 37,
// exactly 37 pass; and once Redis has forgotten the script (SCRIPT FLUSH,
// as after a restart), the next decisions load it again.
func TestRedisBatchedExact(t *testing.T) {
	t.Parallel()
	l := newRedis(t)
	p := Policy{Name: "polling", Limit: 37, Window: time.Hour}
	ctx := context.Background()
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			d, err := l.Allow(ctx, "one", p, time.Time{})
			if err != nil {
				t.Error(err)
				return
			}
			if d.Allowed {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 37 {
		t.Fatalf("%d of 200 allowed at once, want exactly 37", n)
	}
	if err := l.client.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	d, err := l.Allow(ctx, "other", p, time.Time{})
	if err != nil || !d.Allowed || d.Remaining != 36 {
		t.Fatalf("after SCRIPT FLUSH: %+v, %v", d, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.Allow(cancelled, "third", p, time.Time{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled request's decision: %v, want context.Canceled", err)
	}
}

// TestRedisBatchedGoneWhileWaiting: a request whose caller gave up while
// its decision waited behind a batch on its way is not sent: Redis does
// not count it.
func TestRedisBatchedGoneWhileWaiting(t *testing.T) {
	t.Parallel()
	l := newRedis(t)
	p := Policy{Name: "polling", Limit: 10, Window: time.Hour}
	b := l.batch
	b.mu.Lock()
	b.sending = true // a batch is on its way
	b.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	gone := make(chan error, 1)
	go func() {
		_, err := l.Allow(ctx, "gone", p, time.Time{})
		gone <- err
	}()
	for waiting := 0; waiting == 0; { // until the decision waits in the batcher
		b.mu.Lock()
		waiting = len(b.pending)
		b.mu.Unlock()
		runtime.Gosched()
	}
	cancel()
	if err := <-gone; !errors.Is(err, context.Canceled) {
		t.Fatalf("the gone caller got %v", err)
	}
	b.send() // the batch on its way is done: the next is sent
	n, err := l.client.ZCard(context.Background(), l.prefix+p.Name+":gone").Result()
	if err != nil || n != 0 {
		t.Fatalf("Redis counts %d (%v) for a request gone before it was sent", n, err)
	}
	if d, err := l.Allow(context.Background(), "gone", p, time.Time{}); err != nil || d.Remaining != 9 {
		t.Fatalf("the next decision: %+v, %v", d, err)
	}
}
