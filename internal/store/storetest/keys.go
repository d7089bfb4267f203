package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/avatar-api/avatar-api/internal/store"
)

// RunKeys exercises the key store.
func RunKeys(t *testing.T, s store.KeyStore) {
	t.Helper()
	ctx := context.Background()
	newKey := func(customer string) *store.APIKey {
		return &store.APIKey{ID: uuid.NewString(), Hash: uuid.NewString() + uuid.NewString(), Display: "av_live_Ab3x",
			Customer: customer, Scopes: []string{"generate"}, RateLimit: 10, Notes: "n"}
	}
	t.Run("CreateFindUpdateRevoke", func(t *testing.T) {
		k := newKey("acme")
		exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
		k.ExpiresAt = &exp
		must(t, s.CreateKey(ctx, k, store.Audit{Action: "created", Actor: "operator"}))
		got, err := s.KeyByHash(ctx, k.Hash)
		must(t, err)
		if got.ID != k.ID || got.Customer != "acme" || len(got.Scopes) != 1 || got.RateLimit != 10 || got.CreatedBy != "operator" ||
			got.ExpiresAt == nil || !got.ExpiresAt.Equal(exp) || got.RevokedAt != nil {
			t.Fatalf("read back %+v", got)
		}
		if _, err := s.KeyByHash(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown hash: %v", err)
		}
		if err := s.CreateKey(ctx, &store.APIKey{ID: uuid.NewString(), Hash: k.Hash, Customer: "x"}, store.Audit{Action: "created", Actor: "op"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate hash: %v", err)
		}
		rl, notes := 50, "vip"
		never := time.Time{}
		up, err := s.UpdateKey(ctx, store.KeyUpdate{ID: k.ID, RateLimit: &rl, Notes: &notes, ExpiresAt: &never, Actor: "operator"})
		must(t, err)
		if up.RateLimit != 50 || up.Notes != "vip" || up.ExpiresAt != nil {
			t.Fatalf("updated %+v", up)
		}
		_, err = s.RevokeKey(ctx, store.Revocation{ID: k.ID, At: time.Now(), Actor: "operator"})
		must(t, err)
		if _, err := s.RevokeKey(ctx, store.Revocation{ID: k.ID, At: time.Now(), Actor: "operator"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("second revoke: %v", err)
		}
		got, err = s.GetKey(ctx, k.ID)
		must(t, err)
		if got.RevokedAt == nil || got.RateLimit != 50 {
			t.Fatalf("after revoke %+v", got)
		}
		events, err := s.KeyEvents(ctx, k.ID, 100)
		must(t, err)
		if len(events) != 3 || events[0].Action != "created" || events[1].Action != "updated" || events[2].Action != "revoked" || events[2].Actor != "operator" {
			t.Fatalf("events %+v", events)
		}
	})
	t.Run("Rotate", func(t *testing.T) {
		old := newKey("globex")
		must(t, s.CreateKey(ctx, old, store.Audit{Action: "created", Actor: "op"}))
		next := newKey("globex")
		grace := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
		must(t, s.RotateKey(ctx, store.Rotation{Old: old.ID, Next: next, OldExpires: grace, Actor: "op"}))
		o, err := s.GetKey(ctx, old.ID)
		must(t, err)
		n, err := s.GetKey(ctx, next.ID)
		must(t, err)
		if o.ExpiresAt == nil || !o.ExpiresAt.Equal(grace) || n.RotatedFrom != old.ID || n.Customer != "globex" {
			t.Fatalf("old %+v new %+v", o, n)
		}
		_, err = s.RevokeKey(ctx, store.Revocation{ID: old.ID, At: time.Now(), Actor: "op"})
		must(t, err)
		if err := s.RotateKey(ctx, store.Rotation{Old: old.ID, Next: newKey("globex"), OldExpires: grace, Actor: "op"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("rotating a revoked key: %v", err)
		}
	})
	t.Run("TouchCountList", func(t *testing.T) {
		k := newKey("initech")
		must(t, s.CreateKey(ctx, k, store.Audit{Action: "created", Actor: "op"}))
		at := time.Now().UTC().Truncate(time.Second)
		must(t, s.TouchKeys(ctx, map[string]time.Time{k.ID: at}))
		got, err := s.GetKey(ctx, k.ID)
		must(t, err)
		if got.LastUsedAt == nil || !got.LastUsedAt.Equal(at) {
			t.Fatalf("last used %v", got.LastUsedAt)
		}
		n, err := s.CountKeys(ctx)
		must(t, err)
		all, err := s.ListKeys(ctx)
		must(t, err)
		if n < 1 || len(all) != n {
			t.Fatalf("count %d, list %d", n, len(all))
		}
	})
}

// RunBootstrap checks that concurrent first-start bootstraps on an empty
// key table store exactly one key. s must have no keys.
func RunBootstrap(t *testing.T, s store.KeyStore) {
	t.Helper()
	ctx := context.Background()
	results := make(chan bool, 6)
	for range cap(results) {
		go func() {
			k := &store.APIKey{ID: uuid.NewString(), Hash: uuid.NewString(), Display: "av_live_Ab3x", Customer: "operator", Scopes: []string{"admin"}}
			ok, err := s.BootstrapKey(ctx, k, store.Audit{Action: "created", Actor: "bootstrap"})
			if err != nil {
				t.Error(err)
			}
			results <- ok
		}()
	}
	created := 0
	for range cap(results) {
		if <-results {
			created++
		}
	}
	n, err := s.CountKeys(ctx)
	must(t, err)
	if created != 1 || n != 1 {
		t.Fatalf("%d bootstraps created a key, %d keys stored; want exactly 1", created, n)
	}
}
