package apikey

import (
	"regexp"
	"testing"
)

func TestFormat(t *testing.T) {
	t.Parallel()
	scanner := regexp.MustCompile(`^av_live_[0-9A-Za-z]{38}$`)
	seen := map[string]bool{}
	for range 1000 {
		k := Generate()
		if !scanner.MatchString(k) || len(k) != Length || !WellFormed(k) {
			t.Fatalf("bad key %q", k)
		}
		if seen[k] {
			t.Fatal("a key repeated")
		}
		seen[k] = true
	}
	k := Generate()
	i := len(Prefix) // swap two neighbouring characters that differ
	for k[i] == k[i+1] {
		i++
	}
	swapped := k[:i] + string(k[i+1]) + string(k[i]) + k[i+2:]
	for _, bad := range []string{
		"", "av_live_", k[:len(k)-1], k + "x", "av_test_" + k[8:], k[:20] + "!" + k[21:],
		swapped,
		k[:len(k)-1] + string(alphabet[(indexOf(k[len(k)-1])+1)%62]),
	} {
		if WellFormed(bad) {
			t.Errorf("WellFormed(%q) = true", bad)
		}
	}
}

func indexOf(c byte) int {
	for i := range alphabet {
		if alphabet[i] == c {
			return i
		}
	}
	return -1
}

func TestHash(t *testing.T) {
	t.Parallel()
	k := Generate()
	once, again := Hash(k, nil), Hash(k, nil) // the same key hashes the same every time
	if once == Hash(k, []byte("pepper")) || once != again || len(once) != 64 {
		t.Fatal("hashes")
	}
	if Display(k) != k[:12] {
		t.Fatal("display")
	}
}
