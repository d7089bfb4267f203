package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"testing"

	"github.com/avatar-api/avatar-api/internal/apikey"
	"github.com/avatar-api/avatar-api/internal/problem"
	"github.com/avatar-api/avatar-api/internal/refusal"
	"github.com/avatar-api/avatar-api/internal/webhook"
)

// TestRecordsDown: where a handler reaches the store itself (keys, webhook
// secrets and deliveries), a failure of the store is 503 with Retry-After,
// like an outage anywhere else, and an answer of its own passes unchanged.
func TestRecordsDown(t *testing.T) {
	t.Parallel()
	down := fmt.Errorf("reading key: %w", errors.New("dial tcp 127.0.0.1:5432: connect: connection refused"))
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{down, http.StatusServiceUnavailable, CodeUnavailable},
		{fmt.Errorf("getting key: %w", apikey.ErrNotFound), http.StatusNotFound, CodeNotFound},
		{apikey.ErrRevoked, http.StatusConflict, CodeKeyRevoked},
		{problem.New(http.StatusNotFound, webhook.CodeSecretMissing, "none"), http.StatusNotFound, webhook.CodeSecretMissing},
		{refusal.New(webhook.CodeGraceInvalid, "grace"), http.StatusUnprocessableEntity, webhook.CodeGraceInvalid},
	} {
		p := toProblem(context.Background(), slog.New(slog.DiscardHandler), http.StatusInternalServerError, "", []error{recordsDown(c.err)})
		if p.Status != c.status || p.Code != c.code {
			t.Errorf("%v: %d %s, want %d %s", c.err, p.Status, p.Code, c.status, c.code)
		}
		if c.status == http.StatusServiceUnavailable && p.GetHeaders().Get("Retry-After") == "" {
			t.Errorf("%v: no Retry-After", c.err)
		}
	}
	if recordsDown(nil) != nil {
		t.Error("recordsDown(nil) is not nil")
	}
}
