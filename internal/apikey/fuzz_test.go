package apikey

import (
	"regexp"
	"strings"
	"testing"
)

var scanner = regexp.MustCompile(`^av_live_[0-9A-Za-z]{38}$`)

// FuzzWellFormed checks any string against the key format: no panic, and
// a string accepted has the shape secret scanners look for and its own
// checksum.
func FuzzWellFormed(f *testing.F) {
	k := Generate()
	for _, s := range []string{"", Prefix, k, k[:len(k)-1], k + "x", "av_test_" + k[8:], k[:20] + "!" + k[21:],
		"test-key-of-customer-a-0123456789", "av_live_" + strings.Repeat("\xff", 38)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if !WellFormed(key) {
			return
		}
		if !scanner.MatchString(key) || checksum(key[:len(key)-checksumLen]) != key[len(key)-checksumLen:] {
			t.Fatalf("WellFormed(%q), but it is not a key", key)
		}
		if d := Display(key); d != key[:DisplayLen] {
			t.Fatalf("Display(%q) = %q", key, d)
		}
	})
}

// FuzzKeyRoundTrip makes keys from fuzzed random parts: a key made as
// Generate makes one is always well formed, and changing any one character
// of it, or swapping two neighbours that differ, always makes it
// ill-formed (the CRC32 checksum catches every such error).
func FuzzKeyRoundTrip(f *testing.F) {
	f.Add([]byte("0123456789abcdefghijklmnopqrstuv"), 10, byte('Z'))
	f.Add([]byte{0, 1, 2, 3}, 45, byte('a'))
	f.Add([]byte{255, 254}, 8, byte('!'))
	f.Fuzz(func(t *testing.T, random []byte, at int, with byte) {
		body := []byte(Prefix)
		for i := range randomLen {
			c := byte(i)
			if len(random) > 0 {
				c = random[i%len(random)]
			}
			body = append(body, alphabet[int(c)%len(alphabet)])
		}
		key := string(body) + checksum(string(body))
		if !WellFormed(key) || !scanner.MatchString(key) {
			t.Fatalf("made %q, which is not well formed", key)
		}
		i := len(Prefix) + int(uint(at)%uint(Length-len(Prefix)))
		if key[i] != with {
			if changed := key[:i] + string(with) + key[i+1:]; WellFormed(changed) {
				t.Fatalf("%q with %q at %d is still well formed: %q", key, with, i, changed)
			}
		}
		if j := i + 1; j < Length && key[i] != key[j] {
			if swapped := key[:i] + string(key[j]) + string(key[i]) + key[j+1:]; WellFormed(swapped) {
				t.Fatalf("%q with %d and %d swapped is still well formed", key, i, j)
			}
		}
	})
}
