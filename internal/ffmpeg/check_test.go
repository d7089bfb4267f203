package ffmpeg

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCheck: /ready's check of ffmpeg. A program slow to start (as on a
// machine loaded many times over) is present, not down; it is run once,
// not at every check; one that fails, or is missing, is reported at once;
// a fixed file is run again and then passes.
func TestCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	program := filepath.Join(dir, "ffmpeg")
	write := func(script string) {
		t.Helper()
		// Write a new file (a rename, as a package upgrade does), so that
		// its identity changes even within the file system's time grain.
		tmp := program + ".new"
		if err := os.WriteFile(tmp, []byte("#!/bin/sh\necho run >> '"+runs+"'\n"+script), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, program); err != nil {
			t.Fatal(err)
		}
	}
	countRuns := func() int {
		b, _ := os.ReadFile(runs)
		return strings.Count(string(b), "run")
	}
	check := func(within time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), within)
		defer cancel()
		return Check(ctx, program)
	}

	if err := check(time.Second); err == nil {
		t.Fatal("a missing program passed")
	}
	write("sleep 1\necho 'ffmpeg version 7'\n")
	if err := check(50 * time.Millisecond); err != nil {
		t.Fatalf("a program slow to start read as down: %v", err)
	}
	if err := check(10 * time.Second); err != nil { // waits for its run
		t.Fatalf("the slow program failed: %v", err)
	}
	for range 3 {
		if err := check(time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if n := countRuns(); n != 1 {
		t.Errorf("the program ran %d times for 5 checks, want once", n)
	}

	write("echo broken >&2\nexit 1 # a longer file\n")
	if err := check(10 * time.Second); err == nil {
		t.Fatal("a program that fails passed")
	}
	// A failure is not forgotten while the next run is slow.
	if err := check(50 * time.Millisecond); err == nil {
		t.Fatal("a failing program passed while its next run went on")
	}
	write("echo 'ffmpeg version 7, fixed'\n")
	if err := check(10 * time.Second); err != nil {
		t.Fatalf("the fixed program: %v", err)
	}
	if err := os.Remove(program); err != nil {
		t.Fatal(err)
	}
	if err := check(time.Second); err == nil {
		t.Fatal("a program removed passed")
	}
}
