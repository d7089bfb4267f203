package storage

import (
	"net/url"
	"strings"
)

// ContentDisposition returns an "attachment" Content-Disposition header
// value suggesting filename to the browser, or "" when filename is empty.
// Both backends use it so a download is named the same wherever it is
// stored. Characters that could break out of the quoted string are replaced
// in the plain filename parameter; a name that is not plain ASCII is also
// given in full as an RFC 8187 filename* parameter.
func ContentDisposition(filename string) string {
	if filename == "" {
		return ""
	}
	ascii := true
	fallback := strings.Map(func(c rune) rune {
		switch {
		case c > 0x7e:
			ascii = false
			return '_'
		case c < 0x20, c == '"', c == '\\', c == '/':
			return '_'
		}
		return c
	}, filename)
	v := `attachment; filename="` + fallback + `"`
	if !ascii {
		v += "; filename*=UTF-8''" + strings.ReplaceAll(url.QueryEscape(filename), "+", "%20")
	}
	return v
}
