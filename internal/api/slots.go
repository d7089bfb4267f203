package api

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/avatar-api/avatar-api/internal/problem"
)

// CodeTooManyUploads refuses an upload while its customer already holds
// its share of the upload slots.
const CodeTooManyUploads = "too_many_concurrent_uploads"

// uploadSlots are the uploads received and checked at once, shared fairly:
// one customer holds at most perOwner of them, so the others still get
// theirs whatever one customer sends.
type uploadSlots struct {
	mu       sync.Mutex
	total    int
	perOwner int
	used     int
	byOwner  map[string]int
	changed  chan struct{} // closed, and replaced, whenever a slot is freed
	after    func(time.Duration) <-chan time.Time
}

// newUploadSlots makes the slots; after times the wait for one (nil:
// time.After).
func newUploadSlots(total, perOwner int, after func(time.Duration) <-chan time.Time) *uploadSlots {
	if after == nil {
		after = time.After
	}
	return &uploadSlots{total: total, perOwner: perOwner, byOwner: map[string]int{}, changed: make(chan struct{}), after: after}
}

// acquire waits up to wait for a slot for owner; release gives it back.
// It refuses with 429 when owner's own share was what it waited for (its
// own uploads hold it), with 503 when every slot was taken.
func (s *uploadSlots) acquire(ctx context.Context, owner string, wait time.Duration) (release func(), err error) {
	var timeout <-chan time.Time // started at the first wait
	for {
		s.mu.Lock()
		ownerFull := s.byOwner[owner] >= s.perOwner
		if !ownerFull && s.used < s.total {
			s.used++
			s.byOwner[owner]++
			s.mu.Unlock()
			var once sync.Once
			return func() { once.Do(func() { s.release(owner) }) }, nil
		}
		changed := s.changed
		s.mu.Unlock()
		if timeout == nil {
			timeout = s.after(wait)
		}
		select {
		case <-changed:
		case <-timeout:
			if ownerFull {
				return nil, problem.Newf(http.StatusTooManyRequests, CodeTooManyUploads,
					"your key already has %d uploads in progress, the most one customer may; send the next when one ends", s.perOwner).
					WithHeader("Retry-After", strconv.Itoa(5))
			}
			return nil, problem.New(http.StatusServiceUnavailable, CodeUnavailable,
				"too many uploads are being processed; retry shortly").WithHeader("Retry-After", "5")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// CodeKeyInUse refuses a request whose Idempotency-Key another request
// of the same customer is using right now.
const CodeKeyInUse = "idempotency_request_in_progress"

// keyLocks lets one request at a time use an Idempotency-Key of a
// customer, in this process: a duplicate sent while the first is still
// being received or checked is refused at once with 409 (as Stripe does),
// instead of running the same checks a second time, and its retry gets the
// first request's job.
type keyLocks struct {
	mu   sync.Mutex
	busy map[string]bool
}

// lock takes key, or reports that another request holds it.
func (l *keyLocks) lock(key string) (unlock func(), ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.busy[key] {
		return nil, false
	}
	if l.busy == nil {
		l.busy = map[string]bool{}
	}
	l.busy[key] = true
	return func() {
		l.mu.Lock()
		delete(l.busy, key)
		l.mu.Unlock()
	}, true
}

func keyInUse() error {
	return problem.New(http.StatusConflict, CodeKeyInUse,
		"another request with this Idempotency-Key is in progress; retry it in a moment to get its job").WithHeader("Retry-After", "1")
}

func (s *uploadSlots) release(owner string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.used--
	if s.byOwner[owner]--; s.byOwner[owner] <= 0 {
		delete(s.byOwner, owner)
	}
	close(s.changed)
	s.changed = make(chan struct{})
}
