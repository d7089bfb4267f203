package apikey

import (
	"regexp"
	"strings"
	"testing"
)

var scanner = regexp.MustCompile(`^av_live_[0-9A-Za-z]{38}$`)

// FuzzKey checks the key format both ways. Any string WellFormed accepts
// has the shape secret scanners look for and its own checksum. A key made
// from the input's bytes as Generate makes one from random bytes is always
// well formed, and changing any one character of it, or swapping two
// neighbours that differ, always makes it ill-formed: the CRC32 checksum,
// kept whole in six base62 digits, catches every such error.
func FuzzKey(f *testing.F) {
	k := Generate()
	for _, s := range []string{"", Prefix, k, k[:len(k)-1], k + "x", "av_test_" + k[8:], k[:20] + "!" + k[21:],
		"test-key-of-customer-a-0123456789", "av_live_" + strings.Repeat("\xff", 38)} {
		f.Add(s, 10, byte('Z'))
	}
	f.Fuzz(func(t *testing.T, key string, at int, with byte) {
		if WellFormed(key) {
			if !scanner.MatchString(key) || checksum(key[:len(key)-checksumLen]) != key[len(key)-checksumLen:] {
				t.Fatalf("WellFormed(%q), but it is not a key", key)
			}
			if d := Display(key); d != key[:DisplayLen] {
				t.Fatalf("Display(%q) = %q", key, d)
			}
		}

		body := []byte(Prefix)
		for i := range randomLen {
			c := byte(i)
			if len(key) > 0 {
				c = key[i%len(key)]
			}
			body = append(body, alphabet[int(c)%len(alphabet)])
		}
		made := string(body) + checksum(string(body))
		if !WellFormed(made) || !scanner.MatchString(made) {
			t.Fatalf("made %q, which is not well formed", made)
		}
		i := len(Prefix) + int(uint(at)%uint(Length-len(Prefix)))
		if made[i] != with {
			if changed := made[:i] + string(with) + made[i+1:]; WellFormed(changed) {
				t.Fatalf("%q with %q at %d is still well formed: %q", made, with, i, changed)
			}
		}
		if j := i + 1; j < Length && made[i] != made[j] {
			if swapped := made[:i] + string(made[j]) + string(made[i]) + made[j+1:]; WellFormed(swapped) {
				t.Fatalf("%q with %d and %d swapped is still well formed", made, i, j)
			}
		}
	})
}
