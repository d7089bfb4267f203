package netguard_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/netguard"
)

func TestClientAllowPrivateConnects(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)

	g := &netguard.Guard{AllowPrivate: true}
	if err := g.CheckURL(context.Background(), srv.URL+"/hook"); err != nil {
		t.Fatalf("CheckURL(%s) = %v", srv.URL, err)
	}
	resp, err := g.Client(5 * time.Second).Get(srv.URL + "/hook")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "ok" {
		t.Errorf("got %d %q, want 200 \"ok\"", resp.StatusCode, body)
	}
}

func TestClientRefusesLoopback(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)

	// The URL is never checked here: the dialer alone must refuse.
	_, err := (&netguard.Guard{}).Client(5 * time.Second).Get(srv.URL)
	if !errors.Is(err, netguard.ErrForbiddenAddress) {
		t.Fatalf("Get(%s) = %v, want ErrForbiddenAddress", srv.URL, err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the server got %d requests, want 0", n)
	}
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	var followed atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})
	mux.HandleFunc("/elsewhere", func(http.ResponseWriter, *http.Request) { followed.Add(1) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	resp, err := (&netguard.Guard{AllowPrivate: true}).Client(5 * time.Second).Get(srv.URL + "/hook")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/elsewhere" {
		t.Errorf("got %d Location %q, want 302 to /elsewhere", resp.StatusCode, resp.Header.Get("Location"))
	}
	if n := followed.Load(); n != 0 {
		t.Errorf("the redirect was followed %d times", n)
	}
}

func TestClientSettings(t *testing.T) {
	t.Parallel()
	c := (&netguard.Guard{}).Client(7 * time.Second)
	if c.Timeout != 7*time.Second {
		t.Errorf("Timeout = %v, want 7s", c.Timeout)
	}
	tr, ok := c.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("Transport is %T, want its own *http.Transport", c.Transport)
	}
	if tr == http.DefaultTransport || tr.Proxy != nil {
		t.Error("the transport is shared or uses a proxy: a proxy would connect unchecked")
	}
}

// TestDNSRebinding serves a name that resolves to a public address when
// the URL is checked and to 127.0.0.1 when the client connects: the
// dialer must refuse, and the listener on 127.0.0.1 must see nothing.
func TestDNSRebinding(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Addr, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c.RemoteAddr()
			c.Close()
		}
	}()

	var asked atomic.Int32
	r := dnsServer(t, func(name string, qtype uint16, n int) []netip.Addr {
		if name != "rebind.test" {
			return nil
		}
		if qtype == typeA {
			asked.Add(1)
		}
		if n == 1 {
			return []netip.Addr{netip.MustParseAddr(publicAddr)}
		}
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	})
	g := &netguard.Guard{Resolver: r}
	port := ln.Addr().(*net.TCPAddr).Port
	url := fmt.Sprintf("http://rebind.test:%d/hook", port)

	if err := g.CheckURL(context.Background(), url); err != nil {
		t.Fatalf("CheckURL on the first, public answer = %v, want nil", err)
	}
	_, err = g.Client(5 * time.Second).Get(url)
	if !errors.Is(err, netguard.ErrForbiddenAddress) {
		t.Fatalf("Get after rebinding = %v, want ErrForbiddenAddress", err)
	}
	if n := asked.Load(); n < 2 {
		t.Fatalf("the DNS server was asked %d times for A, want the dialer to ask again", n)
	}

	// Prove the listener accepts: the first connection it sees must be
	// this one, not the client's.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case from := <-accepted:
		if from.String() != c.LocalAddr().String() {
			t.Errorf("the listener accepted a connection from %s before the test's own", from)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the listener accepted nothing, not even the test's own connection")
	}
}
