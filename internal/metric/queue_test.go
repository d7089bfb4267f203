package metric

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// queueSource is a queue source that counts its calls and answers what
// the test sets.
type queueSource struct {
	mu     sync.Mutex
	calls  int
	depths []QueueDepth
	err    error
	ctx    func(ctx context.Context) // sees each call's context, when set
}

func (s *queueSource) read(ctx context.Context) ([]QueueDepth, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.ctx != nil {
		s.ctx(ctx)
	}
	return s.depths, s.err
}

func (s *queueSource) set(depths []QueueDepth, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.depths, s.err = depths, err
}

func (s *queueSource) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// clock is a time that stands still until the test moves it, so that a
// test can stop a millisecond short of the cache's second.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// queueSetup is a Metrics on a test clock with src as its queue source.
func queueSetup(t *testing.T, src *queueSource) (*Metrics, *clock) {
	t.Helper()
	m, c := New(nil), &clock{t: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	m.now = c.now
	m.SetQueueSource(src.read)
	return m, c
}

func TestQueueSourceIsReadAtScrapeTime(t *testing.T) {
	t.Parallel()
	src := &queueSource{depths: []QueueDepth{{Backend: "local", Queued: 3, Running: 2}, {Backend: "runpod", Queued: 0, Running: 1}}}
	var deadline time.Duration
	src.ctx = func(ctx context.Context) {
		d, ok := ctx.Deadline()
		if !ok {
			t.Error("the source's context has no deadline")
		}
		deadline = time.Until(d)
	}
	m, _ := queueSetup(t, src)
	want := `
# HELP avatar_jobs_queued Jobs waiting for a worker, by backend, across the fleet: every replica reports the same figure, so aggregate with max(), not sum().
# TYPE avatar_jobs_queued gauge
avatar_jobs_queued{backend="local"} 3
avatar_jobs_queued{backend="runpod"} 0
# HELP avatar_jobs_running Jobs being generated, by backend, across the fleet: every replica reports the same figure, so aggregate with max(), not sum().
# TYPE avatar_jobs_running gauge
avatar_jobs_running{backend="local"} 2
avatar_jobs_running{backend="runpod"} 1
`
	if err := testutil.CollectAndCompare(m.queue, strings.NewReader(want), "avatar_jobs_queued", "avatar_jobs_running"); err != nil {
		t.Error(err)
	}
	if deadline <= time.Second || deadline > 2*time.Second {
		t.Errorf("the source had %s left, want 2 s", deadline)
	}
	if got, ok := scrape(t, m)[`avatar_metrics_source_errors_total{source="queue"}`]; !ok || got != 0 {
		t.Errorf("source errors: %g (present: %v), want 0 from the start, for rate()", got, ok)
	}
}

func TestQueueSourceIsCachedForASecond(t *testing.T) {
	t.Parallel()
	src := &queueSource{depths: []QueueDepth{{Backend: "local", Queued: 3}}}
	m, clock := queueSetup(t, src)
	for range 3 { // three scrapers at once
		testutil.CollectAndCount(m.queue)
	}
	clock.Advance(999 * time.Millisecond)
	src.set([]QueueDepth{{Backend: "local", Queued: 5}}, nil)
	if got := testutil.CollectAndCount(m.queue, "avatar_jobs_queued"); got != 1 || src.count() != 1 {
		t.Fatalf("%d series from %d queries within the second, want 1 from 1", got, src.count())
	}
	if got := scrape(t, m)[`avatar_jobs_queued{backend="local"}`]; got != 3 {
		t.Errorf("queued %g within the second, want the cached 3", got)
	}
	clock.Advance(time.Millisecond)
	if got := scrape(t, m)[`avatar_jobs_queued{backend="local"}`]; got != 5 || src.count() != 2 {
		t.Errorf("queued %g after %d queries, want 5 after 2", got, src.count())
	}
}

func TestFailingQueueSourceLeavesItsFiguresOut(t *testing.T) {
	t.Parallel()
	src := &queueSource{err: errors.New("database is locked")}
	m, clock := queueSetup(t, src)
	server := httptest.NewServer(m.Handler())
	defer server.Close()

	body := get(t, server.URL)
	if strings.Contains(body, "avatar_jobs_queued") || strings.Contains(body, "avatar_jobs_running") {
		t.Errorf("a failed read was reported:\n%s", grep(body, "avatar_jobs_"))
	}
	if !strings.Contains(body, `avatar_metrics_source_errors_total{source="queue"} 1`) {
		t.Errorf("the failure was not counted:\n%s", grep(body, "avatar_metrics_source_errors_total"))
	}
	get(t, server.URL) // within the second: the failure is kept, not retried
	if src.count() != 1 {
		t.Errorf("%d queries within the second, want 1", src.count())
	}

	src.set([]QueueDepth{{Backend: "local", Queued: 1}}, nil)
	clock.Advance(time.Second)
	body = get(t, server.URL)
	if !strings.Contains(body, `avatar_jobs_queued{backend="local"} 1`) || !strings.Contains(body, `avatar_metrics_source_errors_total{source="queue"} 1`) {
		t.Errorf("after the database came back:\n%s", grep(body, "avatar_"))
	}
}

func TestQueueSourceLabelsMerge(t *testing.T) {
	t.Parallel()
	src := &queueSource{depths: []QueueDepth{
		{Backend: "local", Queued: 1, Running: 2},
		{Backend: "Bad Name", Queued: 3},
		{Backend: "", Running: 4},
		{Backend: "local", Queued: 10},
	}}
	m, _ := queueSetup(t, src)
	sameSeries(t, scrapeQueue(t, m), snapshot{
		`avatar_jobs_queued{backend="local"}`:  11,
		`avatar_jobs_running{backend="local"}`: 2,
		`avatar_jobs_queued{backend="other"}`:  3,
		`avatar_jobs_running{backend="other"}`: 4,
	})
}

func TestNoQueueSourceNoQueueSeries(t *testing.T) {
	t.Parallel()
	m := New(nil)
	if n := testutil.CollectAndCount(m.queue); n != 0 {
		t.Errorf("%d queue series without a source", n)
	}
	if _, ok := scrape(t, m)[`avatar_metrics_source_errors_total{source="queue"}`]; ok {
		t.Error("a source error series without a source")
	}
	src := &queueSource{depths: []QueueDepth{{Backend: "local"}}}
	m.SetQueueSource(src.read)
	m.SetQueueSource(nil)
	if n := testutil.CollectAndCount(m.queue); n != 0 || src.count() != 0 {
		t.Errorf("%d queue series, %d queries after the source was removed", n, src.count())
	}
}

// scrapeQueue is the queue's series of a scrape.
func scrapeQueue(t *testing.T, m *Metrics) snapshot {
	t.Helper()
	s := snapshot{}
	for k, v := range scrape(t, m) {
		if strings.HasPrefix(k, "avatar_jobs_queued{") || strings.HasPrefix(k, "avatar_jobs_running{") {
			s[k] = v
		}
	}
	return s
}

// get is the body of a scrape of url, which must succeed.
func get(t *testing.T, url string) string {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	if r.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s\n%s", r.Status, body)
	}
	return string(body)
}

// grep is the lines of text that contain s.
func grep(text, s string) string {
	var lines []string
	for line := range strings.Lines(text) {
		if strings.Contains(line, s) {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, "")
}
