// Package server runs the HTTP server: the middleware every request passes
// (request id, access log, panic recovery, security headers), timeouts, and
// graceful shutdown.
package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"runtime/debug"
	"time"

	"github.com/avatar-api/avatar-api/internal/clientip"
	"github.com/avatar-api/avatar-api/internal/logging"
	"github.com/avatar-api/avatar-api/internal/problem"
)

// Server is an HTTP server for the API handler.
type Server struct {
	http *http.Server
	log  *slog.Logger
	now  func() time.Time
}

// Options are the server's settings that come from the configuration.
type Options struct {
	// Proxies may say whom they forward for (TRUSTED_PROXIES); see
	// package clientip.
	Proxies clientip.Proxies
	// HTTPS says that clients reach the service over HTTPS even where this
	// process speaks plain HTTP behind a TLS-terminating proxy
	// (PUBLIC_URL is https): every answer then carries
	// Strict-Transport-Security, as answers over TLS always do.
	HTTPS bool
	// Now is the clock of certificate reloads; nil: time.Now (tests
	// move theirs).
	Now func() time.Time
}

// The server's limits. Bodies have ReadTimeout, but an upload sets its
// own read deadlines (it may run longer on a slow link, as long as it
// keeps the minimum rate) and pushes its write deadline past them; a
// status stream clears both and sets one per event. So WriteTimeout,
// counted from the end of the request's head, bounds an ordinary answer
// and a download: a 50 MB video needs 57 KB/s.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 10 * time.Minute
	WriteTimeout      = 15 * time.Minute
	IdleTimeout       = 2 * time.Minute
	MaxHeaderBytes    = 64 << 10
)

// New wraps h in the common middleware and returns a server for addr.
func New(addr string, h http.Handler, log *slog.Logger, o Options) *Server {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	return &Server{
		log: log,
		now: now,
		http: &http.Server{
			Addr:              addr,
			Handler:           Wrap(h, log, o),
			ReadHeaderTimeout: ReadHeaderTimeout,
			ReadTimeout:       ReadTimeout,
			WriteTimeout:      WriteTimeout,
			IdleTimeout:       IdleTimeout,
			MaxHeaderBytes:    MaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
			ConnContext:       withConn,
		},
	}
}

// Wrap puts h behind the middleware every request passes: the client's
// address, request id and access log, security headers (also on the
// answer to a panic), panic recovery, and closing connections whose
// framing was ambiguous.
func Wrap(h http.Handler, log *slog.Logger, o Options) http.Handler {
	return requestContext(log, o.Proxies, securityHeaders(o.HTTPS, recoverPanics(log, closeAmbiguous(h))))
}

// Serve listens on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.http.Serve(framingListener{ln}); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving HTTP: %w", err)
	}
	return nil
}

// ServeTLS answers HTTPS (TLS 1.2 or later; HTTP/2 or HTTP/1.1) on ln
// until Shutdown, with the certificate chain and key of two PEM files,
// read again when they change (certFiles). The framing watch of Serve is
// not used: beneath TLS it would read ciphertext, and no HTTP proxy can
// sit between a client and a server that terminates TLS itself.
func (s *Server) ServeTLS(ln net.Listener, certFile, keyFile string) error {
	certs, err := loadCertFiles(certFile, keyFile, s.log, s.now)
	if err != nil {
		return err
	}
	s.http.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.get}
	if err := s.http.ServeTLS(ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving HTTPS: %w", err)
	}
	return nil
}

// Shutdown stops accepting connections and waits for requests in flight.
func (s *Server) Shutdown(ctx context.Context) error { return s.http.Shutdown(ctx) }

// Close cuts off every connection at once.
func (s *Server) Close() error { return s.http.Close() }

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// requestContext resolves the client's address (clientip), gives every
// request an id (the client's X-Request-ID when it is sane, else a new
// one), echoes it, puts it on every log line of the request, and writes
// one access log line.
func requestContext(log *slog.Logger, proxies clientip.Proxies, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client := proxies.Resolve(r.RemoteAddr, r.Header.Values("X-Forwarded-For"))
		id := r.Header.Get("X-Request-ID")
		if !validRequestID.MatchString(id) {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-ID", id)
		ctx := logging.WithRequest(logging.With(clientip.With(r.Context(), client), slog.String("request_id", id)))
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		defer func() { // also when the answer was cut off (http.ErrAbortHandler)
			accessLog(log, ctx, r, sw, start)
		}()
		next.ServeHTTP(sw, r.WithContext(ctx))
	})
}

// accessLog writes a request's access log line.
func accessLog(log *slog.Logger, ctx context.Context, r *http.Request, sw *statusWriter, start time.Time) {
	level := slog.LevelInfo
	if sw.status >= 500 {
		level = slog.LevelError
	}
	attrs := []any{"method", r.Method, "path", r.URL.Path, "status", sw.status,
		"bytes", sw.bytes, "duration_ms", float64(time.Since(start).Microseconds()) / 1000, "remote", clientip.From(ctx, r.RemoteAddr)}
	if peer := clientip.From(context.Background(), r.RemoteAddr); peer != clientip.From(ctx, r.RemoteAddr) {
		attrs = append(attrs, "proxy", peer) // the trusted proxy it came through
	}
	log.Log(ctx, level, "request", attrs...)
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
				if hw, ok := w.(*headWriter); ok && hw.done {
					// The head, maybe part of the body, has gone: a
					// problem appended now would pass for the rest of
					// the answer. Cut the connection instead, so the
					// client sees a broken answer.
					panic(http.ErrAbortHandler)
				}
				problem.Write(w, r, problem.New(http.StatusInternalServerError, problem.CodeInternal, problem.InternalDetail))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// The security headers. Pages that load scripts (/docs, /dashboard) set
// their own Content-Security-Policy, and the dashboard its own
// Referrer-Policy; every other answer is data, which no browser should
// run, frame or cache when it is someone's.
const (
	apiCSP = "default-src 'none'; frame-ancestors 'none'"
	hsts   = "max-age=63072000; includeSubDomains"
)

// securityHeaders sets the headers every answer carries, and, when its
// head is written, those a handler may have set itself: the API's content
// security policy, and no-store on an answer to a request that carried a
// credential (a key, a session cookie) when nothing set a cache policy.
func securityHeaders(https bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if https || r.TLS != nil {
			h.Set("Strict-Transport-Security", hsts)
		}
		credentials := r.Header.Get("Authorization") != "" || r.Header.Get("Cookie") != ""
		hw := &headWriter{ResponseWriter: w, finish: func(h http.Header) {
			if h.Get("Content-Security-Policy") == "" {
				h.Set("Content-Security-Policy", apiCSP)
			}
			if credentials && h.Get("Cache-Control") == "" {
				h.Set("Cache-Control", "no-store")
			}
		}}
		next.ServeHTTP(hw, r)
		hw.head() // a handler that wrote nothing: net/http sends the head now
	})
}

// headWriter calls finish on the header just before the head of the
// answer is written: at its first WriteHeader (not an informational
// 1xx), Write or Flush.
type headWriter struct {
	http.ResponseWriter
	finish func(http.Header)
	done   bool
}

func (w *headWriter) head() {
	if !w.done {
		w.done = true
		w.finish(w.ResponseWriter.Header())
	}
}

func (w *headWriter) WriteHeader(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.head()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *headWriter) Write(b []byte) (int, error) {
	w.head()
	return w.ResponseWriter.Write(b)
}

// FlushError is what http.ResponseController's Flush calls: the head
// is finished before a flush sends it.
func (w *headWriter) FlushError() error {
	w.head()
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *headWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

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
