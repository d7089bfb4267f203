package api

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// RequestCounter counts answered requests by status for the dashboard's
// per-minute rollups (rollup.Recorder).
type RequestCounter interface {
	// Request counts an answered request, as one of owner's when owner
	// is not "" (its key was valid).
	Request(owner string, status int)
	// Refused counts a request of owner refused by its rate limit.
	Refused(owner string)
}

// instrument counts every request: in Prometheus by route pattern, method
// and status class, with its duration, and in the per-minute rollups the
// dashboard shows — except the service's own monitoring (scrapes, the
// dashboard and its polling, health checks), which would drown the
// customers' traffic there. The route is the pattern the mux matched,
// which it leaves on the request.
func (a *api) instrument(next http.Handler) http.Handler {
	if a.Metrics == nil && a.Requests == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		who := &requestOwner{}
		r = r.WithContext(context.WithValue(r.Context(), requestOwnerKey{}, who))
		defer func() {
			v := recover()
			status := rec.status
			if v != nil && status == 0 {
				status = http.StatusInternalServerError // what the panic handler answers
			}
			if status == 0 {
				status = http.StatusOK
			}
			_, path, _ := strings.Cut(r.Pattern, " ")
			a.Metrics.ObserveRequest(path, r.Method, status, time.Since(start))
			if a.Requests != nil && !selfMonitoring(path) {
				a.Requests.Request(who.get(), status)
			}
			if v != nil {
				panic(v)
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// requestOwner is who made a request, once its key was checked: filled
// by identify, read by instrument when the answer is sent (handlers may
// run on other goroutines, an SSE stream's say).
type requestOwner struct {
	mu    sync.Mutex
	owner string
}

type requestOwnerKey struct{}

func (o *requestOwner) get() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.owner
}

// noteOwner records the owner of ctx's request for its count.
func noteOwner(ctx context.Context, owner string) {
	if o, ok := ctx.Value(requestOwnerKey{}).(*requestOwner); ok {
		o.mu.Lock()
		o.owner = owner
		o.mu.Unlock()
	}
}

// selfMonitoring reports whether a route is the service watching itself.
func selfMonitoring(path string) bool {
	switch path {
	case "/metrics", "/health", "/ready":
		return true
	}
	return path == dashboardPath || strings.HasPrefix(path, dashboardPath+"/")
}

// statusRecorder remembers the status a handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// ReadFrom keeps the real writer's copying (sendfile for the files of
// signed downloads).
func (w *statusRecorder) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return io.Copy(w.ResponseWriter, r)
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
