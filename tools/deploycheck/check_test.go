package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeployIsClean checks the repository's deploy folder.
func TestDeployIsClean(t *testing.T) {
	t.Parallel()
	if _, problems := check(filepath.Join("..", "..", "deploy")); len(problems) > 0 {
		t.Fatalf("deploy has problems: %v", problems)
	}
}

// TestCheckFails shows the check has teeth: each change below, made to a
// copy of the deploy folder, is reported.
func TestCheckFails(t *testing.T) {
	t.Parallel()
	dashboard := filepath.Join("grafana", "dashboards", "avatar-api.json")
	alerts := filepath.Join("prometheus", "alerts.yml")
	cases := []struct {
		name, file, old, new, want string
	}{
		{"unknown metric in a panel", dashboard, "avatar_jobs_submitted_total[", "avatar_jobs_submited_total[", "avatar_jobs_submited_total is not a metric we export"},
		{"unknown field in the dashboard", dashboard, `"refresh": "30s",`, `"refresh": "30s", "refreshRate": "30s",`, "unexpected field 'refreshRate'"},
		{"unknown field in a target", dashboard, `"legendFormat": "{{route}}",`, `"legendFormat": "{{route}}", "legend": "x",`, "unexpected field 'legend'"},
		{"unknown field in a fieldConfig", dashboard, `"unit": "reqps",`, `"unit": "reqps", "colour": "red",`, "unexpected field 'colour'"},
		{"PromQL that does not parse", dashboard, `sum by (route) (rate(avatar_http_requests_total[$__rate_interval]))`, `sum by (route) (rate(avatar_http_requests_total[$__rate_interval])`, "PromQL does not parse"},
		{"unknown metric in a rule", alerts, "avatar_rate_limit_degraded == 1", "avatar_ratelimit_degraded == 1", "avatar_ratelimit_degraded is not a metric we export"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := copyDeploy(t)
			path := filepath.Join(dir, c.file)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), c.old) {
				t.Fatalf("%s holds no %q to change", c.file, c.old)
			}
			if err := os.WriteFile(path, []byte(strings.Replace(string(b), c.old, c.new, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			_, problems := check(dir)
			for _, p := range problems {
				if strings.Contains(p.Error(), c.want) {
					return
				}
			}
			t.Errorf("no problem says %q; got %v", c.want, problems)
		})
	}
}

// copyDeploy copies what check reads of ../../deploy into a temporary folder.
func copyDeploy(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"metrics.txt", filepath.Join("prometheus", "alerts.yml"), filepath.Join("grafana", "dashboards", "avatar-api.json")} {
		b, err := os.ReadFile(filepath.Join("..", "..", "deploy", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
