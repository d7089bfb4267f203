package local

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/avatar-api/avatar-api/internal/storage"
	"github.com/avatar-api/avatar-api/internal/storage/storagetest"
)

var testSecret = bytes.Repeat([]byte("k"), MinSecretLen)

// testBundle is a store on a fresh directory, served by a real HTTP server
// at the store's public URL.
type testBundle struct {
	store *Disk
	root  string
	srv   *httptest.Server
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	return setupClock(t, time.Now)
}

// setupClock is setup for a store that reads the time from now.
func setupClock(t *testing.T, now func() time.Time) *testBundle {
	t.Helper()
	root := filepath.Join(t.TempDir(), "store")
	srv := httptest.NewUnstartedServer(nil)
	store, err := New(root, "http://"+srv.Listener.Addr().String()+"/", testSecret)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	store.now = now
	mux := http.NewServeMux()
	mux.Handle(FilesPath, store.Handler(slog.New(slog.DiscardHandler)))
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		_ = store.Close()
	})
	return &testBundle{store: store, root: root, srv: srv}
}

func TestContract(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, func(t *testing.T, now func() time.Time) storage.Storage { return setupClock(t, now).store })
}

func TestNew(t *testing.T) {
	t.Parallel()

	t.Run("ShortSecret", func(t *testing.T) {
		t.Parallel()
		secret := []byte("this-secret-is-31-bytes-long!!!")
		_, err := New(t.TempDir(), "http://localhost", secret)
		if err == nil {
			t.Fatal("New with a 31-byte secret succeeded, want an error")
		}
		if strings.Contains(err.Error(), string(secret)) {
			t.Fatalf("error reveals the secret: %v", err)
		}
	})

	t.Run("BadPublicURL", func(t *testing.T) {
		t.Parallel()
		for _, u := range []string{"", "localhost:8080", "/files", "ftp://x", "http://x/?a=b"} {
			if _, err := New(t.TempDir(), u, testSecret); err == nil {
				t.Errorf("New with public URL %q succeeded, want an error", u)
			}
		}
	})
}

func TestPutFailureLeavesNoFiles(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := io.MultiReader(strings.NewReader("partial"), iotest.ErrReader(errors.New("boom")))
	if err := b.store.Put(t.Context(), "a/b/c.bin", r, 100, ""); err == nil {
		t.Fatal("Put succeeded, want an error")
	}
	if got := listFiles(t, b.root); len(got) != 0 {
		t.Fatalf("root holds %v after a failed Put, want nothing", got)
	}

	storePut(t, b.store, "a/b/c.bin", "old")
	r = io.MultiReader(strings.NewReader("partial"), iotest.ErrReader(errors.New("boom")))
	if err := b.store.Put(t.Context(), "a/b/c.bin", r, 100, ""); err == nil {
		t.Fatal("Put over an existing file succeeded, want an error")
	}
	if got, want := listFiles(t, b.root), []string{"a/b/c.bin"}; !slices.Equal(got, want) {
		t.Fatalf("root holds %v after a failed overwrite, want %v", got, want)
	}
}

func TestPutUnknownSize(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := struct{ io.Reader }{strings.NewReader("size not given")}
	if err := b.store.Put(t.Context(), "k", r, -1, ""); err != nil {
		t.Fatalf("Put with size -1: %v", err)
	}
	if got := storeRead(t, b.store, "k"); got != "size not given" {
		t.Fatalf("Open = %q", got)
	}
}

func TestKeysStayInsideRoot(t *testing.T) {
	t.Parallel()
	b := setup(t)
	parent := filepath.Dir(b.root)
	outside := filepath.Join(parent, "outside")
	if err := os.Mkdir(outside, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("private"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A symlink inside the root must not lead out of it either.
	if err := os.Symlink(outside, filepath.Join(b.root, "link")); err != nil {
		t.Fatal(err)
	}

	for _, key := range []string{"../escape", "a/../../escape", "/tmp/escape", `..\escape`, "esc\x00ape"} {
		err := b.store.Put(t.Context(), key, strings.NewReader("x"), 1, "")
		if !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Put(%q) error = %v, want storage.ErrInvalidKey", key, err)
		}
	}
	if err := b.store.Put(t.Context(), "link/escape", strings.NewReader("x"), 1, ""); err == nil {
		t.Error("Put through a symlink leading out of the root succeeded")
	}
	if _, err := b.store.Open(t.Context(), "link/secret.txt"); err == nil {
		t.Error("Open through a symlink leading out of the root succeeded")
	}
	if err := b.store.Delete(t.Context(), "link/secret.txt"); err != nil {
		t.Logf("Delete through the symlink: %v", err)
	}

	entries, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"outside", "store"}; !slices.Equal(names, want) {
		t.Errorf("root's parent holds %v, want %v", names, want)
	}
	if got := listFiles(t, outside); !slices.Equal(got, []string{"secret.txt"}) {
		t.Errorf("outside directory holds %v, want only secret.txt", got)
	}
}

func TestDeleteRemovesEmptyParents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	storePut(t, b.store, "a/b/c/one", "1")
	storePut(t, b.store, "a/two", "2")
	if err := b.store.Delete(t.Context(), "a/b/c/one"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := os.Stat(filepath.Join(b.root, "a", "b")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a/b still exists after its last file was deleted (stat error %v)", err)
	}
	if err := b.store.Delete(t.Context(), "a/two"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	entries, err := os.ReadDir(b.root)
	if err != nil {
		t.Fatalf("root is gone or unreadable: %v", err)
	}
	if len(entries) != 0 {
		t.Fatalf("root holds %d entries, want none", len(entries))
	}
}

// TestConcurrentPutDelete puts and deletes keys sharing a directory at the
// same time: pruning the emptied directory must not break another Put.
func TestConcurrentPutDelete(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16*20)
	for i := range 16 {
		wg.Go(func() {
			key := "shared/dir/" + string(rune('a'+i))
			for range 20 {
				if err := b.store.Put(t.Context(), key, strings.NewReader("x"), 1, ""); err != nil {
					errs <- err
				}
				if err := b.store.Delete(t.Context(), key); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestPingLeavesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if err := b.store.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if got := listFiles(t, b.root); len(got) != 0 {
		t.Fatalf("root holds %v after Ping", got)
	}
}

func storePut(t *testing.T, s *Disk, key, content string) {
	t.Helper()
	if err := s.Put(t.Context(), key, strings.NewReader(content), int64(len(content)), ""); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func storeRead(t *testing.T, s *Disk, key string) string {
	t.Helper()
	rc, err := s.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return string(b)
}

// listFiles returns the slash-separated paths of all non-directories under
// dir, temporary files included.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return files
}
