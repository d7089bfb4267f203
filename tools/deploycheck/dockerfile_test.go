package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDockerfileIsClean lints the repository's Dockerfile: no warning.
func TestDockerfileIsClean(t *testing.T) {
	t.Parallel()
	if _, problems := lintDockerfile(t.Context(), filepath.Join("..", "..", "Dockerfile")); len(problems) > 0 {
		t.Fatalf("Dockerfile: %v", problems)
	}
}

// TestDockerfileLintFails shows the lint is not blind: each Dockerfile
// below breaks one of BuildKit's rules, which is reported.
func TestDockerfileLintFails(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, dockerfile, want string }{
		{"stage name casing", "FROM debian AS Build\nRUN true\n", "StageNameCasing"},
		{"FROM and AS casing", "FROM debian as build\nRUN true\n", "FromAsCasing"},
		{"MAINTAINER", "FROM debian\nMAINTAINER someone@example.com\n", "MaintainerDeprecated"},
		{"legacy ENV", "FROM debian\nENV DATA_DIR /data\n", "LegacyKeyValueFormat"},
		{"CMD not in JSON", "FROM debian\nCMD avatar-api serve\n", "JSONArgsRecommended"},
		{"undefined variable", "FROM debian\nARG VERSION=dev\nLABEL version=$VERSON\n", "UndefinedVar"},
		{"two CMDs", "FROM debian\nCMD [\"a\"]\nCMD [\"b\"]\n", "MultipleInstructionsDisallowed"},
		{"secret in ENV", "FROM debian\nENV API_KEY_PEPPER=x\n", "SecretsUsedInArgOrEnv"},
		{"relative WORKDIR", "FROM debian\nWORKDIR data\n", "WorkdirRelativePath"},
		{"unparsable", "FROM debian\nHEALTHCHECK --interval=x CMD [\"a\"]\n", "BuildKit cannot read it"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "Dockerfile")
			if err := os.WriteFile(path, []byte(c.dockerfile), 0o644); err != nil {
				t.Fatal(err)
			}
			_, problems := lintDockerfile(t.Context(), path)
			for _, p := range problems {
				if strings.Contains(p.Error(), c.want) {
					return
				}
			}
			t.Errorf("no problem says %q; got %v", c.want, problems)
		})
	}
}
