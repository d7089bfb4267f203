package apikey

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/store/sqlite"
)

func service(t *testing.T) *Service {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "k.db"), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return NewService(st, nil)
}

// TestRotationKeepsExpiry: a successor keeps the replaced key's expiry —
// none stays none, however often the key is rotated — and an expired key
// cannot be rotated.
func TestRotationKeepsExpiry(t *testing.T) {
	t.Parallel()
	svc, ctx := service(t), context.Background()
	forever, err := svc.Create(ctx, CreateParams{Customer: "acme"}, "t")
	if err != nil {
		t.Fatal(err)
	}
	id := forever.Record.ID
	for range 2 {
		next, err := svc.Rotate(ctx, id, 24*time.Hour, "t")
		if err != nil {
			t.Fatal(err)
		}
		if next.Record.ExpiresAt != nil {
			t.Fatalf("a key without expiry got a successor expiring %s", next.Record.ExpiresAt)
		}
		id = next.Record.ID
	}
	dated, err := svc.Create(ctx, CreateParams{Customer: "acme", ExpiresIn: 90 * 24 * time.Hour}, "t")
	if err != nil {
		t.Fatal(err)
	}
	next, err := svc.Rotate(ctx, dated.Record.ID, time.Hour, "t")
	if err != nil {
		t.Fatal(err)
	}
	if next.Record.ExpiresAt == nil || !next.Record.ExpiresAt.Equal(*dated.Record.ExpiresAt) {
		t.Fatalf("successor expires %v, want %v", next.Record.ExpiresAt, dated.Record.ExpiresAt)
	}
	now := time.Now()
	svc.now = func() time.Time { return now }
	short, err := svc.Create(ctx, CreateParams{Customer: "acme", ExpiresIn: time.Second}, "t")
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(1100 * time.Millisecond) // past its expiry
	if _, err := svc.Rotate(ctx, short.Record.ID, time.Hour, "t"); !errors.Is(err, ErrExpired) {
		t.Fatalf("rotating an expired key: %v", err)
	}
}
