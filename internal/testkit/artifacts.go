package testkit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Artifact is the path of a file a test writes for people to look at (a
// screenshot, a log): in $TEST_ARTIFACTS_DIR when set (CI collects it),
// else in test-artifacts/ at the root of the module, which git ignores.
// The directory is created; the file's name is the test's name (subtests
// joined by "_") and name, so runs of different tests do not overwrite
// each other's.
func Artifact(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv("TEST_ARTIFACTS_DIR")
	if dir == "" {
		dir = filepath.Join(root(), "test-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("creating the artifacts directory: %v", err)
	}
	prefix := strings.NewReplacer("/", "_", "\\", "_", " ", "_").Replace(t.Name())
	return filepath.Join(dir, prefix+"-"+name)
}
