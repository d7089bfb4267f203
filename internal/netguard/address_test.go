package netguard

import (
	"net/netip"
	"testing"
)

func TestKind(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		"127.0.0.1":                            "loopback",
		"::1":                                  "loopback",
		"::ffff:127.0.0.1":                     "loopback",
		"::127.0.0.1":                          "loopback",
		"64:ff9b::127.0.0.1":                   "loopback",
		"2002:7f00:1::":                        "loopback",
		"2001:0:4136:e378:8000:63bf:80ff:fffe": "loopback", // Teredo client 127.0.0.1
		"10.0.0.1":                             "private",
		"172.16.0.1":                           "private",
		"192.168.1.1":                          "private",
		"fc00::1":                              "private",
		"fd12:3456::1":                         "private",
		"64:ff9b::10.0.0.1":                    "private",
		"169.254.169.254":                      "link-local",
		"fe80::1":                              "link-local",
		"fe80::1%eth0":                         "link-local",
		"224.0.0.1":                            "multicast",
		"ff02::1":                              "multicast",
		"0.0.0.0":                              "unspecified",
		"::":                                   "unspecified",
		"0.1.2.3":                              "reserved",
		"100.64.0.1":                           "reserved",
		"192.0.0.170":                          "reserved",
		"198.18.0.1":                           "reserved",
		"240.0.0.1":                            "reserved",
		"255.255.255.255":                      "reserved",
		"fec0::1":                              "reserved",
		"64:ff9b:1::1":                         "reserved",
		"93.184.215.14":                        "",
		"8.8.8.8":                              "",
		"::ffff:8.8.8.8":                       "",
		"64:ff9b::8.8.8.8":                     "",
		"2002:808:808::1":                      "",
		"2606:4700:4700::1111":                 "",
		"172.32.0.1":                           "",
		"100.128.0.1":                          "",
	} {
		if got := kind(netip.MustParseAddr(addr)); got != want {
			t.Errorf("kind(%s) = %q, want %q", addr, got, want)
		}
	}
	if got := kind(netip.Addr{}); got == "" {
		t.Error("the zero Addr counts as public")
	}
}

func TestParseIPv4(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]string{
		"127.0.0.1":       "127.0.0.1",
		"127.0.0.1.":      "127.0.0.1",
		"127.1":           "127.0.0.1",
		"127.0.1":         "127.0.0.1",
		"0x7f.1":          "127.0.0.1",
		"0x7f000001":      "127.0.0.1",
		"0X7F000001":      "127.0.0.1",
		"2130706433":      "127.0.0.1",
		"017700000001":    "127.0.0.1",
		"0177.0.0.1":      "127.0.0.1",
		"0177.0x0.00.0x1": "127.0.0.1",
		"0x":              "0.0.0.0",
		"0":               "0.0.0.0",
		"1.0x10000":       "1.1.0.0",
		"1.2.0xffff":      "1.2.255.255",
		"4294967295":      "255.255.255.255",
		"192.168.0.0x1":   "192.168.0.1",
	} {
		a, ok, err := parseIPv4(host)
		if err != nil || !ok || a.String() != want {
			t.Errorf("parseIPv4(%q) = %v, %v, %v, want %s", host, a, ok, err, want)
		}
	}
	for _, host := range []string{"example.com", "a1", "1.example", "0x7f.example", "localhost"} {
		if _, ok, err := parseIPv4(host); ok || err != nil {
			t.Errorf("parseIPv4(%q) = %v, %v, want a name", host, ok, err)
		}
	}
	for _, host := range []string{
		"1.2.3.4.5", "256.1.1.1", "1.256.1.1", "1.2.3.256", "1.2.65536", "1.16777216",
		"4294967296", "08", "09.1", "0x1g.1", "1..1", ".1", "1.1e1.1",
		"0x100000000", "99999999999999999999",
	} {
		if _, ok, err := parseIPv4(host); !ok || err == nil {
			t.Errorf("parseIPv4(%q) = %v, %v, want an error", host, ok, err)
		}
	}
}
