// Package ratelimit decides whether a key may make one more request under a
// policy "at most Limit requests in any rolling Window". It keeps the time
// of every accepted request in the window (a sliding-window log), so the
// limit holds exactly in every rolling window — not approximately, as with
// fixed windows or sliding-window counters, which let a client through up
// to twice the limit around a window edge — and the time to retry is exact:
// when the oldest counted request leaves the window. Refused requests are
// not recorded, so retrying never pushes the wait back; and an allowed
// request can be released (given back) when it turns out not to count.
//
// Memory: one entry per accepted request still in the window, per key and
// policy, at most Limit of them: about 40 bytes in memory (a time and a
// name), about 120 bytes in Redis (a sorted-set member, measured on Redis
// 7.0). Limits up to MaxLimit are held exactly.
package ratelimit

import (
	"context"
	"fmt"
	"time"
)

// MaxLimit is the largest limit held exactly (about 4 MB per key at the
// most in memory, 12 MB in Redis).
const MaxLimit = 100_000

// Policy is a limit over a rolling window, with a name for the RateLimit
// headers.
type Policy struct {
	Name   string // "hourly", "polling"
	Limit  int
	Window time.Duration
}

// Decision is the answer for one request.
type Decision struct {
	Allowed bool
	// Remaining is how many more requests the window takes now.
	Remaining int
	// Reset is how long until one more request is allowed (when refused),
	// or until the oldest counted request leaves the window and Remaining
	// grows by one (when allowed).
	Reset time.Duration

	at     time.Time // when the request was recorded, by the deciding clock
	member string    // its name in the log (Redis)
}

// Limiter decides, and records when it allows. Release takes back what an
// allowed decision recorded, when the request turned out not to count (the
// service failed it, or answered it with an earlier result): a reservation
// that is given back, exactly, as if it had never been made. Implementations
// are safe for concurrent use; the Redis one is also shared by every replica.
type Limiter interface {
	Allow(ctx context.Context, key string, p Policy, now time.Time) (Decision, error)
	Release(ctx context.Context, key string, p Policy, d Decision) error
}

func check(p Policy) error {
	if p.Limit < 1 || p.Limit > MaxLimit || p.Window <= 0 {
		return fmt.Errorf("rate limit policy %q: limit must be 1..%d and window positive", p.Name, MaxLimit)
	}
	return nil
}
