// Package local keeps objects as files under one root directory and serves
// them through HMAC-signed, expiring URLs handled by the API itself. It is
// the embedded default backend: nothing but a writable directory is needed.
package local

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/avatar-api/avatar-api/internal/storage"
)

// MinSecretLen is the shortest signing secret New accepts, in bytes.
const MinSecretLen = 32

const (
	dirPerm  = 0o750
	filePerm = 0o640
	// tempPrefix starts the names of files being written; such a file is
	// renamed over its key once complete, or removed.
	tempPrefix = ".tmp-"
)

// Disk keeps objects as files under a root directory. All file access goes
// through an os.Root, so no key, symlink or race can reach outside it.
type Disk struct {
	root      *os.Root
	publicURL string
	secret    []byte // keys download URLs
	uploadKey []byte // keys upload URLs; derived from secret
	now       func() time.Time
}

var _ storage.Storage = (*Disk)(nil)

// New opens (creating it if needed) the directory root as a store. publicURL
// is the absolute base URL at which Handler is reachable, such as
// "https://api.example.com"; signed URLs are built on it. secret keys the
// download URLs' signatures, and a key derived from it the upload URLs'; it
// must be at least MinSecretLen bytes.
func New(root, publicURL string, secret []byte) (*Disk, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("local storage: signing secret must be at least %d bytes", MinSecretLen)
	}
	u, err := url.Parse(publicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("local storage: public URL %q must be an absolute http(s) URL without query", publicURL)
	}
	if err := os.MkdirAll(root, dirPerm); err != nil {
		return nil, fmt.Errorf("create storage root: %w", err)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("open storage root: %w", err)
	}
	return &Disk{
		root:      r,
		publicURL: strings.TrimRight(publicURL, "/"),
		secret:    append([]byte(nil), secret...),
		uploadKey: deriveUploadKey(secret),
		now:       time.Now,
	}, nil
}

// Close releases the root directory handle. The store must not be used
// afterwards.
func (s *Disk) Close() error {
	if err := s.root.Close(); err != nil {
		return fmt.Errorf("close storage root: %w", err)
	}
	return nil
}

// Put writes r to a temporary file beside the key's file, syncs it and
// renames it into place, so readers see the whole object or nothing. When
// size >= 0 the content must be exactly size bytes; a negative size means
// unknown. contentType is not stored: Handler derives the type from the
// key's extension.
func (s *Disk) Put(ctx context.Context, key string, r io.Reader, size int64, _ string) error {
	if err := storage.ValidateKey(key); err != nil {
		return fmt.Errorf("put %q: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %q: %w", key, err)
	}
	tmp, f, err := s.createTemp(path.Dir(key))
	if err != nil {
		return fmt.Errorf("put %q: %w", key, err)
	}
	if err := s.commit(ctx, tmp, f, key, r, size); err != nil {
		_ = s.root.Remove(tmp)
		s.pruneDirs(path.Dir(key))
		return fmt.Errorf("put %q: %w", key, err)
	}
	if err := s.syncDir(path.Dir(key)); err != nil {
		return fmt.Errorf("put %q: %w", key, err)
	}
	return nil
}

// commit fills the temporary file f (named tmp) from r and renames it to
// key. The caller removes tmp if it fails.
func (s *Disk) commit(ctx context.Context, tmp string, f *os.File, key string, r io.Reader, size int64) error {
	werr := writeAll(ctx, f, r, size)
	if err := f.Close(); werr == nil && err != nil {
		werr = fmt.Errorf("close temporary file: %w", err)
	}
	if werr != nil {
		return werr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.root.Rename(tmp, key); err != nil {
		return fmt.Errorf("rename into place: %w", err)
	}
	return nil
}

// createTemp creates a new, empty temporary file in dir (creating dir),
// returning its name relative to the root. A concurrent Delete may remove an
// empty dir between MkdirAll and the create, or while MkdirAll runs (which
// then finds a directory it saw exist gone: EEXIST or ENOENT), so both are
// retried.
func (s *Disk) createTemp(dir string) (string, *os.File, error) {
	var lastErr error
	for range 5 {
		if err := s.root.MkdirAll(dir, dirPerm); err != nil {
			lastErr = fmt.Errorf("create directory: %w", err)
			if errors.Is(err, fs.ErrExist) || errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return "", nil, lastErr
		}
		name := path.Join(dir, tempPrefix+rand.Text())
		f, err := s.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
		if err == nil {
			return name, f, nil
		}
		lastErr = fmt.Errorf("create temporary file: %w", err)
		if !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	return "", nil, lastErr
}

// writeAll copies r to f, stopping when ctx is done, checks the length
// against size (when size >= 0) and syncs f to disk.
func writeAll(ctx context.Context, f *os.File, r io.Reader, size int64) error {
	src := io.Reader(readerFunc(func(p []byte) (int, error) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		return r.Read(p)
	}))
	if size >= 0 {
		// One byte more than expected is enough to tell the input is too long.
		src = io.LimitReader(src, size+1)
	}
	n, err := io.Copy(f, src)
	if err != nil {
		return fmt.Errorf("write content: %w", err)
	}
	if size >= 0 && n != size {
		if n > size {
			return fmt.Errorf("content is longer than the declared %d bytes", size)
		}
		return fmt.Errorf("content is %d bytes, declared %d: %w", n, size, io.ErrUnexpectedEOF)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync content: %w", err)
	}
	return nil
}

// Open returns the object's file; storage.ErrNotFound if there is none.
func (s *Disk) Open(_ context.Context, key string) (io.ReadCloser, error) {
	f, _, err := s.openFile(key)
	if err != nil {
		return nil, fmt.Errorf("open %q: %w", key, err)
	}
	return f, nil
}

// openFile opens key as a regular file, mapping a missing file or a
// directory to storage.ErrNotFound.
func (s *Disk) openFile(key string) (*os.File, fs.FileInfo, error) {
	if err := storage.ValidateKey(key); err != nil {
		return nil, nil, err
	}
	f, err := s.root.Open(key)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || isNotDir(err) {
			return nil, nil, storage.ErrNotFound
		}
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, nil, fmt.Errorf("stat: %w", err)
	}
	if !fi.Mode().IsRegular() {
		_ = f.Close()
		return nil, nil, storage.ErrNotFound
	}
	return f, fi, nil
}

// Delete removes the object's file and then, best effort, any parent
// directories below the root that are left empty.
func (s *Disk) Delete(_ context.Context, key string) error {
	if err := storage.ValidateKey(key); err != nil {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	fi, err := s.root.Lstat(key)
	switch {
	case errors.Is(err, fs.ErrNotExist) || isNotDir(err):
		return nil
	case err != nil:
		return fmt.Errorf("delete %q: %w", key, err)
	case fi.IsDir():
		// A directory is not an object; leave whatever is below it alone.
		return nil
	}
	if err := s.root.Remove(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	s.pruneDirs(path.Dir(key))
	return nil
}

// pruneDirs removes dir and its parents below the root for as long as they
// are empty. It is best effort: Remove fails on a directory that is not
// empty, which ends the walk.
func (s *Disk) pruneDirs(dir string) {
	for ; dir != "." && dir != "/"; dir = path.Dir(dir) {
		if s.root.Remove(dir) != nil {
			return
		}
	}
}

// Ping writes, syncs and removes a small probe file in the root.
func (s *Disk) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ping local storage: %w", err)
	}
	name := tempPrefix + "ping-" + rand.Text()
	f, err := s.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return fmt.Errorf("ping local storage: create probe: %w", err)
	}
	_, werr := f.WriteString("ping")
	if werr == nil {
		werr = f.Sync()
	}
	cerr := f.Close()
	rerr := s.root.Remove(name)
	if err := errors.Join(werr, cerr, rerr); err != nil {
		return fmt.Errorf("ping local storage: write probe: %w", err)
	}
	return nil
}

// syncDir flushes dir's entries so a rename survives a crash. A directory
// already gone was emptied and removed by a concurrent Delete, which leaves
// nothing to flush.
func (s *Disk) syncDir(dir string) error {
	d, err := s.root.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open directory for sync: %w", err)
	}
	serr := d.Sync()
	cerr := d.Close()
	if err := errors.Join(serr, cerr); err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}

// readerFunc is an io.Reader made from a function.
type readerFunc func(p []byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// isNotDir reports whether err says a parent in the path is a file, which
// for a lookup means the key cannot exist.
func isNotDir(err error) bool {
	return errors.Is(err, syscall.ENOTDIR)
}
