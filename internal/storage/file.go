package storage

import (
	"context"
	"fmt"
	"io"
	"os"
)

// PutFile stores the local file at path under key.
func PutFile(ctx context.Context, s Storage, key, path, contentType string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening %s for storage: %w", key, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("opening %s for storage: %w", key, err)
	}
	if err := s.Put(ctx, key, f, fi.Size(), contentType); err != nil {
		return fmt.Errorf("storing %s: %w", key, err)
	}
	return nil
}

// FetchFile copies the object at key to a new local file at path.
func FetchFile(ctx context.Context, s Storage, key, path string) error {
	r, err := s.Open(ctx, key)
	if err != nil {
		return fmt.Errorf("fetching %s: %w", key, err)
	}
	defer r.Close()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("fetching %s: %w", key, err)
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("fetching %s: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("fetching %s: %w", key, err)
	}
	return nil
}
