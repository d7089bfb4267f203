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

// TestIDSpellings: uuid.Parse also reads urn:uuid:…, braces and 32 hex
// digits; passed on as sent, PostgreSQL refused some (503 "retry shortly"
// on a GET, 500 on the admin API) and found rows by others, where SQLite
// found nothing. Only the canonical spelling is an id now, in any case.
func TestIDSpellings(t *testing.T) {
	t.Parallel()
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			tb := setup(t, options{noWorkers: true, postgres: db == "postgres"})
			j, r := tb.submit(t, keyA, portrait, speech, prompt)
			if r.StatusCode != 202 {
				t.Fatalf("submit: %d", r.StatusCode)
			}
			hex := strings.ReplaceAll(j.ID, "-", "")
			for path, want := range map[string]int{
				"/status/" + j.ID:                      200,
				"/status/" + strings.ToUpper(j.ID):     200,
				"/status/urn:uuid:" + j.ID:             404,
				"/status/{" + j.ID + "}":               404,
				"/status/" + hex:                       404,
				"/result/urn:uuid:" + j.ID:             404,
				"/jobs?cursor=urn:uuid:" + j.ID:        422,
				"/admin/keys/urn:uuid:" + j.ID:         404,
				"/admin/keys/" + strings.ToUpper(j.ID): 404,
			} {
				var pb problemBody
				if r := tb.call(t, http.MethodGet, path, keyA, nil, "", &pb); r.StatusCode != want {
					t.Errorf("GET %s = %d %q, want %d", path, r.StatusCode, pb.Code, want)
				}
			}
			var pb problemBody
			if r := tb.call(t, http.MethodPost, "/cancel/{"+j.ID+"}", keyA, nil, "", &pb); r.StatusCode != 404 {
				t.Errorf("cancel by another spelling: %d %q", r.StatusCode, pb.Code)
			}
		})
	}
}
