// Package clientip finds the address of the client behind a request: the
// peer's own, or, when the peer is a trusted proxy (TRUSTED_PROXIES), the
// address the proxies recorded in X-Forwarded-For. The server's middleware
// resolves it once per request and puts it in the request's context; the
// access log, the failed-authentication throttle and anything else keyed
// by client address read it there, with From.
package clientip

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Proxies are the networks whose peers are trusted to say, in
// X-Forwarded-For, whom they forward for. Empty: nobody is; the peer's
// address is the client's.
type Proxies []netip.Prefix

// ParseProxies reads a comma-separated list of CIDRs (10.0.0.0/8,
// fd00::/8); a bare address is a network of one. Its errors name the
// entry by position.
func ParseProxies(s string) (Proxies, error) {
	var p Proxies
	for i, raw := range strings.Split(s, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(raw)
		if err != nil {
			addr, aerr := netip.ParseAddr(raw)
			if aerr != nil {
				return nil, fmt.Errorf("entry %d is not a CIDR such as 10.0.0.0/8 or an IP address", i+1)
			}
			prefix = netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen())
		}
		if prefix.Addr().Is4In6() {
			return nil, fmt.Errorf("entry %d: write IPv4 networks in IPv4 form", i+1)
		}
		p = append(p, prefix.Masked())
	}
	return p, nil
}

// trusts reports whether a is the address of a trusted proxy.
func (p Proxies) trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, n := range p {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// Resolve is the client's address of a request from remoteAddr (the
// peer, "host:port") that carried the X-Forwarded-For fields forwarded
// (in order; each a comma-separated list). The peer's address, unless it
// is a trusted proxy: then the chain is read from the right, each hop
// appended by the proxy before it, and the first address that is not a
// trusted proxy is the client (the rightmost untrusted hop: whatever lies
// left of it was written by the client and may be forged). A chain of
// trusted proxies only is the leftmost; an entry that is not an address
// stops the walk at the last proxy that was read.
func (p Proxies) Resolve(remoteAddr string, forwarded []string) netip.Addr {
	peer := hostAddr(remoteAddr)
	if !peer.IsValid() || !p.trusts(peer) {
		return peer
	}
	var hops []string
	for _, f := range forwarded {
		hops = append(hops, strings.Split(f, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a := hostAddr(strings.TrimSpace(hops[i]))
		if !a.IsValid() {
			return client
		}
		client = a
		if !p.trusts(a) {
			return a
		}
	}
	return client
}

// hostAddr is the address of "host:port", "[v6]:port" or a bare
// address, without zone and with IPv4-mapped IPv6 unmapped; the zero
// Addr when s holds none.
func hostAddr(s string) netip.Addr {
	host := s
	if h, _, err := net.SplitHostPort(s); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	if err != nil {
		return netip.Addr{}
	}
	return a.WithZone("").Unmap()
}

type key struct{}

// With puts the client's address of a request in its context.
func With(ctx context.Context, a netip.Addr) context.Context {
	return context.WithValue(ctx, key{}, a)
}

// From is the client's address of ctx's request as the server resolved
// it, or, for a request that did not pass the server's middleware (a
// handler under test), the host of remoteAddr, its peer (kept whole when
// it holds no address). This is the one function through which the
// service learns who its client is.
func From(ctx context.Context, remoteAddr string) string {
	if a, ok := ctx.Value(key{}).(netip.Addr); ok && a.IsValid() {
		return a.String()
	}
	if a := hostAddr(remoteAddr); a.IsValid() {
		return a.String()
	}
	return remoteAddr
}
