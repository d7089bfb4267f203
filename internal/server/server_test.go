package server_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/clientip"
	"github.com/avatar-api/avatar-api/internal/server"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

// TestSecurityHeaders: every answer carries the fixed headers; the API's
// CSP and no-store only where the handler set none, no-store only for a
// request with a credential; HSTS over TLS or when PUBLIC_URL is https.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("{}")) })
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Referrer-Policy", "same-origin")
	})
	mux.HandleFunc("/flush", func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).Flush()
	})
	mux.HandleFunc("/panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	for _, c := range []struct {
		path, auth           string
		https                bool
		csp, cache, referrer string
		hsts                 bool
	}{
		{path: "/json", csp: "default-src 'none'; frame-ancestors 'none'", referrer: "no-referrer"},
		{path: "/json", auth: "Bearer k", csp: "default-src 'none'; frame-ancestors 'none'", cache: "no-store", referrer: "no-referrer"},
		{path: "/json", https: true, csp: "default-src 'none'; frame-ancestors 'none'", referrer: "no-referrer", hsts: true},
		{path: "/page", auth: "Bearer k", csp: "default-src 'self'", cache: "no-cache", referrer: "same-origin"},
		{path: "/flush", auth: "Bearer k", csp: "default-src 'none'; frame-ancestors 'none'", cache: "no-store", referrer: "no-referrer"},
		{path: "/panic", csp: "default-src 'none'; frame-ancestors 'none'", cache: "no-store", referrer: "no-referrer"},
	} {
		srv := httptest.NewServer(server.Wrap(mux, slog.New(slog.DiscardHandler), server.Options{HTTPS: c.https}))
		req, _ := http.NewRequest("GET", srv.URL+c.path, nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		srv.Close()
		h := resp.Header
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" ||
			h.Get("Cross-Origin-Opener-Policy") != "same-origin" || h.Get("X-Request-ID") == "" {
			t.Errorf("%s: fixed headers missing: %v", c.path, h)
		}
		if h.Get("Content-Security-Policy") != c.csp || h.Get("Cache-Control") != c.cache || h.Get("Referrer-Policy") != c.referrer {
			t.Errorf("%s (auth %q): CSP %q, Cache-Control %q, Referrer-Policy %q; want %q, %q, %q", c.path, c.auth,
				h.Get("Content-Security-Policy"), h.Get("Cache-Control"), h.Get("Referrer-Policy"), c.csp, c.cache, c.referrer)
		}
		if got := h.Get("Strict-Transport-Security"); (got == "max-age=63072000; includeSubDomains") != c.hsts || (got != "" && !c.hsts) {
			t.Errorf("%s (https %v): Strict-Transport-Security %q", c.path, c.https, got)
		}
	}
}

// TestPanicAfterTheHead: a handler that panics once its answer has begun
// leaves a cut connection, not a problem appended to a half-sent body
// that would pass for a whole answer; the access log still has its line.
func TestPanicAfterTheHead(t *testing.T) {
	t.Parallel()
	logs := &testkit.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	srv := httptest.NewServer(server.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("partial"))
		_ = http.NewResponseController(w).Flush()
		panic("boom")
	}), log, server.Options{}))
	resp, err := srv.Client().Get(srv.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	srv.Close()
	if err == nil || strings.Contains(string(body), "internal") {
		t.Fatalf("read %q, error %v; want the answer cut off, no problem appended", body, err)
	}
	out := logs.String()
	if !strings.Contains(out, `"msg":"request"`) || !strings.Contains(out, `"path":"/stream"`) {
		t.Fatalf("no access log line for the cut answer:\n%s", out)
	}
}

// TestClientAddress: the access log's remote and the handlers' client
// address are the peer's, unless the peer is a trusted proxy; a forged
// X-Forwarded-For from anyone else is ignored.
func TestClientAddress(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, clientip.From(r.Context(), r.RemoteAddr))
	})
	for _, c := range []struct {
		name    string
		proxies string
		xff     string
		want    string
		proxy   bool
	}{
		{"untrusted peer: header ignored", "", "198.51.100.1", "127.0.0.1", false},
		{"untrusted peer, other proxies trusted", "10.0.0.0/8", "198.51.100.1", "127.0.0.1", false},
		{"trusted peer", "127.0.0.0/8", "198.51.100.1", "198.51.100.1", true},
		{"trusted peer, forged prefix", "127.0.0.0/8", "6.6.6.6, 198.51.100.1", "198.51.100.1", true},
		{"two trusted hops", "127.0.0.0/8, 10.0.0.0/8", "6.6.6.6, 198.51.100.1, 10.2.3.4", "198.51.100.1", true},
	} {
		proxies, err := clientip.ParseProxies(c.proxies)
		if err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		srv := httptest.NewServer(server.Wrap(h, slog.New(slog.NewJSONHandler(&logs, nil)), server.Options{Proxies: proxies}))
		req, _ := http.NewRequest("GET", srv.URL, nil)
		req.Header.Set("X-Forwarded-For", c.xff)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		srv.Close()
		if string(body) != c.want {
			t.Errorf("%s: client %q, want %q", c.name, body, c.want)
		}
		var line struct{ Remote, Proxy string }
		if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
			t.Fatalf("%s: log %q: %v", c.name, logs.String(), err)
		}
		if line.Remote != c.want || (line.Proxy == "127.0.0.1") != c.proxy {
			t.Errorf("%s: access log remote %q proxy %q; want remote %q", c.name, line.Remote, line.Proxy, c.want)
		}
	}
}

// TestServeTLS: with a certificate, the server answers HTTPS (TLS 1.2
// at least, HTTP/2 offered), with HSTS; TLS 1.1 is refused.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := testkit.TLSCert(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, clientip.From(r.Context(), r.RemoteAddr))
	})
	s := server.New(ln.Addr().String(), h, slog.New(slog.DiscardHandler), server.Options{})
	errc := make(chan error, 1)
	go func() { errc <- s.ServeTLS(ln, certFile, keyFile) }()
	t.Cleanup(func() {
		_ = s.Close()
		if err := <-errc; err != nil {
			t.Errorf("ServeTLS: %v", err)
		}
	})
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true,
	}}
	resp, err := client.Get("https://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "127.0.0.1" || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 ||
		resp.Proto != "HTTP/2.0" {
		t.Errorf("HTTPS: %d %q, proto %s, TLS %+v", resp.StatusCode, body, resp.Proto, resp.TLS)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=63072000; includeSubDomains" {
		t.Errorf("HTTPS answer: Strict-Transport-Security %q", got)
	}
	old := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11},
	}}
	if resp, err := old.Get("https://" + ln.Addr().String() + "/"); err == nil {
		resp.Body.Close()
		t.Error("a TLS 1.1 client was served")
	}
}

// TestLimits: the server's limits are set, WriteTimeout leaves an
// ordinary answer more time than its body may take to read, and a head
// over MaxHeaderBytes is refused with 431.
func TestLimits(t *testing.T) {
	t.Parallel()
	if server.ReadHeaderTimeout <= 0 || server.ReadTimeout <= 0 || server.WriteTimeout <= server.ReadTimeout ||
		server.IdleTimeout <= 0 {
		t.Errorf("limits: head %s, read %s, write %s, idle %s", server.ReadHeaderTimeout, server.ReadTimeout,
			server.WriteTimeout, server.IdleTimeout)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := server.New(ln.Addr().String(), http.NotFoundHandler(), slog.New(slog.DiscardHandler), server.Options{})
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("x", server.MaxHeaderBytes+8<<10))
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a %d KiB head: %d, want 431", (server.MaxHeaderBytes+8<<10)>>10, resp.StatusCode)
	}
}

// TestCertificateRenewal: a certificate renewed in place (new files at
// the same paths) is served from the next look at the files, a minute
// later, without a restart; a broken renewal keeps the one in hand.
func TestCertificateRenewal(t *testing.T) {
	t.Parallel()
	certFile, keyFile, _ := testkit.TLSCert(t)
	renewedCert, renewedKey, _ := testkit.TLSCert(t)
	clock := &testkit.Clock{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := server.New(ln.Addr().String(), http.NotFoundHandler(), slog.New(slog.DiscardHandler), server.Options{Now: clock.Now})
	go func() { _ = s.ServeTLS(ln, certFile, keyFile) }()
	t.Cleanup(func() { _ = s.Close() })
	serial := func() string {
		t.Helper()
		// The test reads which certificate is served; it trusts neither.
		conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	first := serial()
	replace := func(from, to string, mod time.Time) {
		t.Helper()
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(to, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	// Half a renewal: the chain written, its key not yet. Kept out.
	replace(renewedCert, certFile, time.Now().Add(time.Hour))
	clock.Advance(time.Minute)
	if got := serial(); got != first {
		t.Fatalf("a chain without its key: serving %s, want the old %s", got, first)
	}
	replace(renewedKey, keyFile, time.Now().Add(2*time.Hour))
	if got := serial(); got != first {
		t.Fatalf("looked again within the minute: %s", got)
	}
	clock.Advance(time.Minute)
	if got := serial(); got == first {
		t.Fatalf("the renewed certificate is not served after a minute")
	}
}
