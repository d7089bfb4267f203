package runpodtest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/runpod/runpodtest"
)

// clock is a settable clock for Options.Now.
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

// bundle is a double on a settable clock, with short long polls.
type bundle struct {
	s     *runpodtest.Server
	clock *clock
	env   map[string]string // WorkerEnv("pod-1")
}

func setup(t *testing.T, opts runpodtest.Options) *bundle {
	t.Helper()
	c := newClock()
	if opts.Now == nil {
		opts.Now = c.Now
	}
	if opts.LongPoll == 0 {
		opts.LongPoll = 20 * time.Millisecond
	}
	if opts.WebhookRetryDelay == 0 {
		opts.WebhookRetryDelay = time.Millisecond
	}
	s := runpodtest.New(opts)
	t.Cleanup(s.Close)
	env := make(map[string]string)
	for _, kv := range s.WorkerEnv("pod-1") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return &bundle{s: s, clock: c, env: env}
}

// call makes a request and returns the status and body.
func call(t *testing.T, method, url, auth, body string) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// api calls the job API with the API key.
func (b *bundle) api(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	return call(t, method, b.s.URL()+"/v2/"+b.s.Options().EndpointID+path, "Bearer "+b.s.Options().APIKey, body)
}

// submit runs a job and returns its id.
func (b *bundle) submit(t *testing.T, body string) string {
	t.Helper()
	status, resp := b.api(t, http.MethodPost, "/run", body)
	if status != http.StatusOK {
		t.Fatalf("/run answered %d %s", status, resp)
	}
	var r struct{ ID, Status string }
	decode(t, resp, &r)
	if r.ID == "" || r.Status != "IN_QUEUE" {
		t.Fatalf("/run answered %s", resp)
	}
	return r.ID
}

// status returns /status of id as a map, or nil on 404.
func (b *bundle) status(t *testing.T, id string) map[string]any {
	t.Helper()
	code, resp := b.api(t, http.MethodGet, "/status/"+id, "")
	if code == http.StatusNotFound {
		return nil
	}
	if code != http.StatusOK {
		t.Fatalf("/status answered %d %s", code, resp)
	}
	var m map[string]any
	decode(t, resp, &m)
	return m
}

// The worker's requests, with the URLs built as the SDK builds them.

func (b *bundle) take(t *testing.T, pod string) (int, []byte) {
	t.Helper()
	u := strings.ReplaceAll(b.env["RUNPOD_WEBHOOK_GET_JOB"], "$ID", pod) + "&job_in_progress=0"
	return call(t, http.MethodGet, u, b.s.Options().WorkerKey, "")
}

func (b *bundle) stops(t *testing.T, pod string) (int, []byte) {
	t.Helper()
	u := strings.ReplaceAll(b.env["RUNPOD_WEBHOOK_GET_JOB"], "$ID", pod)
	u = strings.Replace(u, "/job-take/", "/job-stop/", 1)
	return call(t, http.MethodGet, u, b.s.Options().WorkerKey, "")
}

func (b *bundle) done(t *testing.T, pod, id, body string) int {
	t.Helper()
	u := strings.ReplaceAll(b.env["RUNPOD_WEBHOOK_POST_OUTPUT"], "$RUNPOD_POD_ID", pod)
	u = strings.ReplaceAll(u, "$ID", id) + "&isStream=false"
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", b.s.Options().WorkerKey)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (b *bundle) ping(t *testing.T, pod, jobIDs string) int {
	t.Helper()
	u := strings.ReplaceAll(b.env["RUNPOD_WEBHOOK_PING"], "$RUNPOD_POD_ID", pod) + "&job_id=" + jobIDs + "&runpod_version=1.12.0"
	code, _ := call(t, http.MethodGet, u, b.s.Options().WorkerKey, "")
	return code
}

// takeJob takes the next job as pod and returns its id and input.
func (b *bundle) takeJob(t *testing.T, pod string) (string, json.RawMessage) {
	t.Helper()
	code, body := b.take(t, pod)
	if code != http.StatusOK {
		t.Fatalf("job-take answered %d %s", code, body)
	}
	var job struct {
		ID    string
		Input json.RawMessage
	}
	decode(t, body, &job)
	return job.ID, job.Input
}

func (b *bundle) job(t *testing.T, id string) runpodtest.Record {
	t.Helper()
	r, ok := b.s.Job(id)
	if !ok {
		t.Fatalf("no record of job %s", id)
	}
	return r
}

func decode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

// eventually waits up to 5 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// receiver is a webhook receiver that answers the statuses given, in
// turn, then 200.
type receiver struct {
	url string

	mu       sync.Mutex
	answers  []int
	requests []map[string]any
}

func newReceiver(t *testing.T, answers ...int) *receiver {
	t.Helper()
	rc := &receiver{answers: answers}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		rc.mu.Lock()
		rc.requests = append(rc.requests, body)
		status := http.StatusOK
		if len(rc.answers) > 0 {
			status, rc.answers = rc.answers[0], rc.answers[1:]
		}
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(hs.Close)
	rc.url = hs.URL + "/hook"
	return rc
}

func (rc *receiver) received() []map[string]any {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.requests)
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}
