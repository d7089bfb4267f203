package auth

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/apikey"
	"github.com/avatar-api/avatar-api/internal/store"
	"github.com/avatar-api/avatar-api/internal/store/sqlite"
)

// counting counts the lookups that reach the (real) store.
type counting struct {
	store.KeyStore
	lookups atomic.Int64
}

func (c *counting) KeyByHash(ctx context.Context, hash string) (*store.APIKey, error) {
	c.lookups.Add(1)
	return c.KeyStore.KeyByHash(ctx, hash)
}

func setup(t testing.TB) (*Keys, *counting, *apikey.Service) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "a.db"), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &counting{KeyStore: st}
	return NewKeys(c, nil, false, slog.New(slog.NewTextHandler(io.Discard, nil))), c, apikey.NewService(st, nil)
}

func TestChecksumRefusedWithoutLookup(t *testing.T) {
	t.Parallel()
	k, c, svc := setup(t)
	created, err := svc.Create(context.Background(), apikey.CreateParams{Customer: "acme"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	good := created.Key
	typo := good[:20] + string(good[21]) + string(good[20]) + good[22:]
	if good[20] == good[21] {
		typo = good[:len(good)-1] + "x"
	}
	for _, bad := range []string{typo, good[:len(good)-1], "av_live_short", "not-a-key-at-all-but-long", ""} {
		if _, err := k.Authenticate(context.Background(), bad); err != ErrUnauthenticated {
			t.Fatalf("%q: %v", bad, err)
		}
	}
	if n := c.lookups.Load(); n != 0 {
		t.Fatalf("%d database lookups for malformed keys", n)
	}
	id, err := k.Authenticate(context.Background(), good)
	if err != nil || id.Customer != "acme" || !id.Has("generate") || id.Has("admin") {
		t.Fatalf("good key: %+v %v", id, err)
	}
	for range 100 {
		_, _ = k.Authenticate(context.Background(), good)
	}
	if n := c.lookups.Load(); n != 1 {
		t.Fatalf("%d lookups for 101 uses within the cache's second", n)
	}
	k.Flush(context.Background())
	rec, _ := svc.Get(context.Background(), created.Record.ID)
	if rec.LastUsedAt == nil {
		t.Fatal("last use not recorded")
	}
}

func TestThrottle(t *testing.T) {
	t.Parallel()
	th := NewThrottle(3, 10*time.Second)
	now := time.Unix(1000, 0)
	th.SetClock(func() time.Time { return now })
	a, sameNet, other := "[2001:db8:1:2:aaaa::1]:5000", "[2001:db8:1:2:bbbb::9]:6000", "192.0.2.7:80"
	for range 50 { // successes cost nothing, however many at once
		if ok, _ := th.Allow(a); !ok {
			t.Fatal("a successful client is throttled")
		}
	}
	for range 3 {
		if ok, _ := th.Allow(a); !ok {
			t.Fatal("refused before the burst is spent")
		}
		th.Fail(a)
	}
	if ok, wait := th.Allow(sameNet); ok || wait != 10*time.Second {
		t.Fatalf("same /64 after the burst: ok %v wait %s", ok, wait)
	}
	if ok, _ := th.Allow(other); !ok {
		t.Fatal("another address is throttled")
	}
	now = now.Add(4 * time.Second)
	if ok, wait := th.Allow(a); ok || wait != 6*time.Second {
		t.Fatalf("after 4 s: ok %v wait %s (Retry-After must be exact)", ok, wait)
	}
	now = now.Add(6 * time.Second)
	if ok, _ := th.Allow(a); !ok {
		t.Fatal("still refused after the wait")
	}
	th.Fail(other)
	if ok, _ := th.Allow("[::ffff:192.0.2.7]:81"); !ok { // the IPv4-mapped form of other: one bucket, two left
		t.Fatal("mapped address refused")
	}
	for range 2 {
		th.Fail("[::ffff:192.0.2.7]:81")
	}
	if ok, _ := th.Allow(other); ok {
		t.Fatal("the mapped form's failures were not charged to the address")
	}
}

// TestThrottleChargesConcurrentFailures: failures that passed Allow
// together are each charged; the wait grows with the debt, which is
// capped at a burst's worth, so the wait stays bounded.
func TestThrottleChargesConcurrentFailures(t *testing.T) {
	t.Parallel()
	th := NewThrottle(3, 10*time.Second)
	now := time.Unix(1000, 0)
	th.SetClock(func() time.Time { return now })
	g := "198.51.100.9:1"
	for range 5 { // five guesses in flight at once, all allowed
		if ok, _ := th.Allow(g); !ok {
			t.Fatal("refused before any failure")
		}
	}
	for range 5 {
		th.Fail(g)
	}
	if ok, wait := th.Allow(g); ok || wait != 30*time.Second {
		t.Fatalf("after 5 failures with a burst of 3: ok %v, wait %s; want 30 s (2 attempts of debt)", ok, wait)
	}
	for range 500 {
		th.Fail(g)
	}
	if ok, wait := th.Allow(g); ok || wait != 40*time.Second {
		t.Fatalf("after 505 failures: ok %v, wait %s; want 40 s (the debt capped at a burst)", ok, wait)
	}
}

// BenchmarkAuthenticate: the cost of authentication per request, against
// doing nothing: a cached key, a key looked up in SQLite (cache miss), and
// a malformed key (refused by its checksum).
func BenchmarkAuthenticate(b *testing.B) {
	k, _, svc := setup(b)
	created, err := svc.Create(context.Background(), apikey.CreateParams{Customer: "acme"}, "bench")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("none", func(b *testing.B) {
		for b.Loop() {
			_ = ctx
		}
	})
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			if _, err := k.Authenticate(ctx, created.Key); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("miss", func(b *testing.B) {
		clock := time.Now()
		k.SetClock(func() time.Time { clock = clock.Add(2 * CacheTTL); return clock })
		defer k.SetClock(time.Now)
		for b.Loop() {
			if _, err := k.Authenticate(ctx, created.Key); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("malformed", func(b *testing.B) {
		for b.Loop() {
			_, _ = k.Authenticate(ctx, "av_live_0000000000000000000000000000000000000000")
		}
	})
}

// TestThrottleEvictsTheQuietest: at its bound the throttle forgets the
// address it heard from least recently, not every address: spraying new
// addresses cannot reset a guesser's bucket.
func TestThrottleEvictsTheQuietest(t *testing.T) {
	t.Parallel()
	th := NewThrottle(2, time.Hour)
	th.max = 3
	now := time.Unix(1000, 0)
	th.SetClock(func() time.Time { return now })
	guesser := "198.51.100.1:1"
	for range 2 {
		th.Fail(guesser)
	}
	for i := range 10 { // a spray of addresses, the guesser still guessing
		now = now.Add(time.Second)
		th.Fail(fmt.Sprintf("203.0.113.%d:1", i))
		if ok, _ := th.Allow(guesser); ok {
			t.Fatalf("after %d sprayed addresses the guesser's bucket was reset", i+1)
		}
		th.Fail(guesser)
	}
	if n := len(th.buckets); n != 3 || th.lru.Len() != 3 {
		t.Fatalf("%d buckets (%d in the list), want the bound of 3", n, th.lru.Len())
	}
	// Quiet for long enough, the guesser is the one evicted, and starts afresh.
	for i := range 3 {
		th.Fail(fmt.Sprintf("192.0.2.%d:1", i))
	}
	if _, ok := th.buckets[clientNet(guesser)]; ok {
		t.Fatal("the least recently used address was kept")
	}
}
