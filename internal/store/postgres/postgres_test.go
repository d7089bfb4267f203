package postgres_test

import (
	"context"
	"testing"

	"github.com/avatar-api/avatar-api/internal/store/postgres"
	"github.com/avatar-api/avatar-api/internal/store/postgres/pgtest"
	"github.com/avatar-api/avatar-api/internal/store/storetest"
)

func TestStore(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	s, err := postgres.Open(context.Background(), url, 3)
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
		s, err := postgres.Open(context.Background(), pgtest.NewDatabase(t), 3)
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
		s, err := postgres.Open(context.Background(), pgtest.NewDatabase(t), 3)
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
		s, err := postgres.Open(context.Background(), pgtest.NewDatabase(t), 3)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestMigrateTwiceConcurrently(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			s, err := postgres.Open(context.Background(), url, 3)
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestBootstrapOnce(t *testing.T) {
	t.Parallel()
	s, err := postgres.Open(context.Background(), pgtest.NewDatabase(t), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	storetest.RunBootstrap(t, s)
}
