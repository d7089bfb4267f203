package metric

import (
	"context"
	"sync"
	"time"
)

// Limits on reading a source of figures at scrape time.
const (
	sourceTimeout = 2 * time.Second // a scrape must not wait on a stuck database
	sourceCache   = time.Second     // several scrapers cost one query a second
)

// source is a set of figures read from the database when scraped, through
// a cache: an answer (or a failure) is kept for sourceCache, so that
// several scrapers do not multiply queries, and a failing database is not
// queried once per scraper either.
type source[T any] struct {
	now func() time.Time

	mu       sync.Mutex // held across a query: concurrent scrapes wait for its answer
	read     func(ctx context.Context) (T, error)
	failures float64   // failed reads since the source was set
	at       time.Time // when the answer below was read; zero: never
	value    T
	ok       bool // value is an answer, not a failure's zero
}

func (s *source[T]) set(f func(ctx context.Context) (T, error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var zero T
	s.read, s.failures, s.at, s.value, s.ok = f, 0, time.Time{}, zero, false
}

// get is the source's answer of less than sourceCache ago, or a new one,
// with the failures so far; set is false without a source, ok false when
// the answer is a failure.
func (s *source[T]) get() (value T, failures float64, set, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.read == nil {
		return value, 0, false, false
	}
	now := s.now()
	if !s.at.IsZero() && now.Sub(s.at) < sourceCache && !now.Before(s.at) {
		return s.value, s.failures, true, s.ok
	}
	ctx, cancel := context.WithTimeout(context.Background(), sourceTimeout)
	defer cancel()
	got, err := s.read(ctx)
	var zero T
	s.at, s.value, s.ok = now, zero, false
	if err != nil {
		s.failures++
		return zero, s.failures, true, false
	}
	s.value, s.ok = got, true
	return s.value, s.failures, true, true
}
