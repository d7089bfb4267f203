package media

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// ValidatePrompt checks a free-text prompt and returns it trimmed of
// surrounding white space. It must be valid UTF-8 without control
// characters other than newline and tab (Windows line endings are turned
// into newlines first), and hold at most maxRunes characters after
// trimming; maxRunes <= 0 means no length limit. An empty prompt is valid.
func ValidatePrompt(s string, maxRunes int) (string, error) {
	if !utf8.ValidString(s) {
		return "", refuse(CodeInvalidPrompt, "the prompt is not valid UTF-8 text")
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return "", refuse(CodeInvalidPrompt, "the prompt contains a control character (%U); only text, newlines and tabs are allowed", r)
		}
	}
	s = strings.TrimSpace(s)
	if n := utf8.RuneCountInString(s); maxRunes > 0 && n > maxRunes {
		return "", refuse(CodePromptTooLong, "the prompt is %d characters long; at most %d are allowed", n, maxRunes)
	}
	return s, nil
}
