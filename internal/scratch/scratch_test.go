package scratch

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func open(t *testing.T, root string) *Dir {
	t.Helper()
	d, err := Open(root, quiet)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

// TestTwoInstancesShareARoot: two instances (as two containers sharing
// DATA_DIR, whose pids may be equal) each keep their directory while they
// live — the lock belongs to an open file, so two opens in one process
// stand for two processes — and a directory whose process died without
// cleaning up is removed by the next instance to start.
func TestTwoInstancesShareARoot(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	a := open(t, root)
	if err := os.WriteFile(filepath.Join(a.Path, "upload"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := open(t, root)
	if a.Path == b.Path {
		t.Fatalf("both instances got %s", a.Path)
	}
	if !exists(filepath.Join(a.Path, "upload")) {
		t.Fatal("starting a second instance removed the first one's live files")
	}
	if tryLock(mustOpen(t, filepath.Join(a.Path, LockFile))) {
		t.Fatal("a live instance's lock could be taken through another open file")
	}

	a.lock.Close() // a dies (SIGKILL, OOM): its lock goes, its files stay
	c := open(t, root)
	if exists(a.Path) {
		t.Fatal("a dead instance's directory was kept")
	}
	if !exists(b.Path) || !exists(c.Path) {
		t.Fatal("a live instance's directory was removed")
	}
	if err := b.Close(); err != nil || exists(b.Path) {
		t.Fatalf("Close left %s (%v)", b.Path, err)
	}
	_ = c.Close()
}

// TestLegacyDirectoriesRemovedConservatively: a directory of an earlier
// release, named by a pid, goes only when no such process runs here and
// nothing changed in it for LegacyAge; its process may run elsewhere.
func TestLegacyDirectoriesRemovedConservatively(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	old, fresh, alive := filepath.Join(root, "999999999"), filepath.Join(root, "999999998"), filepath.Join(root, "1")
	for _, d := range []string{old, fresh, alive} {
		if err := os.Mkdir(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	long := time.Now().Add(-2 * LegacyAge)
	for _, d := range []string{old, alive} {
		if err := os.Chtimes(d, long, long); err != nil {
			t.Fatal(err)
		}
	}
	d := open(t, root)
	defer d.Close()
	if exists(old) {
		t.Error("an old directory of a process that does not run was kept")
	}
	if !exists(fresh) {
		t.Error("a recently used directory was removed: its process may run in another container")
	}
	if !exists(alive) {
		t.Error("the directory of a running pid was removed")
	}
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
