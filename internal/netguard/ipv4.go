package netguard

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
)

// errNotIPv4 says a host that ends in a number is no IPv4 address either.
var errNotIPv4 = errors.New("not an IPv4 address")

// parseIPv4 reads host the way inet_aton and browsers do: one to four
// dot-separated parts, each decimal, octal (a leading 0) or hexadecimal
// (0x), the last part filling the bytes that remain, and one trailing dot
// allowed. ok is false when host is a name to look up: its last label is
// not a number. A host that ends in a number but does not parse is an
// error, as it is to a browser; looking it up would let a resolver that
// reads it as a number decide.
func parseIPv4(host string) (addr netip.Addr, ok bool, err error) {
	host = strings.TrimSuffix(host, ".")
	parts := strings.Split(host, ".")
	if !isNumber(parts[len(parts)-1]) {
		return netip.Addr{}, false, nil
	}
	if len(parts) > 4 {
		return netip.Addr{}, true, errNotIPv4
	}
	var v uint64
	for i, p := range parts {
		n, err := parseIPv4Part(p)
		if err != nil {
			return netip.Addr{}, true, errNotIPv4
		}
		if i < len(parts)-1 {
			if n > 0xff {
				return netip.Addr{}, true, errNotIPv4
			}
			v = v<<8 | n
			continue
		}
		rest := 8 * uint(4-i) // bits the last part fills
		if n >= 1<<rest {
			return netip.Addr{}, true, errNotIPv4
		}
		v = v<<rest | n
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true, nil
}

// parseIPv4Part reads one part: 0x hexadecimal (0x alone is 0), octal
// with a leading 0, else decimal.
func parseIPv4Part(p string) (uint64, error) {
	base := 10
	switch {
	case len(p) >= 2 && (p[:2] == "0x" || p[:2] == "0X"):
		p, base = p[2:], 16
		if p == "" {
			return 0, nil
		}
	case len(p) >= 2 && p[0] == '0':
		p, base = p[1:], 8
	}
	return strconv.ParseUint(p, base, 32)
}

// isNumber says a label is a number as the URL standard sees one: all
// decimal digits, or 0x followed by hexadecimal digits.
func isNumber(label string) bool {
	digits := "0123456789"
	if len(label) >= 2 && (label[:2] == "0x" || label[:2] == "0X") {
		label, digits = label[2:], "0123456789abcdefABCDEF"
		if label == "" {
			return true
		}
	}
	if label == "" {
		return false
	}
	for _, c := range []byte(label) {
		if strings.IndexByte(digits, c) < 0 {
			return false
		}
	}
	return true
}
