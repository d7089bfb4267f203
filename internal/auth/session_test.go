package auth

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/apikey"
	"github.com/avatar-api/avatar-api/internal/store"
	"github.com/avatar-api/avatar-api/internal/store/sqlite"
	"github.com/avatar-api/avatar-api/internal/store/sqlstore"
)

// manual is a clock that moves only when told.
type manual struct{ t time.Time }

func (m *manual) Now() time.Time          { return m.t }
func (m *manual) Advance(d time.Duration) { m.t = m.t.Add(d) }

func sessionSetup(t *testing.T) (*Sessions, *apikey.Service, *sqlstore.Store, *manual) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "a.db"), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clock := &manual{time.Now()}
	keys := NewKeys(st, nil, false, slog.New(slog.NewTextHandler(io.Discard, nil)))
	keys.TTL = 0 // every check looks the key up
	keys.SetClock(clock.Now)
	s := NewSessions(st, keys, 12*time.Hour)
	s.SetClock(clock.Now)
	return s, apikey.NewService(st, nil), st, clock
}

// TestSessions: an admin key opens a session whose token is stored only as
// a hash; a customer's key or a bad one opens none; the session ends when
// it expires, when it is closed, and when its key is revoked.
func TestSessions(t *testing.T) {
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Parallel()
	ctx := context.Background()
	s, keys, st, clock := sessionSetup(t)
	admin, err := keys.Create(ctx, apikey.CreateParams{Customer: "ops", Scopes: []string{apikey.ScopeAdmin}}, "test")
	must(t, err)
	customer, err := keys.Create(ctx, apikey.CreateParams{Customer: "acme"}, "test")
	must(t, err)

	if _, _, _, err := s.Open(ctx, customer.Key); !errors.Is(err, ErrNotOperator) {
		t.Fatalf("a customer's key opened a session: %v", err)
	}
	if _, _, _, err := s.Open(ctx, "av_live_not_a_real_key"); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("a bad key: %v", err)
	}
	token, id, expires, err := s.Open(ctx, admin.Key)
	must(t, err)
	if !strings.HasPrefix(token, "avs_") || id.Customer != "ops" || !expires.Equal(clock.Now().UTC().Truncate(time.Microsecond).Add(12*time.Hour)) {
		t.Fatalf("session %q for %+v until %s", token, id, expires)
	}
	// The database knows the token's hash, not the token.
	if _, err := st.SessionByHash(ctx, token); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the token itself is stored: %v", err)
	}
	if se, err := st.SessionByHash(ctx, sessionHash(token)); err != nil || se.KeyID != admin.Record.ID {
		t.Fatalf("the session by its hash: %+v, %v", se, err)
	}
	if got, err := s.Check(ctx, token); err != nil || got.KeyID != admin.Record.ID {
		t.Fatalf("check: %+v, %v", got, err)
	}
	clock.Advance(12*time.Hour - time.Second)
	if _, err := s.Check(ctx, token); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}
	clock.Advance(time.Second)
	if _, err := s.Check(ctx, token); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("an expired session: %v", err)
	}

	token, _, _, err = s.Open(ctx, admin.Key)
	must(t, err)
	must(t, s.Close(ctx, token))
	if _, err := s.Check(ctx, token); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("a closed session: %v", err)
	}

	token, _, _, err = s.Open(ctx, admin.Key)
	must(t, err)
	_, err = keys.Revoke(ctx, admin.Record.ID, "test")
	must(t, err)
	if _, err := s.Check(ctx, token); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("a session of a revoked key: %v", err)
	}
	for _, bad := range []string{"", "avs_unknown", strings.Repeat("x", 101)} {
		if _, err := s.Check(ctx, bad); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("token %q: %v", bad, err)
		}
	}
}
