package api_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// The committed document is checked by the tools of the OpenAPI world
// themselves, installed by scripts/install-deps.sh --test: Redocly CLI's
// lint and oasdiff's breaking-change check.

// tool finds a checker where install-deps.sh puts it (GOBIN, or the first
// GOPATH's bin), else in PATH.
func tool(t *testing.T, name string) string {
	t.Helper()
	env, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output()
	if err == nil {
		lines := strings.Split(string(env), "\n")
		dir := strings.TrimSpace(lines[0])
		if dir == "" && len(lines) > 1 {
			dir = filepath.Join(strings.Split(strings.TrimSpace(lines[1]), string(os.PathListSeparator))[0], "bin")
		}
		if p := filepath.Join(dir, name); dir != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	t.Fatalf("%s is not installed: run scripts/install-deps.sh --test", name)
	return ""
}

// TestSpecLint: Redocly CLI (tools/redocly, the version its lock file
// pins) lints the committed document with its strict recommended rules
// (api/redocly.yaml): no error and no warning. The few findings that are
// true of this API on purpose are ignored one location at a time, each
// with its reason, in api/.redocly.lint-ignore.yaml.
func TestSpecLint(t *testing.T) {
	t.Parallel()
	redocly, err := filepath.Abs(filepath.Join("..", "..", "tools", "redocly", "node_modules", ".bin", "redocly"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(redocly); err != nil {
		t.Fatalf("Redocly CLI is not installed in tools/redocly: run scripts/install-deps.sh --test")
	}
	cmd := exec.Command(redocly, "lint", "--config", "redocly.yaml", "--format", "stylish", "openapi.yaml")
	cmd.Dir = filepath.Join("..", "..", "api")
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("redocly lint api/openapi.yaml: %v\n%s", err, out)
	}
}

// releasedDir holds the document of each release, as it was committed at
// its tag (scripts/release-api.sh puts it there): the contract that
// customers' code was written against.
const releasedDir = "../../api/released"

// TestSpecBreaking: oasdiff compares the last released document with the
// committed one. A breaking change (a route, a field or a value removed,
// a new required input, a narrowed type…) fails unless the version was
// bumped on purpose: a new major version, or a new minor one while the
// major is 0 (semantic versioning).
func TestSpecBreaking(t *testing.T) {
	t.Parallel()
	oasdiff := tool(t, "oasdiff")
	base := lastRelease(t)
	was, now := docVersion(t, base), docVersion(t, specPath)
	// A version names one document: a changed one needs a new version.
	released, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	current, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	if was == now && !bytes.Equal(released, current) {
		t.Errorf("api/openapi.yaml differs from the released %s but says the same version: raise api.Version (a new patch for additions)", filepath.Base(base))
	}
	if !semverLess(was, now) && was != now {
		t.Errorf("api/openapi.yaml's version %s is older than the last release's, %s", now, was)
	}
	out, err := exec.Command(oasdiff, "breaking", "--fail-on", "ERR", base, specPath).CombinedOutput()
	if err == nil {
		t.Logf("against %s: %s", filepath.Base(base), strings.TrimSpace(string(out)))
		return
	}
	// oasdiff fails for a breaking change, or for a document it cannot
	// read: only the first may be allowed by a bump.
	if _, ok := err.(*exec.ExitError); !ok || !strings.Contains(string(out), "error\t[") {
		t.Fatalf("oasdiff: %v\n%s", err, out)
	}
	if !breakingBump(was, now) {
		t.Fatalf("api/openapi.yaml breaks the contract of release %s (oasdiff):\n%s\n"+
			"Keep the old behaviour beside the new (deprecate first), or, if the break is meant, raise the version (api.Version) to a new major "+
			"(or a new minor while it is 0.x) and say so in the release notes.", was, out)
	}
	t.Logf("breaking changes since %s, allowed by the bump to %s:\n%s", was, now, out)
}

// TestSpecBreakingCaught: the check above is not blind. A document with a
// route removed is a breaking change to oasdiff.
func TestSpecBreakingCaught(t *testing.T) {
	t.Parallel()
	oasdiff := tool(t, "oasdiff")
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	doc.Paths.Delete("/usage")
	broken := filepath.Join(t.TempDir(), "openapi.json")
	b, err := doc.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(broken, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(oasdiff, "breaking", "--fail-on", "ERR", specPath, broken).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "api-path-removed-without-deprecation") {
		t.Fatalf("oasdiff did not find a removed route: %v\n%s", err, out)
	}
}

// lastRelease is the document of the newest release in api/released.
func lastRelease(t *testing.T) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(releasedDir, "openapi-v*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no released document in %s (%v): scripts/release-api.sh makes one", releasedDir, err)
	}
	sort.Slice(files, func(i, j int) bool {
		return semverLess(versionOf(files[i]), versionOf(files[j]))
	})
	return files[len(files)-1]
}

func versionOf(file string) string {
	return strings.TrimSuffix(strings.TrimPrefix(filepath.Base(file), "openapi-v"), ".yaml")
}

func docVersion(t *testing.T, file string) string {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return doc.Info.Version
}

// semver is major, minor, patch of "1.2.3" (anything unreadable is 0).
func semver(v string) [3]int {
	var n [3]int
	for i, f := range strings.SplitN(v, ".", 3) {
		n[i], _ = strconv.Atoi(f)
	}
	return n
}

func semverLess(a, b string) bool {
	x, y := semver(a), semver(b)
	for i := range x {
		if x[i] != y[i] {
			return x[i] < y[i]
		}
	}
	return false
}

// breakingBump: now may break was's contract.
func breakingBump(was, now string) bool {
	a, b := semver(was), semver(now)
	if a[0] == 0 && b[0] == 0 {
		return b[1] > a[1]
	}
	return b[0] > a[0]
}

func TestBreakingBump(t *testing.T) {
	for _, c := range []struct {
		was, now string
		ok       bool
	}{{"0.1.0", "0.1.1", false}, {"0.1.0", "0.2.0", true}, {"0.9.3", "1.0.0", true}, {"1.2.0", "1.3.0", false}, {"1.2.0", "2.0.0", true}, {"1.2.0", "1.2.0", false}} {
		if got := breakingBump(c.was, c.now); got != c.ok {
			t.Errorf("breakingBump(%s, %s) = %v", c.was, c.now, got)
		}
	}
}
