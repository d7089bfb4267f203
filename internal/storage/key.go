package storage

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidKey is returned when a key could name something outside the
// store or could be read two ways: both backends reject the same keys so that
// data written to one can be moved to the other.
var ErrInvalidKey = errors.New("invalid object key")

// ValidateKey reports whether key is a clean, relative, slash-separated name.
// It rejects empty keys, absolute keys, empty, "." and ".." segments,
// backslashes, NUL and other control characters. The error wraps
// ErrInvalidKey.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if strings.HasPrefix(key, "/") {
		return fmt.Errorf("%w: absolute", ErrInvalidKey)
	}
	for _, c := range key {
		switch {
		case c == '\\':
			return fmt.Errorf("%w: contains a backslash", ErrInvalidKey)
		case c < 0x20 || c == 0x7f:
			return fmt.Errorf("%w: contains a control character", ErrInvalidKey)
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "":
			return fmt.Errorf("%w: empty path segment", ErrInvalidKey)
		case ".", "..":
			return fmt.Errorf("%w: %q segment", ErrInvalidKey, seg)
		}
	}
	return nil
}
