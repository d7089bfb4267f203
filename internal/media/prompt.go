package media

import (
	"strings"
	"unicode/utf8"

	"github.com/avatar-api/avatar-api/internal/refusal"
	"github.com/avatar-api/avatar-api/internal/text"
)

// ValidatePrompt checks a free-text prompt and returns it trimmed of
// surrounding white space. It must be valid UTF-8 without control
// characters other than newline and tab (Windows line endings are turned
// into newlines first), and hold at most maxRunes characters after
// trimming; maxRunes <= 0 means no length limit. An empty prompt is valid.
func ValidatePrompt(s string, maxRunes int) (string, error) {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	if why := text.Invalid(s, true); why != "" {
		return "", refusal.New(CodeInvalidPrompt, "the prompt %s", why)
	}
	s = strings.TrimSpace(s)
	if n := utf8.RuneCountInString(s); maxRunes > 0 && n > maxRunes {
		return "", refusal.New(CodePromptTooLong, "the prompt is %d characters long; at most %d are allowed", n, maxRunes)
	}
	return s, nil
}
