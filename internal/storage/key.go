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

// The longest key and the longest segment of a key, in bytes: what both
// backends can hold. S3 takes keys of up to 1024 bytes; the local disk
// makes each segment a file or directory name, at most 255 bytes on
// Linux's file systems (a longer one fails with ENAMETOOLONG, which is
// neither "not found" nor a client's mistake to the code that meets it).
const (
	MaxKeyLen     = 1024
	MaxSegmentLen = 255
)

// ValidateKey reports whether key is a clean, relative, slash-separated name.
// It rejects empty keys, absolute keys, empty, "." and ".." segments,
// backslashes, NUL and other control characters, and keys or segments
// longer than MaxKeyLen or MaxSegmentLen. The error wraps ErrInvalidKey.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidKey, MaxKeyLen)
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
		if len(seg) > MaxSegmentLen {
			return fmt.Errorf("%w: a segment longer than %d bytes", ErrInvalidKey, MaxSegmentLen)
		}
	}
	return nil
}
