// Package netguard keeps customer-given URLs (job-completion webhooks)
// from making the service call its own network: loopback, private,
// link-local and other non-public addresses, however they are spelled and
// whatever a name resolves to, at check time and again at connect time.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Sentinels for errors.Is; the errors themselves say why in words safe to
// show the customer.
var (
	// ErrForbiddenURL: the URL is malformed, not http(s), has no host, holds
	// a user name or password, or has a bad port or a zone id.
	ErrForbiddenURL = errors.New("URL not allowed")
	// ErrForbiddenAddress: the host is, or resolves to, or the connection
	// goes to, an address that is not public.
	ErrForbiddenAddress = errors.New("address not allowed")
	// ErrUnresolvable: the host's name resolves to no address.
	ErrUnresolvable = errors.New("host does not resolve")
)

// Resolver looks up a host's addresses; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Guard checks webhook URLs and makes the HTTP client that calls them. The
// zero Guard refuses every non-public address and uses net.DefaultResolver.
type Guard struct {
	// AllowPrivate turns the address checks off, names are not resolved,
	// for self-hosted setups whose webhooks live on their own network
	// (WEBHOOK_ALLOW_PRIVATE). Scheme, host, user info and port are still
	// checked.
	AllowPrivate bool
	// Resolver looks up host names; nil means net.DefaultResolver. A
	// *net.Resolver is also the one the Dialer uses, so that the check and
	// the connection ask the same server.
	Resolver Resolver
}

// refusal is a reason a customer may read, the sentinel it is, and, for
// the operator's log only, what the resolver said.
type refusal struct {
	reason string
	kind   error
	cause  error
}

func (r *refusal) Error() string { return r.reason }

func (r *refusal) Unwrap() []error {
	if r.cause == nil {
		return []error{r.kind}
	}
	return []error{r.kind, r.cause}
}

func badURL(reason string) error { return &refusal{reason: reason, kind: ErrForbiddenURL} }

// CheckURL returns nil if raw is an http or https URL the service may call:
// no user info, a valid port, and a host that is, and resolves only to,
// public addresses. It checks once; the Client checks each connection
// again, as a name may resolve differently by then.
func (g *Guard) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error quotes the URL, which may hold a secret.
		return badURL("the URL is not valid")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return badURL("the URL's scheme is not http or https")
	}
	if u.User != nil {
		return badURL("the URL holds a user name or password")
	}
	host := u.Hostname()
	if host == "" {
		return badURL("the URL has no host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return badURL("the URL's port is not between 1 and 65535")
		}
	}
	for _, c := range []byte(host) {
		if c >= 0x80 {
			// Clients map such names (fullwidth digits and letters among
			// them) to ASCII before dialling; the check would see another
			// host than the connection.
			return badURL("the URL's host is not ASCII; use its xn-- form")
		}
	}
	if strings.Contains(host, ":") {
		a, err := netip.ParseAddr(host)
		if err != nil {
			return badURL("the URL's host is not a valid IPv6 address")
		}
		if a.Zone() != "" {
			return badURL("the URL's host has a zone id")
		}
		return g.checkLiteral(a)
	}
	a, numeric, err := parseIPv4(host)
	if err != nil {
		return badURL("the URL's host is not a valid IPv4 address")
	}
	if numeric {
		return g.checkLiteral(a)
	}
	if g.AllowPrivate {
		return nil
	}
	return g.checkName(ctx, host)
}

func (g *Guard) checkLiteral(a netip.Addr) error {
	if g.AllowPrivate {
		return nil
	}
	if k := kind(a); k != "" {
		return &refusal{reason: fmt.Sprintf("the URL's host is %s address", article(k)), kind: ErrForbiddenAddress}
	}
	return nil
}

// checkName resolves host and refuses it if any of its addresses is not
// public: the client may connect to any of them.
func (g *Guard) checkName(ctx context.Context, host string) error {
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		// RFC 6761: such names are loopback whatever a DNS server says.
		return &refusal{reason: "the URL's host is a loopback name", kind: ErrForbiddenAddress}
	}
	var r Resolver = net.DefaultResolver
	if g.Resolver != nil {
		r = g.Resolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		// The resolver's error names the DNS server: the operator's, not
		// the customer's, business.
		return &refusal{reason: "the URL's host does not resolve", kind: ErrUnresolvable, cause: err}
	}
	for _, a := range addrs {
		if k := kind(a); k != "" {
			return &refusal{reason: fmt.Sprintf("the URL's host resolves to %s address", article(k)), kind: ErrForbiddenAddress}
		}
	}
	return nil
}

// article puts "a" or "an" before an address kind.
func article(kind string) string {
	switch kind[0] {
	case 'a', 'e', 'i', 'o', 'u':
		return "an " + kind
	}
	return "a " + kind
}
