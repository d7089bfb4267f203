package server

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"sync/atomic"
)

// RFC 9112 §6.1: a request with both Content-Length and Transfer-Encoding
// may be a smuggling attempt, and "the server MUST close the connection
// after responding to such a request". Go's server frames it by
// Transfer-Encoding, as the RFC allows, but keeps the connection open, and
// deletes the Content-Length field before a handler could see it. So the
// connection itself watches the request heads that pass through it, and a
// connection that carried such a request answers with Connection: close.

// framingListener wraps each accepted connection in a framingConn.
type framingListener struct{ net.Listener }

func (l framingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &framingConn{Conn: c}, nil
}

// framingConn notes whether a header block that passed through it named
// both Content-Length and Transfer-Encoding. It reads bodies as well as
// heads (it does not parse HTTP), so a body holding such lines could close
// a connection needlessly: harmless, where missing a real one is not.
type framingConn struct {
	net.Conn
	ambiguous atomic.Bool
	line      []byte // the start of the current line (enough to name a field)
	long      bool   // the current line is longer than line keeps
	length    bool   // Content-Length seen in the current block
	encoding  bool   // Transfer-Encoding seen in the current block
}

func (c *framingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.ambiguous.Load() {
		c.scan(p[:n])
	}
	return n, err
}

const fieldPrefix = len("transfer-encoding:")

// scan follows the lines of b, carrying a partial line across reads.
func (c *framingConn) scan(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		chunk := b
		if i >= 0 {
			chunk = b[:i]
		}
		if room := fieldPrefix - len(c.line); room > 0 {
			c.line = append(c.line, chunk[:min(room, len(chunk))]...)
		} else if len(chunk) > 0 {
			c.long = true
		}
		if i < 0 {
			return
		}
		c.endLine()
		b = b[i+1:]
	}
}

func (c *framingConn) endLine() {
	line := bytes.TrimRight(c.line, "\r")
	switch {
	case len(line) == 0 && !c.long: // the blank line that ends a header block
		c.length, c.encoding = false, false
	case hasFieldName(line, "content-length"):
		c.length = true
	case hasFieldName(line, "transfer-encoding"):
		c.encoding = true
	}
	if c.length && c.encoding {
		c.ambiguous.Store(true)
	}
	c.line, c.long = c.line[:0], false
}

// hasFieldName reports whether a header line names the field (case-insensitive).
func hasFieldName(line []byte, name string) bool {
	return len(line) > len(name) && line[len(name)] == ':' && bytes.EqualFold(line[:len(name)], []byte(name))
}

type connKey struct{}

// withConn puts the connection in each request's context (http.Server.ConnContext).
func withConn(ctx context.Context, c net.Conn) context.Context {
	if fc, ok := c.(*framingConn); ok {
		return context.WithValue(ctx, connKey{}, fc)
	}
	return ctx
}

// closeAmbiguous answers with Connection: close on a connection that
// carried a request with both Content-Length and Transfer-Encoding.
func closeAmbiguous(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := r.Context().Value(connKey{}).(*framingConn); ok && c.ambiguous.Load() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}
