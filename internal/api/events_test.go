package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/api"
	"github.com/avatar-api/avatar-api/internal/runpod/runpodtest"
	"github.com/avatar-api/avatar-api/internal/server"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

// The tests of live status: GET /status/{id} with Accept: text/event-stream.

// sseEvent is one event of a stream, or one comment line.
type sseEvent struct {
	name, id, data string
	comment        string
}

// job is the event's data, decoded.
func (e sseEvent) job(t *testing.T) api.Job {
	t.Helper()
	var j api.Job
	if err := json.Unmarshal([]byte(e.data), &j); err != nil {
		t.Fatalf("event data %q: %v", e.data, err)
	}
	return j
}

// revision is the event's id as a number.
func (e sseEvent) revision(t *testing.T) int64 {
	t.Helper()
	n, err := strconv.ParseInt(e.id, 10, 64)
	if err != nil {
		t.Fatalf("event id %q: %v", e.id, err)
	}
	return n
}

// stream is an open stream: its response, and its events, closed when
// the server ends the stream.
type stream struct {
	resp   *http.Response
	events <-chan sseEvent
	retry  chan string // the retry field, once
}

// openStream asks baseURL for job id's live status with key, resuming
// after lastID if it is not empty. The stream is closed at the test's end.
func openStream(t *testing.T, baseURL, key, id, lastID string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/status/"+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	events, retry := make(chan sseEvent), make(chan string, 1)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		var e sseEvent
		for sc.Scan() {
			field, value, _ := strings.Cut(sc.Text(), ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "":
				if value != "" || strings.HasPrefix(sc.Text(), ":") { // a comment
					if !send(ctx, events, sseEvent{comment: value}) {
						return
					}
					continue
				}
				if e != (sseEvent{}) && !send(ctx, events, e) {
					return
				}
				e = sseEvent{}
			case "event":
				e.name = value
			case "id":
				e.id = value
			case "data":
				e.data += value
			case "retry":
				retry <- value
			}
		}
	}()
	return &stream{resp: resp, events: events, retry: retry}
}

func send(ctx context.Context, ch chan<- sseEvent, e sseEvent) bool {
	select {
	case ch <- e:
		return true
	case <-ctx.Done():
		return false
	}
}

// next is the stream's next event (comments skipped unless comments), or
// ok false when the server closed the stream.
func (s *stream) next(t *testing.T, within time.Duration, comments bool) (e sseEvent, ok bool) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case e, ok = <-s.events:
			if !ok || comments || e.comment == "" {
				return e, ok
			}
		case <-deadline:
			t.Fatalf("no event within %s", within)
		}
	}
}

// rest reads the stream to its end (the server closes it), returning its
// status events.
func (s *stream) rest(t *testing.T, within time.Duration) []sseEvent {
	t.Helper()
	var out []sseEvent
	for {
		e, ok := s.next(t, within, false)
		if !ok {
			return out
		}
		out = append(out, e)
	}
}

var stateRank = map[string]int{"queued": 0, "processing": 1, "completed": 2, "failed": 2, "cancelled": 2, "expired": 3}

// TestStatusStreamFollowsAJobToItsEnd: the job is made on the RunPod
// double, whose worker starts only once the stream is open, so that the
// stream sees it before it ends whatever the machine's load.
func TestStatusStreamFollowsAJobToItsEnd(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{runpod: newDouble(t, runpodtest.Options{})})
	j, resp := tb.submit(t, keyA, small...)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("generate: %d", resp.StatusCode)
	}
	s := openStream(t, tb.url, keyA, j.ID, "")
	tb.runpodWorker(t)
	if s.resp.StatusCode != http.StatusOK || s.resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %q", s.resp.StatusCode, s.resp.Header.Get("Content-Type"))
	}
	if s.resp.Header.Get("RateLimit") == "" {
		t.Error("the stream is not counted by the polling rate limit (no RateLimit field)")
	}
	events := s.rest(t, 90*time.Second)
	if got := <-s.retry; got != "2000" {
		t.Errorf("retry: %q, want 2000", got)
	}
	if len(events) == 0 {
		t.Fatal("no events")
	}
	var prev api.Job
	var prevID int64 = -1
	for i, e := range events {
		v := e.job(t)
		if e.name != "status" || v.ID != j.ID {
			t.Fatalf("event %d: %q of job %s", i, e.name, v.ID)
		}
		if id := e.revision(t); id <= prevID {
			t.Errorf("event %d: id %d after %d", i, id, prevID)
		} else {
			prevID = id
		}
		if i > 0 && (stateRank[v.State] < stateRank[prev.State] || (v.State == prev.State && v.Progress < prev.Progress)) {
			t.Errorf("event %d: %s %.3f after %s %.3f", i, v.State, v.Progress, prev.State, prev.Progress)
		}
		prev = v
	}
	if first := events[0].job(t).State; first != "queued" && first != "processing" {
		t.Errorf("first event: %s", first)
	}
	if last := events[len(events)-1].job(t); last.State != "completed" || last.Progress != 1 {
		t.Errorf("last event: %s %.3f, want completed 1", last.State, last.Progress)
	}
}

func TestStatusStreamResumesWithLastEventID(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{noWorkers: true}) // the job waits, queued, until cancelled
	j, _ := tb.submit(t, keyA, small...)

	s := openStream(t, tb.url, keyA, j.ID, "")
	queued, _ := s.next(t, 10*time.Second, false)
	if queued.job(t).State != "queued" {
		t.Fatalf("first event: %s", queued.data)
	}
	s.resp.Body.Close()

	// Resumed with the queued event's id: the queued state is not sent
	// again; the next event is the cancellation, and the stream ends.
	s = openStream(t, tb.url, keyA, j.ID, queued.id)
	if s.resp.StatusCode != http.StatusOK {
		t.Fatalf("resume: %d", s.resp.StatusCode)
	}
	if <-s.retry != "2000" { // the stream is open: the cancel comes after the resume's read
		t.Fatal("no retry field")
	}
	if resp := tb.call(t, http.MethodPost, "/cancel/"+j.ID, keyA, nil, "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("cancel: %d", resp.StatusCode)
	}
	events := s.rest(t, 10*time.Second)
	if len(events) != 1 || events[0].job(t).State != "cancelled" || events[0].revision(t) <= queued.revision(t) {
		t.Fatalf("resumed after %s: %+v, want only the cancellation", queued.id, events)
	}
	final := events[0]

	// After the end: resumed with the final id, nothing is new: 204, no
	// stream (EventSource stops reconnecting on 204).
	s = openStream(t, tb.url, keyA, j.ID, final.id)
	if s.resp.StatusCode != http.StatusNoContent {
		t.Fatalf("resume with the final id: %d, want 204", s.resp.StatusCode)
	}
	if rest := s.rest(t, 5*time.Second); len(rest) != 0 {
		t.Fatalf("resume with the final id: %+v", rest)
	}
	// Resumed with an older id, or not resumed: the final event, then the
	// end.
	for _, last := range []string{queued.id, "", "not-a-number"} {
		s = openStream(t, tb.url, keyA, j.ID, last)
		events := s.rest(t, 10*time.Second)
		if len(events) != 1 || events[0] != final {
			t.Fatalf("after the end, Last-Event-ID %q: %+v, want %+v", last, events, final)
		}
	}
}

func TestStatusStreamOfAnotherCustomersJobIsNotFound(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{noWorkers: true})
	j, _ := tb.submit(t, keyA, small...)
	for _, id := range []string{j.ID, "0193a5f0-0000-7000-8000-000000000000", "nope"} {
		s := openStream(t, tb.url, keyB, id, "")
		var p problemBody
		if err := json.NewDecoder(s.resp.Body).Decode(&p); err != nil {
			t.Fatal(err)
		}
		if s.resp.StatusCode != http.StatusNotFound || p.Code != "not_found" ||
			s.resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %q %+v", id, s.resp.StatusCode, s.resp.Header.Get("Content-Type"), p)
		}
	}
	// Without the Accept header, GET /status answers as before.
	var v api.Job
	if resp := tb.call(t, http.MethodGet, "/status/"+j.ID, keyA, nil, "", &v); resp.StatusCode != http.StatusOK ||
		v.State != "queued" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("status: %d %q %+v", resp.StatusCode, resp.Header.Get("Content-Type"), v)
	}
}

func TestStatusStreamLimitPerKey(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{noWorkers: true})
	a, _ := tb.submit(t, keyA, small...)
	b, _ := tb.submit(t, keyB, small...)
	var open []*stream
	for range 10 {
		s := openStream(t, tb.url, keyA, a.ID, "")
		if e, _ := s.next(t, 10*time.Second, false); s.resp.StatusCode != http.StatusOK || e.name != "status" {
			t.Fatalf("stream %d: %d %+v", len(open)+1, s.resp.StatusCode, e)
		}
		open = append(open, s)
	}
	s := openStream(t, tb.url, keyA, a.ID, "")
	var p problemBody
	_ = json.NewDecoder(s.resp.Body).Decode(&p)
	if s.resp.StatusCode != http.StatusTooManyRequests || p.Code != api.CodeTooManyStreams || s.resp.Header.Get("Retry-After") == "" {
		t.Fatalf("11th stream: %d %+v", s.resp.StatusCode, p)
	}
	// Another key's streams are its own.
	if s := openStream(t, tb.url, keyB, b.ID, ""); s.resp.StatusCode != http.StatusOK {
		t.Fatalf("key B's stream: %d", s.resp.StatusCode)
	}
	// A stream closed by its client frees its place.
	open[0].resp.Body.Close()
	testkit.WaitFor(t, 10*time.Second, "a place for a stream", func() bool {
		s := openStream(t, tb.url, keyA, a.ID, "")
		if s.resp.StatusCode != http.StatusOK {
			s.resp.Body.Close()
			return false
		}
		return true
	})
}

// replica serves a second API over tb's service (its job service and
// keys), as another server would, with streams paced by policy; its
// http.Server as configure sets it.
func replica(t *testing.T, tb *testBundle, policy api.StreamPolicy, configure ...func(*http.Server)) *httptest.Server {
	t.Helper()
	h := api.New(api.Deps{Jobs: tb.app.Jobs, Auth: tb.app.Auth, Log: tb.log, PublicURL: tb.url, Streams: policy})
	srv := httptest.NewUnstartedServer(server.Wrap(h, tb.log, server.Options{}))
	for _, c := range configure {
		c(srv.Config)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func TestStatusStreamHeartbeatAndReplicas(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{noWorkers: true})
	j, _ := tb.submit(t, keyA, small...)
	other := replica(t, tb, api.StreamPolicy{Heartbeat: 20 * time.Millisecond})

	s := openStream(t, other.URL, keyA, j.ID, "")
	first, _ := s.next(t, 10*time.Second, false)
	for range 3 {
		if e, ok := s.next(t, 10*time.Second, true); !ok || e.comment != "keep-alive" {
			t.Fatalf("after the first event: %+v (open: %v), want a keep-alive comment", e, ok)
		}
	}
	// Another server numbers the same state alike.
	here := openStream(t, tb.url, keyA, j.ID, "")
	if e, _ := here.next(t, 10*time.Second, false); e != first {
		t.Fatalf("two servers, one job: %+v and %+v", e, first)
	}
}

// A stream outlives the server's read and write timeouts: each write
// extends its own deadline.
func TestStatusStreamOutlivesServerTimeouts(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{noWorkers: true})
	j, _ := tb.submit(t, keyA, small...)
	const timeout, beat = 200 * time.Millisecond, 20 * time.Millisecond
	other := replica(t, tb, api.StreamPolicy{Heartbeat: beat}, func(s *http.Server) {
		s.ReadTimeout, s.WriteTimeout = timeout, timeout
	})
	s := openStream(t, other.URL, keyA, j.ID, "")
	start := time.Now()
	if _, ok := s.next(t, 10*time.Second, false); !ok {
		t.Fatal("no first event")
	}
	for n := 0; n < int(3*timeout/beat); n++ { // keep-alives of 3 timeouts at least
		if e, ok := s.next(t, 10*time.Second, true); !ok || e.comment != "keep-alive" {
			t.Fatalf("after %s: %+v (open: %v)", time.Since(start), e, ok)
		}
	}
	if elapsed := time.Since(start); elapsed < 2*timeout {
		t.Fatalf("keep-alives came too fast (%s) to tell", elapsed)
	}
}

func TestStatusStreamEndsOnShutdown(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{noWorkers: true})
	j, _ := tb.submit(t, keyA, small...)
	other := replica(t, tb, api.StreamPolicy{})
	s := openStream(t, other.URL, keyA, j.ID, "")
	if _, ok := s.next(t, 10*time.Second, false); !ok {
		t.Fatal("no first event")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := other.Config.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v (the stream kept it waiting)", err)
	}
	if rest := s.rest(t, 10*time.Second); len(rest) != 0 {
		t.Fatalf("after shutdown: %+v", rest)
	}
	_, _ = io.Copy(io.Discard, s.resp.Body)
}

func TestStatusStreamInOpenAPI(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(api.New(api.Deps{Log: slog.New(slog.DiscardHandler), Files: http.NotFoundHandler()}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Paths map[string]map[string]struct {
			Description string `json:"description"`
			Responses   map[string]struct {
				Content map[string]struct {
					Schema map[string]any `json:"schema"`
				} `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	op := doc.Paths["/status/{job_id}"]["get"]
	ok := op.Responses["200"].Content
	if !strings.Contains(op.Description, "text/event-stream") || ok["text/event-stream"].Schema == nil ||
		ok["application/json"].Schema["$ref"] != "#/components/schemas/Job" || op.Responses["429"].Content == nil {
		t.Fatalf("GET /status in the OpenAPI document: %+v", op)
	}
}
