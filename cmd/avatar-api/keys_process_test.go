package main_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/store/postgres/pgtest"
)

var keyPattern = regexp.MustCompile(`av_live_[0-9A-Za-z]{38}`)

// cli runs an avatar-api command with env and returns its stdout.
func cli(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("avatar-api %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func status(t *testing.T, url, key string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url+"/jobs", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestKeysAcrossReplicas: two servers share one PostgreSQL; a key made with
// `avatar-api keys create` works on both, and once revoked with `avatar-api
// keys revoke` the other server refuses it within about a second. Then no
// key is found in clear in the database or the logs.
func TestKeysAcrossReplicas(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	env := []string{"DATABASE_URL=" + dbURL, "EMBEDDED_WORKERS=false", "API_KEY="} // a fresh install: no key to import
	firstDir := t.TempDir()
	first := start(t, firstDir, env...)
	// Its output is not a terminal: the key is in a file only this user
	// can read, and the log names the file, never the key.
	keyFile := filepath.Join(firstDir, "first-admin-key")
	b, err := os.ReadFile(keyFile)
	admin := keyPattern.FindString(string(b))
	if err != nil || admin == "" {
		t.Fatalf("the first start wrote no admin key (%v):\n%s", err, first.logs)
	}
	if fi, _ := os.Stat(keyFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", keyFile, fi.Mode().Perm())
	}
	if keyPattern.MatchString(first.logs.String()) || !strings.Contains(first.logs.String(), keyFile) {
		t.Fatalf("the output holds the key, or does not name its file:\n%s", first.logs)
	}
	second := start(t, t.TempDir(), env...)
	if keyPattern.MatchString(second.logs.String()) {
		t.Fatal("a second start printed a key again")
	}

	key := strings.TrimSpace(cli(t, env, "keys", "create", "--customer", "acme", "--rate-limit", "30", "-q"))
	if !keyPattern.MatchString(key) {
		t.Fatalf("keys create -q printed %q", key)
	}
	for _, p := range []*proc{first, second} {
		if code := status(t, p.url, key); code != 200 {
			t.Fatalf("new key on %s: %d", p.url, code)
		}
	}
	list := cli(t, env, "keys", "list")
	id := regexp.MustCompile(`(?m)^([0-9a-f-]{36})\s+av_live_\w{4}…\s+acme`).FindStringSubmatch(list)
	if id == nil {
		t.Fatalf("keys list shows no acme key:\n%s", list)
	}
	cli(t, env, "keys", "revoke", id[1])
	revoked := time.Now()
	for status(t, second.url, key) != 401 {
		if time.Since(revoked) > 5*time.Second {
			t.Fatal("the other server still accepts the revoked key after 5 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(revoked)
	t.Logf("revoked with the CLI; the other server refused the key %s later", took.Round(time.Millisecond))
	if took > 1500*time.Millisecond {
		t.Errorf("revocation took %s", took)
	}
	if code := status(t, first.url, admin); code != 200 {
		t.Fatalf("admin key: %d", code)
	}
	rotated := keyPattern.FindString(cli(t, env, "keys", "rotate", "--grace", "0s", regexp.MustCompile(`(?m)^([0-9a-f-]{36})\s+av_live_\w{4}…\s+operator`).FindStringSubmatch(cli(t, env, "keys", "list"))[1]))
	if code := status(t, first.url, rotated); code != 200 {
		t.Fatalf("rotated admin key: %d", code)
	}
	audit := cli(t, env, "keys", "list", "--audit")
	for _, action := range []string{"created", "revoked", "rotated"} {
		if !strings.Contains(audit, action) {
			t.Errorf("audit trail lacks %q:\n%s", action, audit)
		}
	}

	// No key in clear: every text column of every table, and the logs.
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var dump string
	for _, table := range []string{"api_keys", "api_key_events", "jobs", "river_job"} {
		var rows string
		if err := db.QueryRowContext(context.Background(), fmt.Sprintf(`SELECT COALESCE(string_agg(t::text, E'\n'), '') FROM %s t`, table)).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		dump += rows
	}
	if !strings.Contains(dump, "acme") {
		t.Fatal("the dump is empty: the check would prove nothing")
	}
	for _, k := range []string{admin, key, rotated} {
		if strings.Contains(dump, k) {
			t.Errorf("key %s… is in clear in the database", k[:12])
		}
	}
	logs := second.logs.String() + strings.Replace(first.logs.String(), admin, "", 1) // the one deliberate print
	for _, k := range []string{admin, key, rotated} {
		if strings.Contains(logs, k) {
			t.Errorf("key %s… is in a log", k[:12])
		}
	}
}

// TestImportAPIKey: the single key of the first release is imported at the
// first start, said so in the log, and keeps working once API_KEY is gone.
func TestImportAPIKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := start(t, dir) // start sets API_KEY
	if !strings.Contains(p.logs.String(), "imported API_KEY as the first key") || keyPattern.MatchString(p.logs.String()) {
		t.Fatalf("first start:\n%s", p.logs)
	}
	if code := status(t, p.url, apiKey); code != 200 {
		t.Fatalf("imported key: %d", code)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.exit(t, 30*time.Second)
	again := start(t, dir, "API_KEY=")
	if code := status(t, again.url, apiKey); code != 200 {
		t.Fatalf("imported key without API_KEY set: %d", code)
	}
	if strings.Contains(again.logs.String(), "imported") || keyPattern.MatchString(again.logs.String()) {
		t.Fatal("a restart imported or printed a key again")
	}
	list := cli(t, []string{"DATA_DIR=" + dir, "API_KEY="}, "keys", "list")
	if !strings.Contains(list, "default") || !strings.Contains(list, "admin,generate") {
		t.Fatalf("keys list:\n%s", list)
	}
	if strings.Contains(list, "never\n") { // written at the first server's shutdown, not lost
		t.Fatalf("the key's last use was not recorded:\n%s", list)
	}
}

// TestKeysWebhookSecret: the keys command makes webhook secrets with the
// servers' own SIGNING_SECRET and never one of its own: without it (and
// without the servers' DATA_DIR) it refuses, saying why; with it, a key
// given a default webhook URL prints the customer's new secret once, and
// a rotation prints another.
func TestKeysWebhookSecret(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	env := []string{"DATABASE_URL=" + dbURL, "EMBEDDED_WORKERS=false", "WEBHOOK_ALLOW_PRIVATE=true", "DATA_DIR=" + t.TempDir()}
	start(t, t.TempDir(), append(env, "SIGNING_SECRET="+strings.Repeat("w", 32))...)

	cmd := exec.Command(binary, "keys", "webhook-secret", "--customer", "acme")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "SIGNING_SECRET") {
		t.Fatalf("without the servers' signing secret: %v\n%s", err, out)
	}
	env = append(env, "SIGNING_SECRET="+strings.Repeat("w", 32))
	created := cli(t, env, "keys", "create", "--customer", "acme", "--webhook-url", "http://127.0.0.1:9/hook?token=t0k3n")
	secret := regexp.MustCompile(`whsec_[A-Za-z0-9+/=]{40,}`)
	if !keyPattern.MatchString(created) || !secret.MatchString(created) || strings.Contains(created, "t0k3n") {
		t.Fatalf("keys create --webhook-url printed:\n%s", created)
	}
	// A second key of the same customer: the secret exists, none printed.
	if again := cli(t, env, "keys", "create", "--customer", "acme", "--webhook-url", "http://127.0.0.1:9/other"); secret.MatchString(again) {
		t.Fatalf("a second key printed a secret again:\n%s", again)
	}
	rotated := cli(t, env, "keys", "webhook-secret", "--customer", "acme", "--grace", "1h")
	if s := secret.FindString(rotated); s == "" || s == secret.FindString(created) || !strings.Contains(rotated, "also signs until") {
		t.Fatalf("keys webhook-secret printed:\n%s", rotated)
	}
}
