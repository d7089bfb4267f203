// Package text checks text that comes from outside — customer names,
// notes, prompts, idempotency keys — once, at the edge, before anything
// stores it. PostgreSQL refuses a NUL or bytes that are not UTF-8, which
// SQLite stores as they are; checked here, both databases see the same
// strings, and the client gets a clear refusal instead of a 500.
package text

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Invalid says why s is not acceptable text: bytes that are not UTF-8, or
// a control character (newlines and tabs are allowed when multiline). It
// returns "" when s is acceptable.
func Invalid(s string, multiline bool) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8 text"
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t')) {
			if multiline {
				return fmt.Sprintf("contains a control character (%U); only text, newlines and tabs are allowed", r)
			}
			return fmt.Sprintf("contains a control character (%U); only text on one line is allowed", r)
		}
	}
	return ""
}

// Check is Invalid, and also refuses text longer than maxRunes characters.
func Check(s string, maxRunes int, multiline bool) string {
	if why := Invalid(s, multiline); why != "" {
		return why
	}
	if n := utf8.RuneCountInString(s); n > maxRunes {
		return fmt.Sprintf("is %d characters long; at most %d are allowed", n, maxRunes)
	}
	return ""
}

// InvalidToken says why s is not a token of 1 to maxLen printable ASCII
// characters (space to tilde), the form of an Idempotency-Key; "" when it
// is one.
func InvalidToken(s string, maxLen int) string {
	switch {
	case s == "":
		return "is empty"
	case len(s) > maxLen:
		return fmt.Sprintf("is %d bytes long; at most %d are allowed", len(s), maxLen)
	}
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c > 0x7E {
			return fmt.Sprintf("contains the byte 0x%02X; only printable ASCII characters are allowed", c)
		}
	}
	return ""
}
