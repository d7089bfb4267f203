package job_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/avatar-api/avatar-api/internal/job"
	"github.com/avatar-api/avatar-api/internal/logging"
	"github.com/avatar-api/avatar-api/internal/store/sqlite"
	"github.com/avatar-api/avatar-api/internal/webhook"
)

// TestWebhookUnreadableIsUnavailable: a submission whose key's default
// webhook cannot be read, because the database is gone, is refused as
// the service's trouble (ErrUnavailable: 503 with Retry-After), not as an
// internal error. A fault test found it answering 500 when the key itself
// was still in the authentication cache.
func TestWebhookUnreadableIsUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "a.db"), 3)
	if err != nil {
		t.Fatal(err)
	}
	hooks, err := webhook.New(webhook.Options{SigningSecret: bytes.Repeat([]byte("s"), 32), Store: st})
	if err != nil {
		t.Fatal(err)
	}
	s := job.NewService(job.Deps{Store: st, Log: logging.New(&bytes.Buffer{}, slog.LevelInfo), Webhooks: hooks},
		job.Settings{Width: 512, Height: 512, FPS: 25, MaxPromptChars: 100})
	st.Close() // the database is gone
	_, _, err = s.Submit(ctx, job.Submission{Owner: "customer:acme", KeyID: "0195c3a4-0000-7000-8000-000000000001", Dir: t.TempDir()})
	if !errors.Is(err, job.ErrUnavailable) {
		t.Fatalf("Submit with the database gone: %v, want ErrUnavailable", err)
	}
}
