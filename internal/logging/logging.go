// Package logging sets up the JSON logs and carries per-request and per-job
// attributes (request_id, job_id…) in the context, so every line written
// with a *Context method carries them without passing loggers around.
package logging

import (
	"context"
	"io"
	"log/slog"
	"sync"
)

type attrsKey struct{}

type requestKey struct{}

// request holds attributes learned while a request is served (who is
// calling), so that lines logged with the request's outer context — its
// access line — carry them too.
type request struct {
	mu    sync.Mutex
	attrs []slog.Attr
}

// WithRequest returns ctx able to take attributes with AddToRequest.
func WithRequest(ctx context.Context) context.Context {
	return context.WithValue(ctx, requestKey{}, &request{})
}

// AddToRequest adds attributes to every later line of ctx's request,
// including the lines of contexts derived before the call.
func AddToRequest(ctx context.Context, attrs ...slog.Attr) {
	if r, ok := ctx.Value(requestKey{}).(*request); ok {
		r.mu.Lock()
		r.attrs = append(r.attrs, attrs...)
		r.mu.Unlock()
	}
}

// With returns ctx carrying attrs, added to every log line written with it.
func With(ctx context.Context, attrs ...slog.Attr) context.Context {
	prev, _ := ctx.Value(attrsKey{}).([]slog.Attr)
	all := make([]slog.Attr, 0, len(prev)+len(attrs))
	return context.WithValue(ctx, attrsKey{}, append(append(all, prev...), attrs...))
}

// Attr returns the value of a context attribute, or "".
func Attr(ctx context.Context, key string) string {
	attrs, _ := ctx.Value(attrsKey{}).([]slog.Attr)
	for i := len(attrs) - 1; i >= 0; i-- {
		if attrs[i].Key == key {
			return attrs[i].Value.String()
		}
	}
	return ""
}

// New returns a JSON logger writing to w at level.
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(contextHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})})
}

type contextHandler struct{ slog.Handler }

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if attrs, ok := ctx.Value(attrsKey{}).([]slog.Attr); ok {
		r.AddAttrs(attrs...)
	}
	if req, ok := ctx.Value(requestKey{}).(*request); ok {
		req.mu.Lock()
		r.AddAttrs(req.attrs...)
		req.mu.Unlock()
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(attrs)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name)}
}
