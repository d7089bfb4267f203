// Package server runs the HTTP server: the middleware every request passes
// (request id, access log, panic recovery, security headers), timeouts, and
// graceful shutdown.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"runtime/debug"
	"time"

	"github.com/avatar-api/avatar-api/internal/logging"
	"github.com/avatar-api/avatar-api/internal/problem"
)

// Server is an HTTP server for the API handler.
type Server struct {
	http *http.Server
	log  *slog.Logger
}

// New wraps h in the common middleware and returns a server for addr.
func New(addr string, h http.Handler, log *slog.Logger) *Server {
	return &Server{
		log: log,
		http: &http.Server{
			Addr:              addr,
			Handler:           Wrap(h, log),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       10 * time.Minute, // large uploads on slow links
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
			ConnContext:       withConn,
		},
	}
}

// Wrap puts h behind the middleware every request passes: request id and
// access log, panic recovery, security headers, and closing connections
// whose framing was ambiguous.
func Wrap(h http.Handler, log *slog.Logger) http.Handler {
	return requestContext(log, recoverPanics(log, securityHeaders(closeAmbiguous(h))))
}

// Serve listens on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.http.Serve(framingListener{ln}); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving HTTP: %w", err)
	}
	return nil
}

// Shutdown stops accepting connections and waits for requests in flight.
func (s *Server) Shutdown(ctx context.Context) error { return s.http.Shutdown(ctx) }

// Close cuts off every connection at once.
func (s *Server) Close() error { return s.http.Close() }

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// requestContext gives every request an id (the client's X-Request-ID when
// it is sane, else a new one), echoes it, puts it on every log line of the
// request, and writes one access log line.
func requestContext(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !validRequestID.MatchString(id) {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-ID", id)
		ctx := logging.WithRequest(logging.With(r.Context(), slog.String("request_id", id)))
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		next.ServeHTTP(sw, r.WithContext(ctx))
		level := slog.LevelInfo
		if sw.status >= 500 {
			level = slog.LevelError
		}
		log.Log(ctx, level, "request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"bytes", sw.bytes, "duration_ms", float64(time.Since(start).Microseconds())/1000, "remote", r.RemoteAddr)
	})
}

// recoverPanics turns a panic into a 500 problem and a log line with the
// stack, instead of a dropped connection.
func recoverPanics(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(r.Context(), "panic serving request", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				problem.Write(w, r, problem.New(http.StatusInternalServerError, problem.CodeInternal, problem.InternalDetail))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
