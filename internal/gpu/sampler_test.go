package gpu

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/testkit"
)

const every = 2 * time.Second

// clock is the sampler's clock in these tests: time moves when the test
// says, and each wait of the sampler's is handed to the test, which ends
// it by sending a tick.
type clock struct {
	mu    sync.Mutex
	now   time.Time
	waits chan wait
}

type wait struct {
	d    time.Duration
	tick chan time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *clock) After(d time.Duration) <-chan time.Time {
	w := wait{d: d, tick: make(chan time.Time, 1)}
	c.waits <- w
	return w.tick
}

// samplerBundle is a running Sampler on the fake nvidia-smi.
type samplerBundle struct {
	smi     *fakeSMI
	clock   *clock
	active  atomic.Bool
	failing atomic.Bool // Record fails
	records chan []Sample
	log     *testkit.Buffer
	s       *Sampler
	cur     wait // the wait the sampler is in
	stop    func()
	done    chan struct{}
}

func setupSampler(t *testing.T) *samplerBundle {
	t.Helper()
	b := &samplerBundle{
		smi:     setup(t),
		clock:   &clock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC), waits: make(chan wait, 16)},
		records: make(chan []Sample, 100),
		log:     &testkit.Buffer{},
		done:    make(chan struct{}),
	}
	b.smi.print(t, "45, 1024, 24576\n")
	b.s = NewSampler(SamplerConfig{
		Every:  every,
		Active: b.active.Load,
		Record: func(ctx context.Context, s []Sample) error {
			b.records <- s
			if b.failing.Load() {
				return errors.New("database is down")
			}
			return nil
		},
		Log:   slog.New(slog.NewTextHandler(b.log, nil)),
		Now:   b.clock.Now,
		After: b.clock.After,
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(b.done)
		b.s.Run(ctx)
	}()
	b.stop = cancel
	t.Cleanup(func() { b.stopped(t) })
	b.cur = b.next(t)
	return b
}

// next is the next wait the sampler starts.
func (b *samplerBundle) next(t *testing.T) wait {
	t.Helper()
	select {
	case w := <-b.clock.waits:
		return w
	case <-time.After(10 * time.Second):
		t.Fatal("the sampler does not wait for its next tick")
		return wait{}
	}
}

// tick ends the sampler's wait, lets it sample (or not) and returns how
// long it waits next.
func (b *samplerBundle) tick(t *testing.T) time.Duration {
	t.Helper()
	b.cur.tick <- b.clock.Now()
	b.cur = b.next(t)
	return b.cur.d
}

// recorded is what Record was given since the last call.
func (b *samplerBundle) recorded() [][]Sample {
	var got [][]Sample
	for {
		select {
		case s := <-b.records:
			got = append(got, s)
		default:
			return got
		}
	}
}

// stopped cancels Run's context and waits for Run to return.
func (b *samplerBundle) stopped(t *testing.T) {
	t.Helper()
	b.stop()
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return when its context ended")
	}
}

func (b *samplerBundle) logged(msg string) int {
	return strings.Count(b.log.String(), `msg="`+msg+`"`)
}

func TestSamplerSamplesOnlyWhileActive(t *testing.T) {
	b := setupSampler(t)
	if d := b.tick(t); d != every || len(b.recorded()) != 0 {
		t.Fatalf("idle: waited %s, recorded %v", d, b.recorded())
	}
	if _, err := os.Stat(filepath.Join(b.smi.dir, "pid")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("nvidia-smi ran while the worker was idle: %v", err)
	}

	b.active.Store(true)
	b.tick(t)
	b.tick(t)
	got := b.recorded()
	if len(got) != 2 || !sameSamples(got[1], []Sample{{0, 0.45, 1024 * mib, 24576 * mib, b.clock.Now()}}) {
		t.Fatalf("active: recorded %v", got)
	}

	b.active.Store(false)
	b.tick(t)
	if got := b.recorded(); len(got) != 0 {
		t.Fatalf("idle again: recorded %v", got)
	}
}

func TestSamplerGoesOnWhenRecordFails(t *testing.T) {
	b := setupSampler(t)
	b.active.Store(true)
	b.failing.Store(true)
	for range 3 {
		if d := b.tick(t); d != every {
			t.Fatalf("waits %s after a failed Record", d)
		}
	}
	if n := len(b.recorded()); n != 3 {
		t.Fatalf("Record called %d times in 3 ticks", n)
	}
	if b.s.Latest() == nil {
		t.Error("no readings for the gauges while the store is down")
	}
	if n := b.logged("recording GPU samples failed"); n != 1 {
		t.Errorf("%d warnings within a minute, want 1:\n%s", n, b.log)
	}
	b.clock.Advance(time.Minute)
	b.tick(t)
	if n := b.logged("recording GPU samples failed"); n != 2 || !strings.Contains(b.log.String(), "unlogged=2") {
		t.Errorf("%d warnings a minute later, want 2 (and 2 unlogged):\n%s", n, b.log)
	}
}

func TestSamplerBacksOffWhileQueriesFail(t *testing.T) {
	b := setupSampler(t)
	b.active.Store(true)
	b.smi.fail(t, 9, "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n")
	for i := 1; i <= 7; i++ {
		want := every
		if i >= backoffAfter {
			want = time.Minute
		}
		if d := b.tick(t); d != want {
			t.Fatalf("after %d failures: waits %s, want %s", i, d, want)
		}
	}
	if n := b.logged("sampling the GPUs failed"); n != 1 || !strings.Contains(b.log.String(), "couldn't communicate") {
		t.Errorf("%d warnings within a minute, want 1:\n%s", n, b.log)
	}
	if got := b.recorded(); len(got) != 0 || b.s.Latest() != nil {
		t.Errorf("failed queries recorded %v, Latest %v", got, b.s.Latest())
	}
	b.clock.Advance(time.Minute)
	b.tick(t)
	if n := b.logged("sampling the GPUs failed"); n != 2 {
		t.Errorf("%d warnings a minute later, want 2:\n%s", n, b.log)
	}

	b.smi.print(t, "45, 1024, 24576\n")
	if d := b.tick(t); d != every {
		t.Errorf("after a success: waits %s, want %s", d, every)
	}
	if len(b.recorded()) != 1 || b.s.Latest() == nil || b.logged("sampling the GPUs works again") != 1 {
		t.Errorf("a success after failures is not recorded and logged:\n%s", b.log)
	}
}

func TestSamplerLatest(t *testing.T) {
	b := setupSampler(t)
	if got := b.s.Latest(); got != nil {
		t.Fatalf("before any sample: %v", got)
	}
	b.active.Store(true)
	b.tick(t)
	got := b.s.Latest()
	if !sameSamples(got, []Sample{{0, 0.45, 1024 * mib, 24576 * mib, b.clock.Now()}}) {
		t.Fatalf("after a sample: %v", got)
	}
	got[0].Utilization = 7
	if b.s.Latest()[0].Utilization != 0.45 {
		t.Error("Latest hands out its own slice")
	}

	// The job ends: no more samples, and after three ticks no readings.
	b.active.Store(false)
	b.clock.Advance(staleAfter * every)
	b.tick(t)
	if b.s.Latest() == nil {
		t.Error("readings of three ticks ago are dropped")
	}
	b.clock.Advance(time.Millisecond)
	if got := b.s.Latest(); got != nil {
		t.Errorf("stale readings kept: %v", got)
	}

	b.active.Store(true)
	b.tick(t)
	if b.s.Latest() == nil {
		t.Fatal("no readings after a new sample")
	}
	b.smi.fail(t, 1, "oops\n")
	b.tick(t)
	if got := b.s.Latest(); got != nil {
		t.Errorf("readings kept after a failed query: %v", got)
	}
}

func TestSamplerStopsWithItsContext(t *testing.T) {
	b := setupSampler(t)
	b.stopped(t) // while it waits for a tick

	b = setupSampler(t) // while nvidia-smi hangs
	b.active.Store(true)
	b.smi.write(t, "mode", "hang")
	b.cur.tick <- b.clock.Now()
	pid := b.smi.pid(t)
	b.stopped(t)
	if !gone(pid) {
		t.Errorf("nvidia-smi (pid %d) outlived the sampler", pid)
	}
	if got := b.recorded(); len(got) != 0 || b.logged("sampling the GPUs failed") != 0 {
		t.Errorf("a query stopped by shutdown is recorded (%v) or logged:\n%s", got, b.log)
	}
}

func TestNewSamplerDefaults(t *testing.T) {
	t.Parallel()
	s := NewSampler(SamplerConfig{})
	if s.cfg.Every != 5*time.Second || s.cfg.Active == nil || !s.cfg.Active() || s.cfg.Record == nil || s.cfg.Log == nil || s.cfg.Now == nil || s.cfg.After == nil {
		t.Errorf("defaults: %+v", s.cfg)
	}
	if s.Latest() != nil {
		t.Error("Latest of a new sampler")
	}
}
