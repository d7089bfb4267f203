package netguard

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// Dialer returns a dialer that refuses, just before connecting, any
// address that is not public, unless AllowPrivate is set. It checks the
// address actually dialled, after DNS, so a name that resolved to a public
// address when the URL was checked and to 127.0.0.1 now (DNS rebinding)
// does not get through.
func (g *Guard) Dialer() *net.Dialer {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	if r, ok := g.Resolver.(*net.Resolver); ok {
		d.Resolver = r
	}
	if !g.AllowPrivate {
		d.Control = refuseNonPublic
	}
	return d
}

// refuseNonPublic is a net.Dialer Control hook: address is the "ip:port"
// about to be connected.
func refuseNonPublic(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &refusal{reason: "the connection's address is not an IP address", kind: ErrForbiddenAddress}
	}
	if k := kind(ap.Addr()); k != "" {
		return &refusal{reason: fmt.Sprintf("the URL's host resolves to %s address", article(k)), kind: ErrForbiddenAddress}
	}
	return nil
}

// Client returns an HTTP client for customer URLs: it connects through
// the Dialer, never through a proxy (a proxy would connect for it,
// unchecked), never follows a redirect (a redirect is an answer, and its
// Location is an unchecked URL), and gives up after timeout, the answer
// included; zero means no limit.
func (g *Guard) Client(timeout time.Duration) *http.Client {
	// http.DefaultTransport's settings, but its own: no Proxy, and not a
	// clone, which would panic were DefaultTransport ever replaced.
	t := &http.Transport{
		DialContext:           g.Dialer().DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport:     t,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
