package auth

import (
	"container/list"
	"math"
	"net"
	"sync"
	"time"
)

// Throttle limits failed authentications per client address (IPv6 by its
// /64, which one subscriber usually holds whole): a bucket of Burst
// attempts refilling at Per. A few mistakes cost nothing; guessing is
// slowed to a trickle, and a locked-out client waits one refill, or, after
// a burst of failures sent at once, (1+Burst) refills at most.
type Throttle struct {
	Burst float64
	Per   time.Duration // time to regain one attempt

	mu      sync.Mutex
	buckets map[string]*list.Element // of *bucket, in lru
	lru     list.List                // most recently used first
	max     int                      // buckets kept; the least recently used goes first
	now     func() time.Time
}

type bucket struct {
	key    string
	tokens float64
	at     time.Time
}

// NewThrottle allows burst failures, then one per per.
func NewThrottle(burst int, per time.Duration) *Throttle {
	return &Throttle{Burst: float64(burst), Per: per, buckets: map[string]*list.Element{}, max: maxBuckets, now: time.Now}
}

// SetClock makes the throttle read the time from now (tests move it
// instead of waiting for a refill).
func (t *Throttle) SetClock(now func() time.Time) { t.now = now }

// Allow reports whether addr may try to authenticate now, and otherwise
// how long until it may. It spends nothing: only a failure (Fail) does, so
// that any number of concurrent requests with a valid key go through.
// Concurrent failures may slip past a nearly empty bucket together; each
// is charged, and the bucket runs into debt of at most Burst attempts, so
// that the wait stays bounded (a proxy's address shared by many clients is
// never locked out for long): a client that sends many guesses at once
// gets them answered, one indexed lookup each, then waits (1+Burst)×Per.
func (t *Throttle) Allow(addr string) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.refill(clientNet(addr))
	if b == nil || b.tokens >= 1 {
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) * float64(t.Per))
}

// Fail charges addr one failed authentication.
func (t *Throttle) Fail(addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	key := clientNet(addr)
	b := t.refill(key)
	if b == nil {
		if len(t.buckets) >= t.max {
			t.forget(t.lru.Back()) // bounded memory: the address heard from least recently goes
		}
		b = &bucket{key: key, tokens: t.Burst, at: t.now()}
		t.buckets[key] = t.lru.PushFront(b)
	}
	b.tokens = max(b.tokens-1, -t.Burst)
}

// maxBuckets bounds the memory of the throttle: about 100 bytes a bucket.
// Spraying more addresses than this evicts the quietest, never everyone's.
const maxBuckets = 100_000

// refill brings a bucket up to date and marks it used; a full one is
// forgotten.
func (t *Throttle) refill(key string) *bucket {
	e := t.buckets[key]
	if e == nil {
		return nil
	}
	b := e.Value.(*bucket)
	now := t.now()
	b.tokens = math.Min(t.Burst, b.tokens+float64(now.Sub(b.at))/float64(t.Per))
	b.at = now
	if b.tokens >= t.Burst {
		t.forget(e)
		return nil
	}
	t.lru.MoveToFront(e)
	return b
}

// forget drops a bucket.
func (t *Throttle) forget(e *list.Element) {
	delete(t.buckets, t.lru.Remove(e).(*bucket).key)
}

// clientNet is the throttled unit of an address "host:port": the IPv4
// address, or the IPv6 /64.
func clientNet(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
