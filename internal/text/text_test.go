package text

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in        string
		max       int
		multiline bool
		bad       string // part of the reason; "" means accepted
	}{
		{"Acme Corp", 200, false, ""},
		{"Société Générale ✨", 200, false, ""},
		{"two\nlines\tand a tab", 2000, true, ""},
		{"two\nlines", 200, false, "control character (U+000A)"},
		{"a\x00b", 200, false, "U+0000"},
		{"a\x00b", 2000, true, "U+0000"},
		{"\x1b[31mred", 200, false, "U+001B"},
		{"a\u0085b", 200, false, "U+0085"},
		{"abc\xff", 200, false, "UTF-8"},
		{"\xc3\x28", 2000, true, "UTF-8"},
		{strings.Repeat("é", 201), 200, false, "201 characters"},
		{strings.Repeat("é", 200), 200, false, ""},
	}
	for _, tt := range tests {
		got := Check(tt.in, tt.max, tt.multiline)
		if (tt.bad == "") != (got == "") || !strings.Contains(got, tt.bad) {
			t.Errorf("Check(%q) = %q, want %q", tt.in, got, tt.bad)
		}
	}
}

func TestInvalidToken(t *testing.T) {
	t.Parallel()
	for in, bad := range map[string]string{
		"0193b2c4-7d1e-7a00-9c3e-5f0a1b2c3d4e": "",
		"order 42/retry#1":                     "",
		"":                                     "empty",
		"\xff\xfe":                             "0xFF",
		"tab\there":                            "0x09",
		"é":                                    "0xC3",
		strings.Repeat("k", 256):               "256 bytes",
	} {
		got := InvalidToken(in, 255)
		if (bad == "") != (got == "") || !strings.Contains(got, bad) {
			t.Errorf("InvalidToken(%q) = %q, want %q", in, got, bad)
		}
	}
}
