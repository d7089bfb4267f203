package testkit

import (
	"bytes"
	"context"
	"os/exec"
	"testing"
	"time"
)

// Promtool lints exposition, a scrape in the Prometheus text format, with
// `promtool check metrics`, the linter Prometheus ships, and fails the test
// with what promtool said when it complains: by its exit status or by any
// line of output (it says nothing about a clean scrape). So a name without
// its unit or _total, a missing HELP or a malformed line fails the tests,
// not a dashboard. Without promtool the test fails: tests are never
// skipped for a missing tool.
func Promtool(t testing.TB, exposition []byte) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: scripts/install-deps.sh --test installs Debian's prometheus package")
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "check", "metrics")
	cmd.Stdin = bytes.NewReader(exposition)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
