package s3

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestExactReader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		content  string
		size     int64
		wantErr  error
		maxBytes int // most bytes that may be delivered before the error
	}{
		{"Exact", "hello world", 11, nil, 11},
		{"Empty", "", 0, nil, 0},
		{"Shorter", "hello", 11, io.ErrUnexpectedEOF, 5},
		// The last declared bytes are withheld so the upload never completes.
		{"Longer", "hello world", 5, errTooLong, 4},
		{"OneByteLonger", "hello world", 10, errTooLong, 9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, wrap := range []func(io.Reader) io.Reader{
				func(r io.Reader) io.Reader { return r },
				iotest.OneByteReader,
				iotest.DataErrReader,
			} {
				r := newExactReader(wrap(strings.NewReader(tc.content)), tc.size)
				got, err := io.ReadAll(r)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("ReadAll error = %v, want %v", err, tc.wantErr)
				}
				if len(got) > tc.maxBytes {
					t.Fatalf("delivered %d bytes, want at most %d", len(got), tc.maxBytes)
				}
				if tc.wantErr == nil && string(got) != tc.content {
					t.Fatalf("delivered %q, want %q", got, tc.content)
				}
			}
		})
	}
}
