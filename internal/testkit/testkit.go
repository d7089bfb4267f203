// Package testkit is what the service's tests share: a log buffer that
// can be read while it is written, the fixtures in testdata/, multipart
// bodies, ffprobe's view of a video, polling for a state, and a clock
// that tests move instead of sleeping. Only tests import it.
package testkit

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Buffer collects a log (or a child process's output) that the test reads
// while it is still being written.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// WaitFor polls ok every 10 ms until it holds, and fails the test when it
// still does not after within; what names the state waited for.
func WaitFor(t testing.TB, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Fixture is the path of testdata/name at the root of the module, from
// whichever package's directory the test runs in.
func Fixture(name string) string { return filepath.Join(root(), "testdata", name) }

var root = sync.OnceValue(func() string {
	dir, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			panic("testkit: no go.mod above " + dir)
		}
	}
})
