package api_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestTextEveryDatabaseStores: a NUL in a key's customer or notes answered
// 500 on PostgreSQL (SQLite stored it), and an Idempotency-Key of bytes that
// are not UTF-8 answered 503 "retry shortly" there, so a client following
// the advice retried for ever. Text is now checked once, at the edge: both
// databases answer the same 422, with a stable code.
func TestTextEveryDatabaseStores(t *testing.T) {
	t.Parallel()
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			tb := setup(t, options{noWorkers: true, postgres: db == "postgres"})
			refused := func(what string, r *http.Response, pb problemBody, field string) {
				t.Helper()
				if r.StatusCode != 422 || pb.Code != "invalid_request" || !strings.Contains(pb.Detail, field) {
					t.Errorf("%s: %d %q %q, want 422 invalid_request naming %s", what, r.StatusCode, pb.Code, pb.Detail, field)
				}
			}
			for name, body := range map[string]map[string]any{
				"NUL in the customer":     {"customer": "acme\x00corp"},
				"newline in the customer": {"customer": "acme\ncorp"},
				"escape in the notes":     {"customer": "acme", "notes": "\x1b[2J"},
				"NUL in the notes":        {"customer": "acme", "notes": "a\x00b"},
				"customer too long":       {"customer": strings.Repeat("é", 201)},
			} {
				var pb problemBody
				field := "customer"
				if _, ok := body["notes"]; ok {
					field = "notes"
				}
				refused(name, tb.json(t, http.MethodPost, "/admin/keys", keyA, body, &pb), pb, field)
			}
			var c createdKey
			if r := tb.json(t, http.MethodPost, "/admin/keys", keyA, map[string]any{"customer": "Société ✨", "notes": "line one\n\tline two"}, &c); r.StatusCode != 201 {
				t.Fatalf("good text: %d", r.StatusCode)
			}
			var pb problemBody
			refused("PATCH with a NUL", tb.json(t, http.MethodPatch, "/admin/keys/"+c.Record.ID, keyA, map[string]any{"notes": "x\x00"}, &pb), pb, "notes")
			for name, key := range map[string]string{"not UTF-8": "\xff\xfe-order", "not ASCII": "commande-été", "a tab": "a\tb"} {
				body, ct := multipartBody(t, portrait, speech)
				var pb problemBody
				r := tb.call(t, http.MethodPost, "/generate", keyA, body, ct, &pb, "Idempotency-Key", key)
				refused("Idempotency-Key "+name, r, pb, "Idempotency-Key")
			}
		})
	}
}
