// Package scratch gives each process a scratch directory of its own under
// a directory that processes on other machines or in other containers may
// share (DATA_DIR on a network volume), and removes those left by
// processes that are gone — only those, wherever they ran.
//
// A process cannot tell from a process id whether another container's
// process still runs (each container has its own ids; two containers'
// first process are both pid 1). So each directory holds a lock file that
// its process keeps locked (flock) while it lives: the kernel drops the
// lock when the process ends, however it ends, and a directory whose lock
// can be taken is one nobody uses.
package scratch

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// LockFile is the name of the lock file in each scratch directory.
const LockFile = ".lock"

// LegacyAge is how long a directory of an earlier release (named by a bare
// process id, with no lock file) must have been left untouched before it
// is removed, and then only when no process of that id runs here: its
// process may run in another container.
const LegacyAge = 24 * time.Hour

// Dir is a process's scratch directory, locked until Close.
type Dir struct {
	Path string
	lock *os.File
}

// Open removes the stale directories under root, then makes and locks this
// process's own: root/<host>-<pid>-<random>.
func Open(root string, log *slog.Logger) (*Dir, error) {
	if err := os.MkdirAll(root, 0o750); err != nil {
		return nil, fmt.Errorf("creating %s: %w", root, err)
	}
	clean(root, log)
	for range 10 {
		d, err := create(filepath.Join(root, instance()))
		if err == nil {
			return d, nil
		}
		if !errors.Is(err, errTaken) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("creating a scratch directory in %s: no free name after 10 tries", root)
}

// Close removes the directory and releases its lock.
func (d *Dir) Close() error {
	err := os.RemoveAll(d.Path)
	return errors.Join(err, d.lock.Close())
}

// errTaken: the new directory was claimed or removed by a cleaner; another
// name is tried.
var errTaken = errors.New("scratch directory taken")

func create(path string) (*Dir, error) {
	if err := os.Mkdir(path, 0o750); errors.Is(err, os.ErrExist) {
		return nil, errTaken
	} else if err != nil {
		return nil, fmt.Errorf("creating scratch directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(path, LockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errTaken // a cleaner removed the directory before its lock existed
	} else if err != nil {
		return nil, fmt.Errorf("creating scratch lock: %w", err)
	}
	if !tryLock(f) || !same(f, filepath.Join(path, LockFile)) {
		// A cleaner took the lock first (it removes the directory), or took
		// it, removed the directory and let go before this lock.
		f.Close()
		return nil, errTaken
	}
	return &Dir{Path: path, lock: f}, nil
}

// clean removes the directories under root whose lock can be taken, and
// the old pid-named ones whose process is surely gone.
func clean(root string, log *slog.Logger) {
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(root, e.Name())
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			if fi, err := e.Info(); err == nil && pid != os.Getpid() && !processRuns(pid) && time.Since(fi.ModTime()) > LegacyAge {
				log.Info("removing scratch files of a stopped process", "dir", path)
				_ = os.RemoveAll(path)
			}
			continue
		}
		// Opening creates the lock file if a process died before making
		// it; a process creating this directory right now then finds its
		// lock taken and picks another name.
		f, err := os.OpenFile(filepath.Join(path, LockFile), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			continue // removed meanwhile, or not ours to judge
		}
		if tryLock(f) {
			log.Info("removing scratch files of a stopped process", "dir", path)
			_ = os.RemoveAll(path)
		}
		f.Close()
	}
}

// tryLock takes an exclusive lock on f without waiting. The lock belongs
// to this open file: another open of the same file, even in this process,
// does not get it.
func tryLock(f *os.File) bool {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
}

// same reports whether path still names the open file f.
func same(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

// instance names a directory: the host (a container's hostname is its
// id) and pid for whoever reads the directory, and randomness for
// uniqueness, since neither is unique across containers.
func instance() string {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '_'
	}, host)
	if host == "" || host[0] == '.' {
		host = "host"
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

func processRuns(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
