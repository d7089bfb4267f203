package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/avatar-api/avatar-api/internal/store/sqlite"
	"github.com/avatar-api/avatar-api/internal/store/storetest"
)

func TestStore(t *testing.T) {
	t.Parallel()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "avatar.db"), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	storetest.RunKeys(t, s)
	storetest.Run(t, s, func(t *testing.T) {
		if err := s.Driver().GetExecutor().Exec(context.Background(), "DELETE FROM river_job"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestHistory(t *testing.T) {
	t.Parallel()
	storetest.RunHistory(t, func(t *testing.T) storetest.Clocked {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "avatar.db"), 3)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestAlerts(t *testing.T) {
	t.Parallel()
	storetest.RunAlerts(t, func(t *testing.T) storetest.Clocked {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "avatar.db"), 3)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestWebhooks(t *testing.T) {
	t.Parallel()
	storetest.RunWebhooks(t, func(t *testing.T) storetest.Clocked {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "avatar.db"), 3)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "avatar.db")
	for range 2 {
		s, err := sqlite.Open(context.Background(), path, 3)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
}

func TestFilePermissions(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "avatar.db")
	s, err := sqlite.Open(context.Background(), path, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("database file mode %o, want 600", perm)
	}
}

func TestBootstrapOnce(t *testing.T) {
	t.Parallel()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "b.db"), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	storetest.RunBootstrap(t, s)
}
