package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/avatar-api/avatar-api/internal/problem"
)

// CodeTooManyStreams refuses a live status stream while its key already
// holds as many open as it may.
const CodeTooManyStreams = "too_many_streams"

// StreamPolicy bounds and paces the live status streams (GET /status with
// Accept: text/event-stream). Its zero value is the defaults.
type StreamPolicy struct {
	PerKey    int           // streams one key may hold open in this process; 0: 10
	Poll      time.Duration // how often a stream reads its job; 0: 500 ms
	Heartbeat time.Duration // a comment line when nothing else was sent; 0: 15 s
}

func (p StreamPolicy) withDefaults() StreamPolicy {
	if p.PerKey <= 0 {
		p.PerKey = 10
	}
	if p.Poll <= 0 {
		p.Poll = 500 * time.Millisecond
	}
	if p.Heartbeat <= 0 {
		p.Heartbeat = 15 * time.Second
	}
	return p
}

const (
	eventStream = "text/event-stream"
	// streamRetry is what a client waits before it reconnects, in ms.
	streamRetry = 2000
	// streamWriteTimeout bounds each write of a stream: a client that
	// reads nothing for this long is gone.
	streamWriteTimeout = 30 * time.Second
)

// live makes op (GET /status) answer a client that accepts
// text/event-stream with a stream of the job's changes, and documents it.
// The stream is taken over in a middleware of the operation: it runs after
// authentication and the rate limit, which count the stream once, as the
// GET /status it is.
func (a *api) live(op huma.Operation) huma.Operation {
	op.Description += " With `Accept: text/event-stream`, the answer is a stream of server-sent events instead: " +
		"an `event: status` with the job as this operation returns it (one line of JSON) at once, then at every change " +
		"of its state or progress, until it ends; `id` is the job's revision, to resume with `Last-Event-ID`. " +
		"A resumed stream whose job has ended and changed nothing since answers 204. " +
		fmt.Sprintf("At most %d open streams per key (429 `too_many_streams`).", a.Streams.withDefaults().PerKey)
	op.Errors = append(op.Errors, http.StatusTooManyRequests)
	op.Middlewares = append(op.Middlewares, func(ctx huma.Context, next func(huma.Context)) {
		if !acceptsEvents(ctx.Header("Accept")) {
			next(ctx)
			return
		}
		a.stream(ctx, ctx.Param("job_id"))
	})
	if op.Responses == nil {
		op.Responses = map[string]*huma.Response{}
	}
	op.Responses["200"] = &huma.Response{Content: map[string]*huma.MediaType{
		"application/json": {}, // the Job, filled in by huma
		eventStream: {Schema: &huma.Schema{Type: "string",
			Description: "`event: status`, `id: <revision>`, `data: <the job as JSON>` at every change, until the job ends; `: keep-alive` comments between"}},
	}}
	return op
}

// acceptsEvents reports whether an Accept header names text/event-stream
// (not merely */*), with a quality above zero.
func acceptsEvents(accept string) bool {
	for _, r := range strings.Split(accept, ",") {
		mt, params, _ := strings.Cut(r, ";")
		if !strings.EqualFold(strings.TrimSpace(mt), eventStream) {
			continue
		}
		for _, p := range strings.Split(params, ";") {
			if k, v, _ := strings.Cut(strings.TrimSpace(p), "="); strings.EqualFold(k, "q") {
				if q, err := strconv.ParseFloat(v, 64); err == nil && q == 0 {
					return false
				}
			}
		}
		return true
	}
	return false
}

// stream answers GET /status/{id} with server-sent events: the job at
// once (unless the client resumes and nothing changed), then at every
// change of its revision (see job.Watch), until the job ends, the client
// leaves, or the server shuts down.
func (a *api) stream(hctx huma.Context, id string) {
	req, raw := humago.Unwrap(hctx)
	w := statusOf{raw, hctx}
	ctx := hctx.Context()
	policy := a.Streams.withDefaults()
	watch, err := a.Jobs.Watch(ctx, owner(ctx), id)
	if err != nil {
		a.refuse(w, req, ctx, err)
		return
	}
	seen := lastEventID(hctx.Header("Last-Event-ID"))
	r, err := watch.Read(ctx, seen)
	if err != nil {
		a.refuse(w, req, ctx, err)
		return
	}
	if r.Job == nil && r.Final {
		// Resumed after the end, with nothing new: 204 also tells a
		// browser's EventSource not to reconnect.
		w.WriteHeader(http.StatusNoContent)
		return
	}
	release, ok := a.streams.acquire(identity(ctx).KeyID, policy.PerKey)
	if !ok {
		a.refuse(w, req, ctx, problem.Newf(http.StatusTooManyRequests, CodeTooManyStreams,
			"your key already has %d status streams open, the most it may; close one, or poll GET /status", policy.PerKey).
			WithHeader("Retry-After", strconv.Itoa(streamRetry/1000)))
		return
	}
	defer release()

	s := &sse{w: raw, rc: http.NewResponseController(raw)}
	// No read deadline: a GET has no body, and the server's ReadTimeout
	// must not end a long stream (HTTP/1 in net/http already clears it
	// when it starts watching for the client's hang-up; this holds for
	// any server). Each write sets its own deadline (send), and the last
	// is cleared, for the connection's next request.
	_ = s.rc.SetReadDeadline(time.Time{})
	defer func() { _ = s.rc.SetWriteDeadline(time.Time{}) }()
	h := raw.Header()
	h.Set("Content-Type", eventStream)
	h.Set("X-Accel-Buffering", "no") // nginx: pass each event on at once
	w.WriteHeader(http.StatusOK)
	if err := s.send(fmt.Sprintf("retry: %d\n\n", streamRetry)); err != nil {
		return
	}
	shutdown := a.streams.shutdown(ctx)
	poll, beat := time.NewTicker(policy.Poll), time.NewTicker(policy.Heartbeat)
	defer poll.Stop()
	defer beat.Stop()
	for {
		if r.Job != nil {
			if err := s.event(r.Revision, a.view(r.Job)); err != nil {
				return
			}
			seen = r.Revision
			beat.Reset(policy.Heartbeat)
		}
		if r.Final {
			return // the client's EventSource reconnects, and is answered 204
		}
		r.Job = nil
		select {
		case <-ctx.Done():
			return
		case <-shutdown:
			return
		case <-beat.C:
			if err := s.send(": keep-alive\n\n"); err != nil {
				return
			}
		case <-poll.C:
			if r, err = watch.Read(ctx, seen); err != nil {
				if ctx.Err() == nil {
					a.Log.WarnContext(ctx, "live status: reading the job failed; the stream ends, the client resumes", "job_id", id, "error", err)
				}
				return
			}
		}
	}
}

// refuse answers a stream's request with the problem err makes, before
// any event was sent.
func (a *api) refuse(w http.ResponseWriter, req *http.Request, ctx context.Context, err error) {
	var p *problem.Problem
	if !errors.As(err, &p) {
		p = toProblem(ctx, a.Log, http.StatusInternalServerError, "", []error{err})
	}
	problem.Write(w, req.WithContext(ctx), p)
}

// lastEventID is the revision a resuming client saw: -1, below any
// revision, when it sends none (or one that is not ours).
func lastEventID(s string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// statusOf writes the status through huma's context, so that the
// middleware before it (the rate limit's refund) knows it.
type statusOf struct {
	http.ResponseWriter
	hctx huma.Context
}

func (w statusOf) WriteHeader(code int) { w.hctx.SetStatus(code) }

// sse writes server-sent events, each flushed at once and bounded by its
// own write deadline (never by the server's).
type sse struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

// event sends one status event: the job as GET /status shows it, on one
// line (JSON has no raw newlines).
func (s *sse) event(revision int64, v Job) error {
	var data bytes.Buffer
	enc := json.NewEncoder(&data)
	enc.SetEscapeHTML(false) // as huma writes it
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encoding job: %w", err)
	}
	return s.send(fmt.Sprintf("event: status\nid: %d\ndata: %s\n", revision, data.Bytes()))
}

func (s *sse) send(text string) error {
	if err := s.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if _, err := s.w.Write([]byte(text)); err != nil {
		return err
	}
	return s.rc.Flush()
}

// streams are the open live status streams of this process: counted per
// key, and ended when their server shuts down (http.Server.Shutdown
// waits for requests in flight, and a stream would not end by itself).
type streams struct {
	mu        sync.Mutex
	open      map[string]int
	shutdowns map[*http.Server]chan struct{}
}

// acquire takes one of key's limit streams, or reports that key holds
// them all.
func (s *streams) acquire(key string, limit int) (release func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open[key] >= limit {
		return nil, false
	}
	if s.open == nil {
		s.open = map[string]int{}
	}
	s.open[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.open[key]--; s.open[key] <= 0 {
				delete(s.open, key)
			}
		})
	}, true
}

// shutdown is closed when the server of the request in ctx shuts down
// (never, without one).
func (s *streams) shutdown(ctx context.Context) <-chan struct{} {
	srv, _ := ctx.Value(http.ServerContextKey).(*http.Server)
	if srv == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.shutdowns[srv]
	if !ok {
		if s.shutdowns == nil {
			s.shutdowns = map[*http.Server]chan struct{}{}
		}
		ch = make(chan struct{})
		s.shutdowns[srv] = ch
		srv.RegisterOnShutdown(func() { close(ch) })
	}
	return ch
}
