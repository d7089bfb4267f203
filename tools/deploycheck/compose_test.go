package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestComposeIsClean loads deploy/compose.yaml with .env.example's values.
func TestComposeIsClean(t *testing.T) {
	t.Parallel()
	if _, problems := checkCompose(t.Context(), repoCompose()); len(problems) > 0 {
		t.Fatalf("compose.yaml: %v", problems)
	}
}

// TestComposeCheckFails shows the check is not blind: each change below,
// made to a copy of compose.yaml or .env.example, is reported.
func TestComposeCheckFails(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, file, old, new, want string
	}{
		{"unknown key", "compose.yaml", "    restart: unless-stopped\n    ports:\n      - ${HTTP_PORT", "    restrat: unless-stopped\n    ports:\n      - ${HTTP_PORT", "restrat"},
		{"typo'd variable of ours", "compose.yaml", "  S3_BUCKET: ${S3_BUCKET:-avatar}", "  S3_BUKET: ${S3_BUCKET:-avatar}", "S3_BUKET, which docs/configuration.md does not document"},
		{"variable of the worker alone", "compose.yaml", "      WORKER_METRICS_ADDR: :9091", "      WORKER_METRIC_ADDR: :9091", "service worker sets WORKER_METRIC_ADDR"},
		{"required secret missing from the env file", ".env.example", "METRICS_TOKEN=replace-with-openssl-rand-hex-32\n", "", "set METRICS_TOKEN in deploy/.env"},
		{"variable unset, without default", "compose.yaml", "  LOG_LEVEL: info", "  LOG_LEVEL: ${AVATAR_LOG_LEVEL}", "AVATAR_LOG_LEVEL is not set and has no default"},
		{"depends on a service that is not there", "compose.yaml", "    depends_on:\n      - prometheus", "    depends_on:\n      - prometheos", "prometheos"},
		{"wrong type", "compose.yaml", "      retries: 10\n\n  redis:", "      retries: ten\n\n  redis:", "retries"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := repoCompose()
			dir := t.TempDir()
			for _, name := range []string{"compose.yaml", ".env.example"} {
				b, err := os.ReadFile(filepath.Join("..", "..", "deploy", name))
				if err != nil {
					t.Fatal(err)
				}
				text := string(b)
				if name == c.file {
					if !strings.Contains(text, c.old) {
						t.Fatalf("%s holds no %q to change", name, c.old)
					}
					text = strings.Replace(text, c.old, c.new, 1)
				}
				if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			f.Compose, f.EnvFile = filepath.Join(dir, "compose.yaml"), filepath.Join(dir, ".env.example")
			_, problems := checkCompose(t.Context(), f)
			for _, p := range problems {
				if strings.Contains(p.Error(), c.want) {
					return
				}
			}
			t.Errorf("no problem says %q; got %v", c.want, problems)
		})
	}
}

func repoCompose() composeFiles {
	return composeFiles{
		Compose:   filepath.Join("..", "..", "deploy", "compose.yaml"),
		EnvFile:   filepath.Join("..", "..", "deploy", ".env.example"),
		ConfigDoc: filepath.Join("..", "..", "docs", "configuration.md"),
	}
}
