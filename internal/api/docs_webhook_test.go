package api_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/api"
	"github.com/avatar-api/avatar-api/internal/job"
	"github.com/avatar-api/avatar-api/internal/stdwebhook"
)

// readAPIDoc is docs/API.md.
func readAPIDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "API.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// docWebhookBody is a job.completed webhook's body as the service makes it.
func docWebhookBody(t *testing.T) []byte {
	t.Helper()
	at := time.Date(2026, 12, 3, 10, 15, 31, 482913000, time.UTC)
	started, expires := at.Add(-30*time.Second), at.Add(6*time.Hour)
	j := &job.Job{ID: "0193a5f0-7c1e-7d2a-9b61-2f0c3f1e4a55", State: "completed", Progress: 1, Attempt: 1,
		Prompt: "A woman singing", Width: 512, Height: 512, FPS: 25, AudioDuration: 4720 * time.Millisecond,
		CreatedAt: at.Add(-31 * time.Second), StartedAt: &started, FinishedAt: &at, ExpiresAt: &expires,
		Billed: 910 * time.Millisecond}
	body, err := api.WebhookBody("https://avatar.example.com", "job.completed", at, j,
		&job.Download{Job: j, URL: "https://avatar.example.com/files/results/x.mp4?sig=y", URLExpiresAt: at.Add(time.Hour),
			Bytes: 190311, Duration: 4720 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// docWebhookCase is a signed request and whether the documented verifiers
// must accept it.
type docWebhookCase struct {
	Name    string            `json:"name"`
	Secret  string            `json:"secret"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
	Valid   bool              `json:"valid"`
}

// docWebhookCases signs body with stdwebhook, as the service does, and
// alters it in the ways a verifier must refuse.
func docWebhookCases(t *testing.T, body []byte) []docWebhookCase {
	t.Helper()
	cur, prev, other := []byte("0123456789abcdef0123456789abcdef"), []byte("previous secret of the rotation!"), []byte("someone else's secret, 32 bytes.")
	now := time.Now()
	const id = "msg_0193a8e2c4f37c2a9b1d5e6f7a8b9c0d"
	sign := func(keys [][]byte, id string, at time.Time) map[string]string {
		h, err := stdwebhook.Sign(keys, id, at, body)
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{"webhook-id": h.Get("webhook-id"), "webhook-timestamp": h.Get("webhook-timestamp"),
			"webhook-signature": h.Get("webhook-signature")}
	}
	with := func(h map[string]string, k, v string) map[string]string {
		c := map[string]string{}
		for k, v := range h {
			c[k] = v
		}
		if v == "" {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	secret, b := stdwebhook.FormatSecret(cur), string(body)
	one, two := sign([][]byte{cur}, id, now), sign([][]byte{cur, prev}, id, now)
	return []docWebhookCase{
		{"valid", secret, one, b, true},
		{"rotation, new secret", secret, two, b, true},
		{"rotation, previous secret", stdwebhook.FormatSecret(prev), two, b, true},
		{"sent 4 minutes ago", secret, sign([][]byte{cur}, id, now.Add(-4*time.Minute)), b, true},
		{"tampered body", secret, one, strings.Replace(b, `"completed"`, `"failed"`, 1), false},
		{"tampered id", secret, with(one, "webhook-id", "msg_other"), b, false},
		{"old timestamp", secret, sign([][]byte{cur}, id, now.Add(-6*time.Minute)), b, false},
		{"future timestamp", secret, sign([][]byte{cur}, id, now.Add(6*time.Minute)), b, false},
		{"timestamp changed", secret, with(one, "webhook-timestamp", strconv.FormatInt(now.Unix()+1, 10)), b, false},
		{"wrong secret", stdwebhook.FormatSecret(other), two, b, false},
		{"no signature", secret, with(one, "webhook-signature", ""), b, false},
		{"no timestamp", secret, with(one, "webhook-timestamp", ""), b, false},
		{"not v1", secret, with(one, "webhook-signature", "v2,"+strings.TrimPrefix(one["webhook-signature"], "v1,")), b, false},
	}
}

// docVerifierMain runs the documented verifyWebhook on each case of the
// file named by its argument.
const docVerifierMain = `package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
)

func main() {
	b, err := os.ReadFile(os.Args[1])
	if err != nil {
		panic(err)
	}
	var cases []struct {
		Name    string            ` + "`json:\"name\"`" + `
		Secret  string            ` + "`json:\"secret\"`" + `
		Headers map[string]string ` + "`json:\"headers\"`" + `
		Body    string            ` + "`json:\"body\"`" + `
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		panic(err)
	}
	for _, c := range cases {
		h := http.Header{}
		for k, v := range c.Headers {
			h.Set(k, v)
		}
		err := verifyWebhook(c.Secret, h, []byte(c.Body))
		fmt.Printf("%s\t%v\n", c.Name, err == nil)
	}
}
`

// TestWebhookVerifierDocumented runs the Go verifier of docs/API.md
// ("Verifying a signature") with go run against webhooks signed as the
// service signs them: it must accept them, during a rotation with either
// secret, and refuse any altered one and an old or future timestamp.
func TestWebhookVerifierDocumented(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("compiles and runs the documented verifier")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	m := regexp.MustCompile("(?s)<!-- webhook-verify-go[^>]*-->\n```go\n(.*?)```").FindStringSubmatch(readAPIDoc(t))
	if m == nil {
		t.Fatal("docs/API.md: no Go verifier after a <!-- webhook-verify-go --> marker")
	}
	cases := docWebhookCases(t, docWebhookBody(t))
	dir := t.TempDir()
	js, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"verify.go": "package main\n\n" + m[1], "main.go": docVerifierMain, "cases.json": string(js)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(goTool, "run", "verify.go", "main.go", "cases.json")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go run of the documented verifier: %v\n%s", err, out)
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(got) != len(cases) {
		t.Fatalf("the verifier printed %d lines for %d cases:\n%s", len(got), len(cases), out)
	}
	for i, c := range cases {
		if want := c.Name + "\t" + map[bool]string{true: "true", false: "false"}[c.Valid]; got[i] != want {
			t.Errorf("case %q: accepted %q, want %q", c.Name, got[i], want)
		}
	}
}

// TestWebhookExampleDocumented keeps the job.completed example of
// docs/API.md's webhook section in step with the body the service sends:
// the same fields, at every level.
func TestWebhookExampleDocumented(t *testing.T) {
	t.Parallel()
	_, section, _ := strings.Cut(readAPIDoc(t), "\n## Webhooks\n")
	m := regexp.MustCompile("(?s)```json\n(\\{\n  \"type\": \"job.completed\".*?)```").FindStringSubmatch(section)
	if m == nil {
		t.Fatal("docs/API.md: no job.completed example in the Webhooks section")
	}
	var doc, real map[string]any
	if err := json.Unmarshal([]byte(m[1]), &doc); err != nil {
		t.Fatalf("the example is not JSON: %v", err)
	}
	if err := json.Unmarshal(docWebhookBody(t), &real); err != nil {
		t.Fatal(err)
	}
	var keys func(prefix string, v map[string]any) []string
	keys = func(prefix string, v map[string]any) []string {
		var out []string
		for k, x := range v {
			out = append(out, prefix+k)
			if o, ok := x.(map[string]any); ok {
				out = append(out, keys(prefix+k+".", o)...)
			}
		}
		slices.Sort(out)
		return out
	}
	if d, r := keys("", doc), keys("", real); !slices.Equal(d, r) {
		t.Errorf("the example's fields differ from the body's:\n doc: %v\nreal: %v", d, r)
	}
}
