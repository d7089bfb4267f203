package netguard_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/avatar-api/avatar-api/internal/netguard"
)

// publicAddr stands for a customer's server: a public address (once
// example.com's), never dialled by these tests.
const publicAddr = "93.184.215.14"

func testZone() map[string][]string {
	return map[string][]string{
		"example.com":        {publicAddr, "2606:2800:21f:cb07:6820:80da:af6b:8b2c"},
		"public4.test":       {publicAddr},
		"loop.test":          {"127.0.0.1"},
		"loop6.test":         {"::1"},
		"private.test":       {"10.1.2.3"},
		"metadata.test":      {"169.254.169.254"},
		"mixed.test":         {publicAddr, "192.168.1.1"},
		"mixed6.test":        {publicAddr, "fd00::1"},
		"mapped.test":        {"::ffff:127.0.0.1"},
		"nat64.test":         {"64:ff9b::a00:1"},
		"empty.test":         {},
		"cgnat.test":         {"100.64.0.1"},
		"benchmark.test":     {"198.18.0.1"},
		"sixtofour.test":     {"2002:7f00:1::1"},
		"localhost.evil.com": {publicAddr},
	}
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	g := &netguard.Guard{Resolver: dnsServer(t, zone(testZone()))}

	refused := []struct {
		url  string
		want error
	}{
		// Form.
		{"ftp://example.com/hook", netguard.ErrForbiddenURL},
		{"file:///etc/passwd", netguard.ErrForbiddenURL},
		{"gopher://example.com/", netguard.ErrForbiddenURL},
		{"example.com/hook", netguard.ErrForbiddenURL},
		{"http:///hook", netguard.ErrForbiddenURL},
		{"http://:80/hook", netguard.ErrForbiddenURL},
		{"https://user:secret@example.com/hook", netguard.ErrForbiddenURL},
		{"https://user@example.com/hook", netguard.ErrForbiddenURL},
		{"https://@example.com/hook", netguard.ErrForbiddenURL},
		{"https://example.com:0/hook", netguard.ErrForbiddenURL},
		{"https://example.com:65536/hook", netguard.ErrForbiddenURL},
		{"https://example.com:99999999999999999999/hook", netguard.ErrForbiddenURL},
		{"http://[fe80::1%25eth0]/", netguard.ErrForbiddenURL},
		{"http://[2606:2800:21f:cb07::1%25eth0]/", netguard.ErrForbiddenURL},
		{"http://[::1/", netguard.ErrForbiddenURL},
		{"http://%zz/", netguard.ErrForbiddenURL},
		{"http://１２７.０.０.１/", netguard.ErrForbiddenURL},
		{"http://ｌｏｃａｌｈｏｓｔ/", netguard.ErrForbiddenURL},
		{"http://1.2.3.4.5/", netguard.ErrForbiddenURL},
		{"http://256.0.0.1/", netguard.ErrForbiddenURL},
		{"http://1.2.3.256/", netguard.ErrForbiddenURL},
		{"http://127.0.0.08/", netguard.ErrForbiddenURL},
		{"http://0x1g.0.0.1/", netguard.ErrForbiddenURL},
		{"http://example.123/", netguard.ErrForbiddenURL},
		{"http://4294967296/", netguard.ErrForbiddenURL},
		{"http://%31%32%37.0.0.1/", netguard.ErrForbiddenURL},

		// Loopback, however spelled.
		{"http://127.0.0.1/", netguard.ErrForbiddenAddress},
		{"http://127.0.0.1:8080/hook", netguard.ErrForbiddenAddress},
		{"http://127.255.255.254/", netguard.ErrForbiddenAddress},
		{"http://127.0.0.1./", netguard.ErrForbiddenAddress},
		{"http://127.1/", netguard.ErrForbiddenAddress},
		{"http://127.0.1/", netguard.ErrForbiddenAddress},
		{"http://0x7f.1/", netguard.ErrForbiddenAddress},
		{"http://0X7F.0.0.1/", netguard.ErrForbiddenAddress},
		{"http://0x7f000001/", netguard.ErrForbiddenAddress},
		{"http://2130706433/", netguard.ErrForbiddenAddress},
		{"http://017700000001/", netguard.ErrForbiddenAddress},
		{"http://0177.0.0.1/", netguard.ErrForbiddenAddress},
		{"http://0177.0x0.00.1./", netguard.ErrForbiddenAddress},
		{"http://0x7f.0.1/", netguard.ErrForbiddenAddress},
		{"http://[::1]/", netguard.ErrForbiddenAddress},
		{"http://[::1]:8080/", netguard.ErrForbiddenAddress},
		{"http://[0:0:0:0:0:0:0:1]/", netguard.ErrForbiddenAddress},
		{"http://[::ffff:127.0.0.1]/", netguard.ErrForbiddenAddress},
		{"http://[::ffff:7f00:1]/", netguard.ErrForbiddenAddress},
		{"http://[0:0:0:0:0:ffff:127.0.0.1]/", netguard.ErrForbiddenAddress},
		{"http://[::127.0.0.1]/", netguard.ErrForbiddenAddress},
		{"http://[64:ff9b::127.0.0.1]/", netguard.ErrForbiddenAddress},
		{"http://[64:ff9b::7f00:1]/", netguard.ErrForbiddenAddress},
		{"http://[2002:7f00:1::]/", netguard.ErrForbiddenAddress},
		{"http://[::ffff:0:127.0.0.1]/", netguard.ErrForbiddenAddress},
		{"http://localhost/", netguard.ErrForbiddenAddress},
		{"http://LocalHost.:8080/", netguard.ErrForbiddenAddress},
		{"http://api.localhost/", netguard.ErrForbiddenAddress},
		{"http://loop.test/", netguard.ErrForbiddenAddress},
		{"http://LOOP.test./", netguard.ErrForbiddenAddress},
		{"http://loop6.test/", netguard.ErrForbiddenAddress},
		{"http://mapped.test/", netguard.ErrForbiddenAddress},
		{"http://sixtofour.test/", netguard.ErrForbiddenAddress},

		// Other networks that are not the internet.
		{"http://0.0.0.0/", netguard.ErrForbiddenAddress},
		{"http://0/", netguard.ErrForbiddenAddress},
		{"http://0.1.2.3/", netguard.ErrForbiddenAddress},
		{"http://[::]/", netguard.ErrForbiddenAddress},
		{"http://10.0.0.1/", netguard.ErrForbiddenAddress},
		{"http://012.1/", netguard.ErrForbiddenAddress},
		{"http://172.16.0.1/", netguard.ErrForbiddenAddress},
		{"http://172.31.255.255/", netguard.ErrForbiddenAddress},
		{"http://192.168.0.1/", netguard.ErrForbiddenAddress},
		{"http://0xc0a80001/", netguard.ErrForbiddenAddress},
		{"http://[fd00::1]/", netguard.ErrForbiddenAddress},
		{"http://[fc00::1]/", netguard.ErrForbiddenAddress},
		{"http://169.254.169.254/latest/meta-data/", netguard.ErrForbiddenAddress},
		{"http://[fe80::1]/", netguard.ErrForbiddenAddress},
		{"http://[::ffff:169.254.169.254]/", netguard.ErrForbiddenAddress},
		{"http://[64:ff9b::a9fe:a9fe]/", netguard.ErrForbiddenAddress},
		{"http://[2002:a9fe:a9fe::1]/", netguard.ErrForbiddenAddress},
		{"http://224.0.0.1/", netguard.ErrForbiddenAddress},
		{"http://239.255.255.250/", netguard.ErrForbiddenAddress},
		{"http://[ff02::1]/", netguard.ErrForbiddenAddress},
		{"http://100.64.0.1/", netguard.ErrForbiddenAddress},
		{"http://100.127.255.254/", netguard.ErrForbiddenAddress},
		{"http://192.0.0.8/", netguard.ErrForbiddenAddress},
		{"http://198.18.0.1/", netguard.ErrForbiddenAddress},
		{"http://198.19.255.255/", netguard.ErrForbiddenAddress},
		{"http://240.0.0.1/", netguard.ErrForbiddenAddress},
		{"http://255.255.255.255/", netguard.ErrForbiddenAddress},
		{"http://4294967295/", netguard.ErrForbiddenAddress},
		{"http://private.test/", netguard.ErrForbiddenAddress},
		{"http://metadata.test/", netguard.ErrForbiddenAddress},
		{"http://mixed.test/", netguard.ErrForbiddenAddress},
		{"http://mixed6.test/", netguard.ErrForbiddenAddress},
		{"http://nat64.test/", netguard.ErrForbiddenAddress},
		{"http://cgnat.test/", netguard.ErrForbiddenAddress},
		{"http://benchmark.test/", netguard.ErrForbiddenAddress},

		// Names that resolve to nothing.
		{"http://nosuchname.test/", netguard.ErrUnresolvable},
		{"http://empty.test/", netguard.ErrUnresolvable},
		{"http://127.0.0.1../", netguard.ErrUnresolvable}, // a name, as to a browser
	}
	for _, tt := range refused {
		err := g.CheckURL(context.Background(), tt.url)
		if !errors.Is(err, tt.want) {
			t.Errorf("CheckURL(%q) = %v, want %v", tt.url, err, tt.want)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "secret") || strings.Contains(msg, "127.0.0.1:") {
			t.Errorf("CheckURL(%q) error %q says too much", tt.url, msg)
		}
	}

	accepted := []string{
		"https://example.com/hook",
		"https://EXAMPLE.com./hook?token=abc#frag",
		"http://example.com:8080/hook",
		"https://public4.test/hook",
		"https://localhost.evil.com/",
		"http://" + publicAddr + "/hook",
		"http://0x5db8d70e/", // publicAddr as one hexadecimal number
		"http://1572394766/", // and as one decimal number
		"http://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/",
		"http://[::ffff:93.184.215.14]/",
		"http://8.8.8.8:443/",
		"http://172.32.0.1/",
		"http://100.128.0.1/",
	}
	for _, raw := range accepted {
		if err := g.CheckURL(context.Background(), raw); err != nil {
			t.Errorf("CheckURL(%q) = %v, want nil", raw, err)
		}
	}
}

func TestCheckURLMessages(t *testing.T) {
	t.Parallel()
	g := &netguard.Guard{Resolver: dnsServer(t, zone(testZone()))}
	for raw, want := range map[string]string{
		"https://user:hunter2@example.com/": "the URL holds a user name or password",
		"ftp://example.com/":                "the URL's scheme is not http or https",
		"http://0x7f.1/":                    "the URL's host is a loopback address",
		"http://private.test/":              "the URL's host resolves to a private address",
		"http://[fe80::1]/":                 "the URL's host is a link-local address",
		"http://[::]/":                      "the URL's host is an unspecified address",
		"http://nosuchname.test/":           "the URL's host does not resolve",
		"http://h:0/":                       "the URL's port is not between 1 and 65535",
	} {
		err := g.CheckURL(context.Background(), raw)
		if err == nil || err.Error() != want {
			t.Errorf("CheckURL(%q) = %v, want %q", raw, err, want)
		}
	}
}

func TestCheckURLAllowPrivate(t *testing.T) {
	t.Parallel()
	g := &netguard.Guard{AllowPrivate: true, Resolver: dnsServer(t, zone(testZone()))}
	for _, raw := range []string{
		"http://127.0.0.1:8080/hook",
		"http://localhost/",
		"http://0x7f.1/",
		"http://[::1]/",
		"http://10.0.0.1/",
		"http://loop.test/",
		"https://example.com/hook",
	} {
		if err := g.CheckURL(context.Background(), raw); err != nil {
			t.Errorf("CheckURL(%q) with AllowPrivate = %v, want nil", raw, err)
		}
	}
	for _, raw := range []string{
		"ftp://127.0.0.1/",
		"http://user:pw@127.0.0.1/",
		"http:///hook",
		"http://127.0.0.1:0/",
		"http://[fe80::1%25eth0]/",
	} {
		if err := g.CheckURL(context.Background(), raw); !errors.Is(err, netguard.ErrForbiddenURL) {
			t.Errorf("CheckURL(%q) with AllowPrivate = %v, want ErrForbiddenURL", raw, err)
		}
	}
}
