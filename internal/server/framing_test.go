package server

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func serve(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write(b)
	})
	s := New(ln.Addr().String(), h, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{})
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	return ln.Addr().String()
}

// send writes raw bytes to conn, a few at a time (a request head may
// arrive split anywhere), and reads one response.
func send(t *testing.T, conn net.Conn, br *bufio.Reader, raw string) *http.Response {
	t.Helper()
	for len(raw) > 0 {
		n := min(7, len(raw))
		if _, err := conn.Write([]byte(raw[:n])); err != nil {
			t.Fatal(err)
		}
		raw = raw[n:]
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestAmbiguousFramingClosesTheConnection: a request with both
// Content-Length and Transfer-Encoding was answered and its connection
// kept open; RFC 9112 says to close it (a smuggled request could follow).
func TestAmbiguousFramingClosesTheConnection(t *testing.T) {
	t.Parallel()
	addr := serve(t)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	// An ordinary request first: the connection stays open.
	if r := send(t, conn, br, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"); r.Close || r.StatusCode != 200 {
		t.Fatalf("plain request: %d, close %v", r.StatusCode, r.Close)
	}
	smuggle := "POST /b HTTP/1.1\r\nHost: x\r\ncontent-LENGTH: 4\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"5\r\nhello\r\n0\r\n\r\n"
	r := send(t, conn, br, smuggle)
	if !r.Close { // the response said Connection: close
		t.Fatalf("ambiguous request answered %d without closing (Connection %q)", r.StatusCode, r.Header.Get("Connection"))
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("the connection stayed open: %v", err)
	}
}

func TestFramingScan(t *testing.T) {
	t.Parallel()
	for head, want := range map[string]bool{
		"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n":                                        true,
		"POST / HTTP/1.1\nTransfer-Encoding: chunked\ncontent-length: 3\n\n":                                                true,
		"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nTransfer-Encoding: chunked\r\n":                                        false, // another block: a body line
		"POST / HTTP/1.1\r\nX-Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n":                                      false,
		"GET / HTTP/1.1\r\nX: " + strings.Repeat("a", 5000) + "\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n": true,
	} {
		c := &framingConn{}
		for _, b := range []byte(head) {
			c.scan([]byte{b})
		}
		if c.ambiguous.Load() != want {
			t.Errorf("%.60q: ambiguous %v, want %v", head, !want, want)
		}
	}
}
