package metric

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"unicode"

	"go.yaml.in/yaml/v3"
)

const (
	// alertRules are the Prometheus alert rules over these metrics.
	alertRules = "../../deploy/prometheus/alerts.yml"
	// deploymentGuide holds a runbook per alert, under "## Runbooks".
	deploymentGuide = "../../docs/DEPLOYMENT.md"
	// runbookBase is where each alert's runbook_url points, before the
	// anchor: the guide as GitHub shows it.
	runbookBase = "https://github.com/avatar-api/avatar-api/blob/main/docs/DEPLOYMENT.md#"
)

// TestRunbooksDocumented keeps the alert rules and the deployment guide's
// runbooks in step, both ways: every alert's runbook_url points at the
// guide's anchor named after the alert (lower-cased, as GitHub makes it
// from the heading "### AvatarAPIDown"), that anchor is a heading of the
// guide's Runbooks section, and every heading of that section is an alert
// of the rules, so that no runbook outlives its alert.
func TestRunbooksDocumented(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(alertRules)
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("%s: %v", alertRules, err)
	}
	runbooks := runbookAnchors(t)

	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue // a recording rule
			}
			alerts[strings.ToLower(r.Alert)] = true
			want := runbookBase + strings.ToLower(r.Alert)
			if got := r.Annotations["runbook_url"]; got != want {
				t.Errorf("alert %s: runbook_url is %q, want %q", r.Alert, got, want)
			}
			if !runbooks[strings.ToLower(r.Alert)] {
				t.Errorf("alert %s has no runbook: add a heading \"### %s\" under \"## Runbooks\" in docs/DEPLOYMENT.md", r.Alert, r.Alert)
			}
		}
	}
	if len(alerts) == 0 {
		t.Fatalf("%s holds no alert: is the parser broken?", alertRules)
	}
	for anchor := range runbooks {
		if !alerts[anchor] {
			t.Errorf("docs/DEPLOYMENT.md has a runbook #%s for no alert of %s: remove it, or name it after its alert", anchor, alertRules)
		}
	}
}

// runbookAnchors answers the GitHub anchors of the "###" headings of the
// guide's "## Runbooks" section (fenced code is not read for headings).
func runbookAnchors(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open(deploymentGuide)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	anchors := map[string]bool{}
	var inRunbooks, inFence, seen bool
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
			continue
		}
		switch {
		case inFence:
		case strings.HasPrefix(line, "## "):
			inRunbooks = strings.TrimSpace(line[3:]) == "Runbooks"
			seen = seen || inRunbooks
		case inRunbooks && strings.HasPrefix(line, "### "):
			anchors[githubAnchor(line[4:])] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !seen {
		t.Fatalf("%s has no \"## Runbooks\" section", deploymentGuide)
	}
	return anchors
}

// githubAnchor is the anchor GitHub gives a heading: lower case, spaces
// made hyphens, and every character but letters, digits, hyphens and
// underscores dropped (backquotes included).
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
