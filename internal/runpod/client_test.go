package runpod_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/runpod"
	"github.com/avatar-api/avatar-api/internal/runpod/runpodtest"
)

// The key the double wants; no error may ever show it.
const secret = "rpa_SECRETKEY0123456789"

// testBundle is a client against a RunPod double on a settable clock,
// whose waits between retries are recorded instead of slept.
type testBundle struct {
	c      *runpod.Client
	s      *runpodtest.Server
	clock  *clock
	sleeps *sleeps
}

func setup(t *testing.T, opts runpodtest.Options) *testBundle {
	t.Helper()
	tb := &testBundle{clock: newClock(), sleeps: &sleeps{}}
	opts.APIKey = secret
	opts.Now = tb.clock.Now
	opts.LongPoll = 20 * time.Millisecond
	tb.s = runpodtest.New(opts)
	t.Cleanup(tb.s.Close)
	tb.c = tb.client(t, secret)
	return tb
}

// client is a client of the double with key.
func (tb *testBundle) client(t *testing.T, key string) *runpod.Client {
	t.Helper()
	c, err := runpod.New(runpod.Config{
		APIURL:     tb.s.URL(),
		RESTURL:    tb.s.RESTURL(),
		EndpointID: tb.s.Options().EndpointID,
		APIKey:     key,
		Sleep:      tb.sleeps.sleep,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sleeps records the waits between retries.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return nil
}

func (s *sleeps) waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// failed checks that err is an error and does not show the key.
func failed(t *testing.T, err error) error {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("the error shows the API key: %v", err)
	}
	return err
}

func apiError(t *testing.T, err error) *runpod.APIError {
	t.Helper()
	var e *runpod.APIError
	if !errors.As(failed(t, err), &e) {
		t.Fatalf("%v is not an APIError", err)
	}
	return e
}

// submit runs a job with a small input.
func (tb *testBundle) submit(t *testing.T) runpod.Job {
	t.Helper()
	j, err := tb.c.Run(context.Background(), runpod.RunRequest{Input: map[string]int{"n": 1}})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestNew(t *testing.T) {
	t.Parallel()
	ok := runpod.Config{EndpointID: "jpnw0v75y3qoql", APIKey: secret}
	if _, err := runpod.New(ok); err != nil {
		t.Fatalf("New(%+v): %v", ok, err)
	}
	tests := []struct {
		name   string
		change func(*runpod.Config)
	}{
		{"NoKey", func(c *runpod.Config) { c.APIKey = "" }},
		{"KeyWithNewline", func(c *runpod.Config) { c.APIKey = secret + "\r\nX-Evil: 1" }},
		{"NoEndpoint", func(c *runpod.Config) { c.EndpointID = "" }},
		{"EndpointWithSlash", func(c *runpod.Config) { c.EndpointID = "ep/../x" }},
		{"EndpointTooLong", func(c *runpod.Config) { c.EndpointID = strings.Repeat("a", 65) }},
		{"RelativeAPIURL", func(c *runpod.Config) { c.APIURL = "api.runpod.ai" }},
		{"FTPAPIURL", func(c *runpod.Config) { c.APIURL = "ftp://api.runpod.ai" }},
		{"RESTURLWithQuery", func(c *runpod.Config) { c.RESTURL = "https://rest.runpod.io?x=1" }},
		{"RESTURLWithUser", func(c *runpod.Config) { c.RESTURL = "https://u:p@rest.runpod.io" }},
	}
	for _, tc := range tests {
		cfg := ok
		tc.change(&cfg)
		_, err := runpod.New(cfg)
		if err == nil {
			t.Errorf("%s: New accepted %+v", tc.name, cfg)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error shows the key: %v", tc.name, err)
		}
	}
}

func TestRunAndStatus(t *testing.T) {
	t.Parallel()
	tb := setup(t, runpodtest.Options{})
	ctx := context.Background()
	j, err := tb.c.Run(ctx, runpod.RunRequest{
		Input:            map[string]int{"n": 21},
		Webhook:          "http://127.0.0.1:1/hook",
		ExecutionTimeout: 90 * time.Second,
		TTL:              time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	if j.ID == "" || j.Status != runpod.InQueue {
		t.Fatalf("Run returned %+v", j)
	}
	rec, _ := tb.s.Job(j.ID)
	if rec.ExecutionTimeout != 90*time.Second || rec.TTL != time.Hour || rec.Webhook != "http://127.0.0.1:1/hook" || string(rec.Input) != `{"n":21}` {
		t.Errorf("the double got %+v", rec)
	}
	if st, err := tb.c.Status(ctx, j.ID); err != nil || st.Status != runpod.InQueue || st.Output != nil {
		t.Errorf("Status of a queued job: %+v, %v", st, err)
	}

	tb.clock.Add(1500 * time.Millisecond)
	stop := tb.s.Run(func(_ context.Context, input json.RawMessage, progress func(json.RawMessage)) (json.RawMessage, string) {
		var in struct{ N int }
		_ = json.Unmarshal(input, &in)
		tb.clock.Add(2 * time.Second)
		out, _ := json.Marshal(map[string]int{"double": in.N * 2})
		return out, ""
	})
	defer stop()
	st := waitEnded(t, tb, j.ID)
	if st.Status != runpod.Completed || string(st.Output) != `{"double":42}` || st.Error != "" ||
		st.DelayTime != 1500*time.Millisecond || st.ExecutionTime != 2*time.Second || !strings.HasPrefix(st.WorkerID, "inproc-") {
		t.Errorf("Status of the completed job: %+v", st)
	}
	if w := tb.sleeps.waits(); len(w) != 0 {
		t.Errorf("waits %v with nothing failing", w)
	}
}

func TestStatusOfFailedJob(t *testing.T) {
	t.Parallel()
	tb := setup(t, runpodtest.Options{})
	j := tb.submit(t)
	werr := &runpod.WorkError{Code: runpod.CodeGeneration, Message: "the generator failed"}
	stop := tb.s.Run(func(context.Context, json.RawMessage, func(json.RawMessage)) (json.RawMessage, string) {
		return nil, werr.String()
	})
	defer stop()
	st := waitEnded(t, tb, j.ID)
	if st.Status != runpod.Failed || st.Output != nil {
		t.Fatalf("Status: %+v", st)
	}
	if got := runpod.ParseError(st.Error); *got != *werr {
		t.Errorf("ParseError(%q) = %+v, want %+v", st.Error, got, werr)
	}
}

// waitEnded polls Status until the job ends.
func waitEnded(t *testing.T, tb *testBundle, id string) runpod.Job {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := tb.c.Status(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if runpod.Ended(st.Status) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s", id, st.Status)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestRunRefusesBadRequests(t *testing.T) {
	t.Parallel()
	tb := setup(t, runpodtest.Options{})
	ctx := context.Background()
	var nilMap map[string]int
	for name, r := range map[string]runpod.RunRequest{
		"NoInput":          {},
		"NilInput":         {Input: nilMap},
		"ShortTimeout":     {Input: 1, ExecutionTimeout: time.Second},
		"LongTimeout":      {Input: 1, ExecutionTimeout: 8 * 24 * time.Hour},
		"ShortTTL":         {Input: 1, TTL: 9 * time.Second},
		"UnencodableInput": {Input: func() {}},
	} {
		if _, err := tb.c.Run(ctx, r); err == nil {
			t.Errorf("%s: Run accepted %+v", name, r)
		}
	}
	if n := len(tb.s.Jobs()); n != 0 {
		t.Errorf("%d jobs reached RunPod", n)
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	tb := setup(t, runpodtest.Options{})
	ctx := context.Background()
	j := tb.submit(t)
	got, err := tb.c.Cancel(ctx, j.ID)
	if err != nil || got.ID != j.ID || got.Status != runpod.Cancelled {
		t.Fatalf("Cancel: %+v, %v", got, err)
	}
	if st, err := tb.c.Status(ctx, j.ID); err != nil || st.Status != runpod.Cancelled {
		t.Errorf("Status after Cancel: %+v, %v", st, err)
	}
	if rec, _ := tb.s.Job(j.ID); rec.Status != runpod.Cancelled {
		t.Errorf("the double has %s", rec.Status)
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	tb := setup(t, runpodtest.Options{Retention: time.Minute})
	ctx := context.Background()
	_, err := tb.c.Status(ctx, "00000000-0000-4000-a000-000000000000-u1")
	if !errors.Is(failed(t, err), runpod.ErrNotFound) {
		t.Errorf("Status of an unknown job: %v, want ErrNotFound", err)
	}
	if e := apiError(t, err); e.Status != http.StatusNotFound || e.Op != "status" {
		t.Errorf("APIError %+v", e)
	}
	if _, err := tb.c.Cancel(ctx, "no/such job"); !errors.Is(failed(t, err), runpod.ErrNotFound) {
		t.Errorf("Cancel of an unknown job: %v, want ErrNotFound", err)
	}

	// Past the retention of its result, a job is not found either.
	j := tb.submit(t)
	if _, err := tb.c.Cancel(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	tb.clock.Add(time.Minute)
	if _, err := tb.c.Status(ctx, j.ID); !errors.Is(failed(t, err), runpod.ErrNotFound) {
		t.Errorf("Status past retention: %v, want ErrNotFound", err)
	}
	if w := tb.sleeps.waits(); len(w) != 0 {
		t.Errorf("a 404 was retried: waits %v", w)
	}
	if _, err := tb.c.Status(ctx, ""); err == nil {
		t.Error("Status of an empty id was sent")
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	tb := setup(t, runpodtest.Options{})
	ctx := context.Background()
	done := make(chan struct{})
	stop := tb.s.Run(func(ctx context.Context, _ json.RawMessage, _ func(json.RawMessage)) (json.RawMessage, string) {
		<-done
		return json.RawMessage(`1`), ""
	})
	defer stop()
	defer close(done)
	running := tb.submit(t)
	tb.submit(t)
	tb.submit(t)
	deadline := time.Now().Add(5 * time.Second)
	for rec, _ := tb.s.Job(running.ID); rec.Status != runpod.InProgress; rec, _ = tb.s.Job(running.ID) {
		if time.Now().After(deadline) {
			t.Fatal("the worker did not take the job")
		}
		time.Sleep(2 * time.Millisecond)
	}
	h, err := tb.c.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.Jobs.InProgress != 1 || h.Jobs.InQueue != 2 || h.Workers.Running != 1 || h.Workers.Idle != 0 {
		t.Errorf("Health = %+v", h)
	}
}

func TestEndpoint(t *testing.T) {
	t.Parallel()
	tb := setup(t, runpodtest.Options{EndpointID: "jpnw0v75y3qoql"})
	e, err := tb.c.Endpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := runpod.Endpoint{
		ID: "jpnw0v75y3qoql", Name: "avatar-test", Type: "QUEUE", Image: "runpod/pytorch:1.0.2-cu1281-torch280-ubuntu2404",
		WorkersMin: 0, WorkersMax: 3, IdleTimeout: 5 * time.Second, ScalerType: "QUEUE_DELAY", ScalerValue: 4,
		ExecutionTimeoutMS: 600000, GPUPools: []string{"ADA_24"}, GPUCount: 1, DataCenterIDs: []string{"EU-RO-1"},
	}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("Endpoint = %+v\nwant %+v", e, want)
	}
}

func TestSetMaxWorkers(t *testing.T) {
	t.Parallel()
	tb := setup(t, runpodtest.Options{})
	ctx := context.Background()
	e, err := tb.c.SetMaxWorkers(ctx, 0)
	// Only max changes: the double, like v2, keeps what the PATCH leaves out.
	if err != nil || e.WorkersMax != 0 || e.WorkersMin != 0 || e.IdleTimeout != 5*time.Second || e.Name != "avatar-test" {
		t.Errorf("SetMaxWorkers(0) = %+v, %v", e, err)
	}
	if e, _ := tb.c.Endpoint(ctx); e.WorkersMax != 0 {
		t.Errorf("Endpoint after SetMaxWorkers(0): WorkersMax %d", e.WorkersMax)
	}
	if _, err := tb.c.SetMaxWorkers(ctx, -1); err == nil {
		t.Error("SetMaxWorkers(-1) was sent")
	}

	tb.s.Fail("endpoint", http.StatusBadRequest, 1)
	if e := apiError(t, func() error { _, err := tb.c.SetMaxWorkers(ctx, 2); return err }()); e.Status != 400 || e.Op != "update endpoint" {
		t.Errorf("APIError %+v", e)
	}
	tb.s.Fail("endpoint", http.StatusServiceUnavailable, 1)
	if e, err := tb.c.SetMaxWorkers(ctx, 2); err != nil || e.WorkersMax != 2 {
		t.Errorf("SetMaxWorkers(2) after a 503: %+v, %v", e, err)
	}
	if w := tb.sleeps.waits(); len(w) != 1 {
		t.Errorf("waits %v, want one (for the 503)", w)
	}
}

// canned is a transport that records requests and answers each with
// status and body, as RunPod's REST host would.
type canned struct {
	status int
	body   string

	mu   sync.Mutex
	reqs []string // method, URL and body of each request
}

func (c *canned) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
	}
	c.mu.Lock()
	c.reqs = append(c.reqs, r.Method+" "+r.URL.String()+" "+string(body))
	c.mu.Unlock()
	return &http.Response{
		StatusCode: c.status, Body: io.NopCloser(strings.NewReader(c.body)), Request: r,
		Header: http.Header{"Content-Type": {"application/json"}},
	}, nil
}

func cannedClient(t *testing.T, tr *canned) *runpod.Client {
	t.Helper()
	c, err := runpod.New(runpod.Config{EndpointID: "ep1", APIKey: secret, HTTP: &http.Client{Transport: tr}, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestEndpointRequests: the default host, the v2 paths, and a PATCH
// body of workers.max alone, the only field sent.
func TestEndpointRequests(t *testing.T) {
	t.Parallel()
	tr := &canned{status: 200, body: `{"id": "ep1", "name": "n", "workers": {"min": 0, "max": 2}, "scaling": {"type": "REQUEST_COUNT", "requestCount": 3}}`}
	c := cannedClient(t, tr)
	ctx := context.Background()
	if _, err := c.Endpoint(ctx); err != nil {
		t.Fatal(err)
	}
	e, err := c.SetMaxWorkers(ctx, 2)
	if err != nil || e.ScalerValue != 3 || e.IdleTimeout != 0 || e.GPUPools != nil {
		t.Errorf("SetMaxWorkers = %+v, %v", e, err)
	}
	want := []string{
		"GET https://api.runpod.io/v2/serverless/ep1 ",
		`PATCH https://api.runpod.io/v2/serverless/ep1 {"workers":{"max":2}}`,
	}
	if !slices.Equal(tr.reqs, want) {
		t.Errorf("requests %q\nwant %q", tr.reqs, want)
	}
}

// TestEndpointOtherShapes: an answer without workers.min and max (REST
// v1's flat shape, say) is refused, not read as 0 workers; a v2
// validation failure shows the fields it names.
func TestEndpointOtherShapes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, body := range []string{
		`{"id": "ep1", "workersMin": 0, "workersMax": 3}`,
		`{"id": "ep1", "workers": {"min": 0}}`,
		`{"workers": {"min": 0, "max": 3}}`,
	} {
		_, err := cannedClient(t, &canned{status: 200, body: body}).Endpoint(ctx)
		if !strings.Contains(failed(t, err).Error(), "not the REST API v2's Endpoint") {
			t.Errorf("Endpoint of %s: %v", body, err)
		}
	}
	if _, err := cannedClient(t, &canned{status: 200, body: `{"id": "ep1", "workers": [{"id": "pod1"}]}`}).Endpoint(ctx); !strings.Contains(failed(t, err).Error(), "decode answer") {
		t.Errorf("Endpoint of workers as a list: %v", err)
	}
	tr := &canned{status: 422, body: `{"title": "Unprocessable Entity", "status": 422, "detail": "Request validation failed.", "errors": ["$.workers: additional properties 'max' not allowed"]}`}
	_, err := cannedClient(t, tr).SetMaxWorkers(ctx, 1)
	if e := apiError(t, err); e.Status != 422 || e.Temporary() || !strings.Contains(e.Message, "'max' not allowed") {
		t.Errorf("SetMaxWorkers refused: %v", err)
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	tb := setup(t, runpodtest.Options{})
	ctx := context.Background()
	j := tb.submit(t)

	tb.s.Fail("status", http.StatusServiceUnavailable, 2)
	tb.s.Fail("status", http.StatusInternalServerError, 2)
	if _, err := tb.c.Status(ctx, j.ID); err != nil {
		t.Fatalf("Status after 4 failures, with 4 retries: %v", err)
	}
	w := tb.sleeps.waits()
	if len(w) != 4 {
		t.Fatalf("waits %v, want 4", w)
	}
	for i, d := range w { // full jitter: up to 500 ms, 1 s, 2 s, 4 s
		if ceil := 500 * time.Millisecond << i; d < 0 || d > ceil {
			t.Errorf("wait %d = %v, want within [0, %v]", i, d, ceil)
		}
	}

	// Retries run out.
	tb.s.Fail("health", http.StatusBadGateway, 5)
	_, err := tb.c.Health(ctx)
	if e := apiError(t, err); e.Status != http.StatusBadGateway || !e.Temporary() || e.Op != "health" {
		t.Errorf("APIError %+v", e)
	}
	if n := len(tb.sleeps.waits()); n != 8 {
		t.Errorf("%d waits in all, want 8", n)
	}
	if _, err := tb.c.Health(ctx); err != nil {
		t.Errorf("Health once the failures are used: %v", err)
	}
}

// TestRetryOfLostAnswer: a status whose answer is lost is asked again.
// (On a fresh connection: Go's transport itself retries an idempotent
// request whose reused connection closes.)
func TestRetryOfLostAnswer(t *testing.T) {
	t.Parallel()
	tb := setup(t, runpodtest.Options{})
	j := tb.submit(t)
	c, err := runpod.New(runpod.Config{
		APIURL: tb.s.URL(), EndpointID: tb.s.Options().EndpointID, APIKey: secret,
		HTTP:  &http.Client{Transport: &http.Transport{}},
		Sleep: tb.sleeps.sleep,
	})
	if err != nil {
		t.Fatal(err)
	}
	tb.s.Fail("status", 0, 1)
	if _, err := c.Status(context.Background(), j.ID); err != nil {
		t.Fatalf("Status after a lost answer: %v", err)
	}
	if w := tb.sleeps.waits(); len(w) != 1 {
		t.Errorf("waits %v, want 1", w)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	tb := setup(t, runpodtest.Options{})
	tb.s.Fail("health", http.StatusTooManyRequests, 3)
	if _, err := tb.c.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	w := tb.sleeps.waits()
	if len(w) != 3 {
		t.Fatalf("waits %v, want 3", w)
	}
	for i, d := range w {
		if d < time.Second {
			t.Errorf("wait %d = %v, shorter than Retry-After: 1", i, d)
		}
	}
}

func TestNoRetryOfOtherClientErrors(t *testing.T) {
	t.Parallel()
	tb := setup(t, runpodtest.Options{})
	wrong := tb.client(t, "rpa_WRONG"+secret[9:])
	_, err := wrong.Health(context.Background())
	e := apiError(t, err)
	if e.Status != http.StatusUnauthorized || e.Temporary() || e.Message != "unauthorized" {
		t.Errorf("APIError %+v", e)
	}
	if strings.Contains(err.Error(), "rpa_WRONG") {
		t.Errorf("the error shows the key sent: %v", err)
	}
	if w := tb.sleeps.waits(); len(w) != 0 {
		t.Errorf("a 401 was retried: waits %v", w)
	}
}

// TestRunRetriesOnlyWhatWasNotTaken: RunPod has no idempotency key, so a
// /run is retried only when RunPod surely did not take it.
func TestRunRetriesOnlyWhatWasNotTaken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
		retry  bool
	}{
		{"RateLimited", http.StatusTooManyRequests, true},
		{"BadGateway", http.StatusBadGateway, true},
		{"Unavailable", http.StatusServiceUnavailable, true},
		{"InternalError", http.StatusInternalServerError, false},
		{"GatewayTimeout", http.StatusGatewayTimeout, false},
		{"AnswerLost", 0, false}, // the connection closed after the request was sent
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tb := setup(t, runpodtest.Options{})
			tb.s.Fail("run", tc.status, 1)
			j, err := tb.c.Run(context.Background(), runpod.RunRequest{Input: 1})
			waits := len(tb.sleeps.waits())
			switch {
			case tc.retry && (err != nil || waits != 1 || len(tb.s.Jobs()) != 1 || j.ID == ""):
				t.Errorf("Run: %+v, %v after %d waits, %d jobs; want one retry and one job", j, err, waits, len(tb.s.Jobs()))
			case !tc.retry:
				failed(t, err)
				if waits != 0 || len(tb.s.Jobs()) != 0 {
					t.Errorf("Run retried (%d waits, %d jobs): %v", waits, len(tb.s.Jobs()), err)
				}
			}
		})
	}
}

func TestRunRetriesARefusedConnection(t *testing.T) {
	t.Parallel()
	tb := setup(t, runpodtest.Options{})
	tb.s.Close() // nothing listens there now
	_, err := tb.c.Run(context.Background(), runpod.RunRequest{Input: 1})
	failed(t, err)
	if w := tb.sleeps.waits(); len(w) != 4 {
		t.Errorf("waits %v, want 4 retries of a request never sent", w)
	}
}

func TestContextEndsRetries(t *testing.T) {
	t.Parallel()
	tb := setup(t, runpodtest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	c, err := runpod.New(runpod.Config{
		APIURL: tb.s.URL(), EndpointID: tb.s.Options().EndpointID, APIKey: secret,
		Sleep: func(context.Context, time.Duration) error { cancel(); return context.Canceled },
	})
	if err != nil {
		t.Fatal(err)
	}
	tb.s.Fail("health", http.StatusServiceUnavailable, 5)
	_, err = c.Health(ctx)
	if !errors.Is(failed(t, err), context.Canceled) {
		t.Errorf("Health: %v, want context.Canceled", err)
	}
	var e *runpod.APIError
	if !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable {
		t.Errorf("Health: %v, want the 503 kept", err)
	}
}

func TestAnswerSizeIsCapped(t *testing.T) {
	t.Parallel()
	tb := setup(t, runpodtest.Options{})
	j := tb.submit(t)
	big, _ := json.Marshal(strings.Repeat("x", 2<<20))
	stop := tb.s.Run(func(context.Context, json.RawMessage, func(json.RawMessage)) (json.RawMessage, string) {
		return big, ""
	})
	defer stop()
	deadline := time.Now().Add(5 * time.Second)
	for rec, _ := tb.s.Job(j.ID); rec.Status != runpod.Completed; rec, _ = tb.s.Job(j.ID) {
		if time.Now().After(deadline) {
			t.Fatal("the job did not complete")
		}
		time.Sleep(2 * time.Millisecond)
	}
	_, err := tb.c.Status(context.Background(), j.ID)
	if !strings.Contains(failed(t, err).Error(), "answer over") {
		t.Errorf("Status of a 2 MiB output: %v", err)
	}
	if w := tb.sleeps.waits(); len(w) != 0 {
		t.Errorf("an oversized answer was retried: waits %v", w)
	}
}
