package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Tmpfs mounts a tmpfs of size bytes on dir (created if need be), to be
// unmounted when the test ends: a small disk that fills, or that a test
// makes read-only (Remount). It needs root (or CAP_SYS_ADMIN); false, and
// nothing mounted, when mounting is not permitted here.
func Tmpfs(t testing.TB, dir string, size int64) bool {
	t.Helper()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0750", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Logf("cannot mount a tmpfs on %s (%v: %s)", dir, err, out)
		return false
	}
	t.Cleanup(func() {
		// Lazily: a file the service still holds must not keep it mounted.
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("unmounting %s: %v: %s", dir, err, out)
		}
	})
	return true
}

// Remount makes the file system mounted on dir (by Tmpfs) read-only, or
// writable again: as a disk that failed and came back, for root too,
// through any file descriptor already open on it.
func Remount(t testing.TB, dir string, readOnly bool) {
	t.Helper()
	mode := "rw"
	if readOnly {
		mode = "ro"
	}
	if out, err := exec.Command("mount", "-o", "remount,"+mode, dir).CombinedOutput(); err != nil {
		t.Fatalf("remounting %s %s: %v: %s", dir, mode, err, out)
	}
}
