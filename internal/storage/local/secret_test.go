package local

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestLoadOrCreateSecret(t *testing.T) {
	t.Parallel()

	t.Run("CreatesThenReuses", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "state", "signing.key")
		first, err := LoadOrCreateSecret(path)
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if len(first) != MinSecretLen || bytes.Equal(first, make([]byte, MinSecretLen)) {
			t.Fatalf("secret is %d bytes (%x), want %d random bytes", len(first), first, MinSecretLen)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("mode = %v, want 0600", perm)
		}
		again, err := LoadOrCreateSecret(path)
		if err != nil {
			t.Fatalf("load: %v", err)
		}
		if !bytes.Equal(first, again) {
			t.Fatal("second call returned a different secret")
		}
		entries, _ := os.ReadDir(filepath.Dir(path))
		if len(entries) != 1 {
			t.Errorf("directory holds %d entries, want only the secret file", len(entries))
		}
	})

	t.Run("ConcurrentCallersAgree", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "signing.key")
		secrets := make([][]byte, 8)
		var wg sync.WaitGroup
		for i := range secrets {
			wg.Go(func() {
				s, err := LoadOrCreateSecret(path)
				if err != nil {
					t.Error(err)
				}
				secrets[i] = s
			})
		}
		wg.Wait()
		for _, s := range secrets[1:] {
			if !bytes.Equal(s, secrets[0]) {
				t.Fatal("concurrent callers got different secrets")
			}
		}
	})

	t.Run("KeepsLongerSecret", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "signing.key")
		want := bytes.Repeat([]byte("s"), 64)
		if err := os.WriteFile(path, want, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := LoadOrCreateSecret(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("got %q, %v; want the file's content", got, err)
		}
	})

	t.Run("RejectsShortSecret", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "signing.key")
		if err := os.WriteFile(path, []byte("short"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOrCreateSecret(path); err == nil {
			t.Fatal("a 5-byte secret was accepted")
		}
	})
}
