package gpu

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"
)

const (
	defaultEvery = 5 * time.Second
	backoffAfter = 5           // consecutive failed queries before sampling slows down
	backoffEvery = time.Minute // the pace of a sampler whose queries keep failing
	logEvery     = time.Minute // at most one warning of each kind this often
	staleAfter   = 3           // ticks after which Latest forgets a reading
)

// SamplerConfig is what a Sampler needs. Only Path and Every are
// settings; the rest connects it to the worker and, in tests, to a clock.
type SamplerConfig struct {
	// Path is nvidia-smi's; "" finds it on PATH.
	Path string
	// Every is the time between samples; 0 is 5 s.
	Every time.Duration
	// Active reports whether the worker is running a job; the Sampler
	// samples only then (an idle GPU's figures say nothing). Nil: always.
	Active func() bool
	// Record stores a sample of every GPU; it is given Every to do so.
	// Nil: samples are only kept for Latest.
	Record func(ctx context.Context, s []Sample) error
	// Log receives the warnings of failed samples, at most one of each
	// kind a minute. Nil: slog.Default().
	Log *slog.Logger
	// Now and After are the clock (nil: time.Now and time.After). Each
	// wait between samples is one call of After.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
}

// Sampler samples a worker's GPUs every few seconds while it runs a job,
// hands each sample to Record and keeps the last for Latest (the metrics
// gauges). A failure, of the query or of Record, is logged and sampling
// goes on; after 5 failed queries in a row it slows to once a minute (a
// machine whose driver is gone is not asked every 5 s) until one
// succeeds.
type Sampler struct {
	cfg SamplerConfig

	mu     sync.Mutex
	latest []Sample // nil before the first reading and after a failed one
}

// NewSampler returns a Sampler with cfg's defaults filled in; Run starts
// it.
func NewSampler(cfg SamplerConfig) *Sampler {
	if cfg.Every <= 0 {
		cfg.Every = defaultEvery
	}
	if cfg.Active == nil {
		cfg.Active = func() bool { return true }
	}
	if cfg.Record == nil {
		cfg.Record = func(context.Context, []Sample) error { return nil }
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	return &Sampler{cfg: cfg}
}

// Run samples until ctx ends, then returns. Call it once.
func (s *Sampler) Run(ctx context.Context) {
	queryLog := &throttle{every: logEvery}
	recordLog := &throttle{every: logEvery}
	failed := 0 // consecutive failed queries
	for {
		wait := s.cfg.Every
		if failed >= backoffAfter {
			wait = max(backoffEvery, s.cfg.Every)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.cfg.After(wait):
		}
		if !s.cfg.Active() {
			continue
		}
		samples, err := query(ctx, s.cfg.Path, s.cfg.Now)
		s.keep(samples)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failed++
			if skipped, ok := queryLog.allow(s.cfg.Now()); ok {
				s.cfg.Log.WarnContext(ctx, "sampling the GPUs failed", "error", err, "failures_in_a_row", failed, "unlogged", skipped)
			}
			continue
		}
		if failed > 0 {
			s.cfg.Log.InfoContext(ctx, "sampling the GPUs works again", "failures_before", failed)
			failed = 0
		}
		if err := s.record(ctx, samples); err != nil && ctx.Err() == nil {
			if skipped, ok := recordLog.allow(s.cfg.Now()); ok {
				s.cfg.Log.WarnContext(ctx, "recording GPU samples failed", "error", err, "unlogged", skipped)
			}
		}
	}
}

// record stores samples within one tick, so that a slow store does not
// stall sampling.
func (s *Sampler) record(ctx context.Context, samples []Sample) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Every)
	defer cancel()
	return s.cfg.Record(ctx, slices.Clone(samples))
}

func (s *Sampler) keep(samples []Sample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latest = samples
}

// Latest returns the last reading of every GPU, for the metrics gauges:
// nil before the first, when the last query failed, and when the last
// reading is older than three ticks, which is when sampling stopped
// because the worker's jobs ended (a gauge would otherwise show a busy
// GPU long after it went idle). Three ticks, not one, so that a query
// that takes a little longer than usual does not blank the gauges.
func (s *Sampler) Latest() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.latest) == 0 || s.cfg.Now().Sub(s.latest[0].At) > staleAfter*s.cfg.Every {
		return nil
	}
	return slices.Clone(s.latest)
}

// throttle lets one event through every so often and counts the others.
type throttle struct {
	every   time.Duration
	last    time.Time
	skipped int
}

// allow reports whether an event at now may be logged and, if so, how
// many were held back since the last one.
func (t *throttle) allow(now time.Time) (skipped int, ok bool) {
	if !t.last.IsZero() && now.Sub(t.last) < t.every {
		t.skipped++
		return 0, false
	}
	skipped, t.skipped, t.last = t.skipped, 0, now
	return skipped, true
}
