package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/avatar-api/avatar-api/internal/storage"
)

// List walks the files below the deepest directory prefix names, calling
// fn for those whose key begins with prefix. A temporary file of a Put
// (tempPrefix) is reported Partial: once its writer is gone nothing will
// rename it into place. Directories are not objects and are not reported;
// one that cannot be read (a root-owned lost+found where the objects are a
// file system of their own) is skipped, the walk goes on, and its error is
// returned at the end.
func (s *Disk) List(ctx context.Context, prefix string, fn func(storage.Object) error) error {
	dir := "."
	if i := strings.LastIndex(prefix, "/"); i > 0 {
		dir = prefix[:i]
		if err := storage.ValidateKey(dir); err != nil {
			return fmt.Errorf("list %q: %w", prefix, err)
		}
	}
	var fnErr error
	var skipped []error
	err := fs.WalkDir(s.root.FS(), dir, func(key string, d fs.DirEntry, err error) error {
		switch {
		case errors.Is(err, fs.ErrNotExist) || isNotDir(err):
			return nil // gone while walking, or never there: nothing to list
		case err != nil && d != nil && d.IsDir() && key != dir:
			skipped = append(skipped, err)
			return fs.SkipDir
		case err != nil:
			return err
		case ctx.Err() != nil:
			return ctx.Err()
		case d.IsDir() || !d.Type().IsRegular() || !strings.HasPrefix(key, prefix):
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		obj := storage.Object{Key: key, Size: fi.Size(), ModTime: fi.ModTime(),
			Partial: strings.HasPrefix(path.Base(key), tempPrefix)}
		if err := fn(obj); err != nil {
			fnErr = err
			return fs.SkipAll
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	if err = errors.Join(err, errors.Join(skipped...)); err != nil {
		return fmt.Errorf("list %q: %w", prefix, err)
	}
	return nil
}
