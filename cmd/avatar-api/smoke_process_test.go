package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSmokeScript runs scripts/smoke-test, the check after a deployment,
// against `serve` with its embedded defaults: every step passes. With a
// key that is not an admin's, it stops at the key's creation and says so.
func TestSmokeScript(t *testing.T) {
	t.Parallel()
	p := start(t, t.TempDir())
	script, err := filepath.Abs(filepath.Join("..", "..", "scripts", "smoke-test"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(adminKey string) (string, int) {
		cmd := exec.Command(script, p.url)
		cmd.Env = append(os.Environ(), "ADMIN_KEY="+adminKey, "SMOKE_TIMEOUT=120")
		out, err := cmd.CombinedOutput()
		return string(out), exitCode(err)
	}
	out, code := run(apiKey)
	if code != 0 || !strings.Contains(out, "smoke test passed") || !strings.Contains(out, "h264 + aac") || !strings.Contains(out, "revoked and refused") {
		t.Fatalf("smoke test: exit %d\n%s", code, out)
	}
	if keyPattern.MatchString(out) {
		t.Errorf("the output shows a whole key:\n%s", out)
	}
	t.Logf("%s", out)
	out, code = run("av_live_not-a-key")
	if code != 1 || !strings.Contains(out, "smoke test failed at creating a key (POST /admin/keys): 401") {
		t.Errorf("with a wrong admin key: exit %d\n%s", code, out)
	}
}
