package s3

import (
	"errors"
	"fmt"
	"io"
)

// errTooLong reports content longer than the declared size.
var errTooLong = errors.New("content is longer than the declared size")

// exactReader passes through exactly size bytes of r and fails otherwise.
// When r holds more, the read that would deliver the last declared bytes
// fails instead, so the request body is cut short and the service discards
// it rather than storing a truncated object.
type exactReader struct {
	r    io.Reader
	size int64
	read int64
}

// exactReadSeeker is an exactReader that the SDK can rewind for a retry.
type exactReadSeeker struct {
	exactReader
	seeker io.Seeker
	start  int64
}

// newExactReader wraps r, keeping it seekable if it was. Seeking is relative
// to r's position now, which the SDK records as the start of the body.
func newExactReader(r io.Reader, size int64) io.Reader {
	er := exactReader{r: r, size: size}
	if sk, ok := r.(io.Seeker); ok {
		if start, err := sk.Seek(0, io.SeekCurrent); err == nil {
			return &exactReadSeeker{exactReader: er, seeker: sk, start: start}
		}
	}
	return &er
}

func (e *exactReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if e.read >= e.size {
		return 0, e.checkEOF()
	}
	if rem := e.size - e.read; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := e.r.Read(p)
	e.read += int64(n)
	switch {
	case errors.Is(err, io.EOF) && e.read < e.size:
		return n, fmt.Errorf("content is %d bytes, declared %d: %w", e.read, e.size, io.ErrUnexpectedEOF)
	case err != nil && !errors.Is(err, io.EOF):
		return n, err
	case e.read == e.size:
		if err := e.checkEOF(); !errors.Is(err, io.EOF) {
			return 0, err
		}
		return n, io.EOF
	}
	return n, err
}

// checkEOF returns io.EOF if r has nothing more, errTooLong if it has.
func (e *exactReader) checkEOF() error {
	var b [1]byte
	for range 100 {
		n, err := e.r.Read(b[:])
		if n > 0 {
			return errTooLong
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

func (e *exactReadSeeker) Seek(offset int64, whence int) (int64, error) {
	if whence == io.SeekStart {
		offset += e.start
	}
	pos, err := e.seeker.Seek(offset, whence)
	if err != nil {
		return 0, err
	}
	e.read = pos - e.start
	return e.read, nil
}
