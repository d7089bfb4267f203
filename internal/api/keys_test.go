package api_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/apikey"
	"github.com/avatar-api/avatar-api/internal/auth"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

type createdKey struct {
	Key    string `json:"key"`
	Record struct {
		ID        string     `json:"id"`
		Customer  string     `json:"customer"`
		Scopes    []string   `json:"scopes"`
		ExpiresAt *time.Time `json:"expires_at"`
	} `json:"record"`
}

func (tb *testBundle) json(t *testing.T, method, path, key string, body any, out any) *http.Response {
	t.Helper()
	b, _ := json.Marshal(body)
	return tb.call(t, method, path, key, strings.NewReader(string(b)), "application/json", out)
}

// refusedAfterCache reports whether key is refused once the key cache's
// lifetime has passed on clock: how long a revocation may take to reach
// a replica.
func (tb *testBundle) refusedAfterCache(t *testing.T, clock *testkit.Clock, key string) bool {
	t.Helper()
	clock.Advance(auth.CacheTTL)
	return tb.call(t, http.MethodGet, "/jobs", key, nil, "", nil).StatusCode == 401
}

func TestKeyLifecycle(t *testing.T) {
	t.Parallel()
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			clock := &testkit.Clock{}
			keyLifecycle(t, setup(t, options{noWorkers: true, postgres: db == "postgres", clock: clock}), clock)
		})
	}
}

func keyLifecycle(t *testing.T, tb *testBundle, clock *testkit.Clock) {
	admin := keyA // imported keys carry every scope

	var c createdKey
	if r := tb.json(t, http.MethodPost, "/admin/keys", admin, map[string]any{"customer": "acme", "rate_limit": 20, "notes": "pilot"}, &c); r.StatusCode != 201 {
		t.Fatalf("create: %d", r.StatusCode)
	}
	if !apikey.WellFormed(c.Key) || c.Record.Customer != "acme" || len(c.Record.Scopes) != 1 || c.Record.Scopes[0] != "generate" {
		t.Fatalf("created %+v", c)
	}
	if r := tb.call(t, http.MethodGet, "/jobs", c.Key, nil, "", nil); r.StatusCode != 200 {
		t.Fatalf("new key refused: %d", r.StatusCode)
	}
	accessLine := false
	for _, line := range strings.Split(tb.logs.String(), "\n") {
		if strings.Contains(line, `"msg":"request"`) && strings.Contains(line, `"customer":"acme"`) && strings.Contains(line, `"key_id":"`+c.Record.ID) {
			accessLine = true
		}
	}
	if !accessLine {
		t.Error("the access log line of an authenticated request lacks its key_id and customer")
	}
	var pb problemBody
	if r := tb.call(t, http.MethodGet, "/admin/keys", c.Key, nil, "", &pb); r.StatusCode != 403 || pb.Code != "forbidden" {
		t.Fatalf("a customer key on the admin API: %d %s", r.StatusCode, pb.Code)
	}
	// Another customer's jobs stay invisible: acme sees none of customer-a's.
	j, _ := tb.submit(t, keyA, portrait, speech)
	if r := tb.call(t, http.MethodGet, "/status/"+j.ID, c.Key, nil, "", &pb); r.StatusCode != 404 {
		t.Fatalf("another customer's job: %d", r.StatusCode)
	}

	// Rotation with a grace period: both keys work, then only the new one.
	var rot createdKey
	if r := tb.json(t, http.MethodPost, "/admin/keys/"+c.Record.ID+"/rotate", admin, map[string]any{"grace": "1h"}, &rot); r.StatusCode != 201 {
		t.Fatalf("rotate: %d", r.StatusCode)
	}
	for _, k := range []string{c.Key, rot.Key} {
		if r := tb.call(t, http.MethodGet, "/jobs", k, nil, "", nil); r.StatusCode != 200 {
			t.Fatalf("during the grace period a key is refused: %d", r.StatusCode)
		}
	}
	var rot2 createdKey
	if r := tb.json(t, http.MethodPost, "/admin/keys/"+rot.Record.ID+"/rotate", admin, map[string]any{"grace": "0s"}, &rot2); r.StatusCode != 201 {
		t.Fatalf("rotate without grace: %d", r.StatusCode)
	}
	if !tb.refusedAfterCache(t, clock, rot.Key) {
		t.Fatal("a key rotated without grace still works after the key cache's lifetime")
	}

	// Revocation: refused within about a second (the cache's lifetime).
	if r := tb.call(t, http.MethodGet, "/jobs", rot2.Key, nil, "", nil); r.StatusCode != 200 {
		t.Fatal("rotated key refused")
	}
	if r := tb.call(t, http.MethodPost, "/admin/keys/"+rot2.Record.ID+"/revoke", admin, nil, "", nil); r.StatusCode != 200 {
		t.Fatalf("revoke: %d", r.StatusCode)
	}
	if !tb.refusedAfterCache(t, clock, rot2.Key) {
		t.Fatal("a revoked key still works after the key cache's lifetime")
	}
	if r := tb.call(t, http.MethodPost, "/admin/keys/"+rot2.Record.ID+"/revoke", admin, nil, "", &pb); r.StatusCode != 409 || pb.Code != "key_revoked" {
		t.Fatalf("second revoke: %d %s", r.StatusCode, pb.Code)
	}

	// The audit trail records who did what.
	var shown struct {
		Events []struct{ Action, Actor string } `json:"events"`
	}
	tb.call(t, http.MethodGet, "/admin/keys/"+c.Record.ID, admin, nil, "", &shown)
	if len(shown.Events) != 2 || shown.Events[0].Action != "created" || shown.Events[1].Action != "rotated" || !strings.HasPrefix(shown.Events[1].Actor, "key:") {
		t.Fatalf("audit trail %+v", shown.Events)
	}

	// Expiry: a key past its expires_at gets the same 401 as an unknown key.
	var short createdKey
	tb.json(t, http.MethodPost, "/admin/keys", admin, map[string]any{"customer": "acme", "expires_in": "1h"}, &short)
	if r := tb.call(t, http.MethodGet, "/jobs", short.Key, nil, "", nil); r.StatusCode != 200 {
		t.Fatalf("fresh key refused: %d", r.StatusCode)
	}
	clock.Advance(time.Hour)
	var expired, unknown problemBody
	tb.call(t, http.MethodGet, "/jobs", short.Key, nil, "", &expired)
	tb.call(t, http.MethodGet, "/jobs", apikey.Generate(), nil, "", &unknown)
	if expired.Status != 401 || expired.Code != unknown.Code || expired.Detail != unknown.Detail {
		t.Fatalf("expired %+v vs unknown %+v", expired, unknown)
	}
	if r := tb.json(t, http.MethodPost, "/admin/keys", admin, map[string]any{"customer": "acme", "scopes": []string{"root"}}, &pb); r.StatusCode != 422 {
		t.Fatalf("bad scope: %d", r.StatusCode)
	}

	// No key in clear anywhere: database files (SQLite; PostgreSQL's tables
	// are searched in cmd/avatar-api's TestKeysAcrossReplicas) and logs.
	for _, k := range []string{c.Key, rot.Key, rot2.Key, short.Key, keyA, keyB} {
		for _, f := range []string{tb.db, tb.db + "-wal"} {
			b, _ := os.ReadFile(f)
			if strings.Contains(string(b), k) {
				t.Errorf("a key is in clear in %s", filepath.Base(f))
			}
		}
		if strings.Contains(tb.logs.String(), k) {
			t.Error("a key is in the logs")
		}
	}
}

// TestFailedAuthThrottle: ten wrong keys from one address are answered
// 401; then 429 with Retry-After, even for a good key, until a refill.
func TestFailedAuthThrottle(t *testing.T) {
	t.Parallel()
	clock := &testkit.Clock{}
	tb := setup(t, options{noWorkers: true, clock: clock})
	for i := range 10 {
		if r := tb.call(t, http.MethodGet, "/jobs", apikey.Generate(), nil, "", nil); r.StatusCode != 401 {
			t.Fatalf("attempt %d: %d", i, r.StatusCode)
		}
	}
	var pb problemBody
	r := tb.call(t, http.MethodGet, "/jobs", keyA, nil, "", &pb)
	retry, _ := strconv.Atoi(r.Header.Get("Retry-After"))
	if r.StatusCode != 429 || pb.Code != "too_many_failed_authentications" || retry < 1 || retry > 6 {
		t.Fatalf("11th attempt: %d %s Retry-After %q", r.StatusCode, pb.Code, r.Header.Get("Retry-After"))
	}
	clock.Advance(time.Duration(retry) * time.Second)
	if r := tb.call(t, http.MethodGet, "/jobs", keyA, nil, "", nil); r.StatusCode != 200 {
		t.Fatalf("after Retry-After the good key gets %d", r.StatusCode)
	}
	if r := tb.call(t, http.MethodGet, "/health", "", nil, "", nil); r.StatusCode != 200 {
		t.Fatal("open routes are throttled")
	}
}
