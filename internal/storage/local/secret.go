package local

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// LoadOrCreateSecret returns the URL signing secret kept in the file at path,
// creating the file with MinSecretLen random bytes (mode 0600) if it does not
// exist. It lets a deployment without a configured SIGNING_SECRET keep its
// download links valid across restarts. Creation is atomic: concurrent
// callers all end up with the same secret.
func LoadOrCreateSecret(path string) ([]byte, error) {
	secret, err := readSecret(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return secret, err
	}
	if err := createSecret(path); err != nil {
		return nil, err
	}
	return readSecret(path)
}

// LoadSecret reads the secret LoadOrCreateSecret made, never making one:
// for a command that must use the servers' own (an error wrapping
// fs.ErrNotExist when there is none yet).
func LoadSecret(path string) ([]byte, error) { return readSecret(path) }

func readSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read signing secret file: %w", err)
	}
	if len(b) < MinSecretLen {
		return nil, fmt.Errorf("signing secret file %s holds %d bytes, want at least %d", path, len(b), MinSecretLen)
	}
	return b, nil
}

// createSecret writes a fresh secret to a temporary file and hard-links it
// to path, which fails rather than replacing a secret another process wrote
// first; that case is not an error.
func createSecret(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create signing secret directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".secret-*")
	if err != nil {
		return fmt.Errorf("create signing secret file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)

	secret := make([]byte, MinSecretLen)
	_, _ = rand.Read(secret) // crypto/rand.Read never returns an error.
	_, werr := f.Write(secret)
	if werr == nil {
		werr = f.Sync()
	}
	if err := errors.Join(werr, f.Close()); err != nil {
		return fmt.Errorf("write signing secret file: %w", err)
	}
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("install signing secret file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
