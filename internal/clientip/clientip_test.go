package clientip_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/avatar-api/avatar-api/internal/clientip"
)

func TestResolve(t *testing.T) {
	t.Parallel()
	proxies, err := clientip.ParseProxies("10.0.0.0/8, 192.168.1.7, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"no proxy: the peer", "203.0.113.9:5000", nil, "203.0.113.9"},
		{"untrusted peer's forged header is ignored", "203.0.113.9:5000", []string{"198.51.100.1"}, "203.0.113.9"},
		{"trusted peer: the hop it saw", "10.1.2.3:443", []string{"198.51.100.1"}, "198.51.100.1"},
		{"trusted peer without the header: the peer", "10.1.2.3:443", nil, "10.1.2.3"},
		{"client's forged prefix is skipped", "10.1.2.3:443", []string{"1.1.1.1, 198.51.100.1"}, "198.51.100.1"},
		{"two trusted hops", "10.1.2.3:443", []string{"1.1.1.1, 198.51.100.1, 192.168.1.7"}, "198.51.100.1"},
		{"fields are one list, in order", "10.1.2.3:443", []string{"1.1.1.1", "198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"only trusted hops: the leftmost", "10.1.2.3:443", []string{"10.0.0.1, 192.168.1.7"}, "10.0.0.1"},
		{"garbage stops at the last proxy", "10.1.2.3:443", []string{"198.51.100.1, nonsense"}, "10.1.2.3"},
		{"a single address trusts that one only", "192.168.1.8:443", []string{"198.51.100.1"}, "192.168.1.8"},
		{"IPv6 peer and hops", "[fd00::1]:443", []string{"2001:db8::5"}, "2001:db8::5"},
		{"hop with a port", "10.1.2.3:443", []string{"[2001:db8::5]:1234"}, "2001:db8::5"},
		{"IPv4-mapped peer", "[::ffff:10.1.2.3]:443", []string{"198.51.100.1"}, "198.51.100.1"},
	} {
		got := proxies.Resolve(c.peer, c.xff)
		if got.String() != c.want {
			t.Errorf("%s: Resolve(%s, %q) = %s, want %s", c.name, c.peer, c.xff, got, c.want)
		}
	}
	var none clientip.Proxies
	if got := none.Resolve("10.1.2.3:443", []string{"198.51.100.1"}); got.String() != "10.1.2.3" {
		t.Errorf("no trusted proxies: %s, want the peer", got)
	}
}

func TestParseProxies(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0.1/8/2", "::ffff:10.0.0.0/104"} {
		if _, err := clientip.ParseProxies(bad); err == nil {
			t.Errorf("ParseProxies(%q) accepted", bad)
		}
	}
	p, err := clientip.ParseProxies(" ,10.1.2.3/8,")
	if err != nil || len(p) != 1 || p[0] != netip.MustParsePrefix("10.0.0.0/8") {
		t.Errorf("ParseProxies = %v, %v; want [10.0.0.0/8] (masked, blanks skipped)", p, err)
	}
}

func TestFrom(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if got := clientip.From(ctx, "203.0.113.9:5000"); got != "203.0.113.9" {
		t.Errorf("From without the middleware = %q, want the peer's host", got)
	}
	ctx = clientip.With(ctx, netip.MustParseAddr("198.51.100.1"))
	if got := clientip.From(ctx, "10.1.2.3:443"); got != "198.51.100.1" {
		t.Errorf("From = %q, want the resolved address", got)
	}
	if got := clientip.From(context.Background(), "@"); got != "@" {
		t.Errorf("From of a Unix socket's peer = %q, want it kept", got)
	}
}
