package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite the variable table in docs/configuration.md")

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8080 || c.PublicURL != "http://localhost:8080" || c.DataDir != "./data" || c.Storage != "local" ||
		c.ResultTTL != 6*time.Hour || c.JobRescueAfter != c.JobTimeout+time.Minute || c.JobHeartbeatTimeout != 30*time.Second || !c.EmbeddedWorkers ||
		c.SQLitePath() != filepath.Join("data", "avatar.db") {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestInvalidValuesAreAllReported(t *testing.T) {
	t.Parallel()
	_, err := Load(env(map[string]string{
		"PORT": "http", "RESULT_TTL": "soon", "STORAGE": "ftp", "API_KEY": "short-secret",
		"DATABASE_URL": "mysql://root:hunter2@db/x", "VIDEO_WIDTH": "513",
	}))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, name := range []string{"PORT", "RESULT_TTL", "STORAGE", "API_KEY", "DATABASE_URL", "VIDEO_WIDTH"} {
		if !strings.Contains(msg, name+":") {
			t.Errorf("error does not name %s: %s", name, msg)
		}
	}
	for _, secret := range []string{"short-secret", "hunter2"} {
		if strings.Contains(msg, secret) {
			t.Errorf("error shows a secret value: %s", msg)
		}
	}
}

// TestMonitoringSettings: cost, time zone, retention and token as the
// operator writes them.
func TestMonitoringSettings(t *testing.T) {
	t.Parallel()
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.CostPerSecond != 190_000 || c.CostLocation != time.UTC || c.MetricsRetention != 35*24*time.Hour ||
		c.DashboardSessionTTL != 12*time.Hour || c.MetricsToken != "" || c.GPUSampleInterval != 5*time.Second {
		t.Fatalf("monitoring defaults: %+v", c)
	}
	c, err = Load(env(map[string]string{"COST_PER_SECOND": "0.00076", "COST_TIMEZONE": "Asia/Kolkata", "METRICS_RETENTION": "72h"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.CostPerSecond != 760_000 || c.CostLocation.String() != "Asia/Kolkata" || c.MetricsRetention != 72*time.Hour {
		t.Fatalf("settings: %d, %s, %s", c.CostPerSecond, c.CostLocation, c.MetricsRetention)
	}
	_, err = Load(env(map[string]string{"COST_PER_SECOND": "-1", "COST_TIMEZONE": "Mars/Olympus", "METRICS_RETENTION": "5m",
		"METRICS_TOKEN": "too-short-to-guess", "DASHBOARD_SESSION_TTL": "9000h"}))
	for _, name := range []string{"COST_PER_SECOND", "COST_TIMEZONE", "METRICS_RETENTION", "METRICS_TOKEN", "DASHBOARD_SESSION_TTL"} {
		if err == nil || !strings.Contains(err.Error(), name+":") {
			t.Errorf("%s: not refused: %v", name, err)
		}
	}
	if err != nil && strings.Contains(err.Error(), "too-short-to-guess") {
		t.Errorf("error shows the token: %v", err)
	}
}

func TestCrossChecks(t *testing.T) {
	t.Parallel()
	if _, err := Load(env(map[string]string{"STORAGE": "s3"})); err == nil || !strings.Contains(err.Error(), "S3_BUCKET") {
		t.Fatalf("s3 without bucket: %v", err)
	}
	if _, err := Load(env(map[string]string{"JOB_TIMEOUT": "5m", "JOB_RESCUE_AFTER": "1m"})); err == nil {
		t.Fatal("rescue before timeout accepted")
	}
}

func TestSecretFromFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte("a-key-from-a-file-0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(env(map[string]string{"API_KEY_FILE": path}))
	if err != nil {
		t.Fatal(err)
	}
	if c.APIKey != "a-key-from-a-file-0123" {
		t.Fatalf("APIKey = %q", c.APIKey)
	}
	if _, err := Load(env(map[string]string{"API_KEY_FILE": path + ".missing"})); err == nil {
		t.Fatal("missing file accepted")
	}
}

// TestDocumented keeps docs/configuration.md's table equal to the code's.
// Regenerate it with: go test ./internal/config -run TestDocumented -update
func TestDocumented(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "configuration.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	const begin, end = "<!-- vars:begin -->\n", "<!-- vars:end -->"
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the %q … %q markers", path, begin, end)
	}
	want := Table()
	if got := doc[i+len(begin) : j]; got != want {
		if *update {
			if err := os.WriteFile(path, []byte(doc[:i+len(begin)]+want+doc[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("%s is out of date with internal/config; run: go test ./internal/config -run TestDocumented -update", path)
	}
}

func TestRunPodAndGeneratorSettings(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{
		"BACKEND": "runpod", "RUNPOD_ENDPOINT_ID": "abc123", "RUNPOD_API_KEY": "rpa_secret",
		"GENERATOR": "command", "GENERATOR_COMMAND": "python3 infer.py --out {output}",
		"GENERATOR_ENV": "CUDA_VISIBLE_DEVICES, HF_HOME,UNSET_ONE", "CUDA_VISIBLE_DEVICES": "0", "HF_HOME": "/models",
		"AWS_SECRET": "never-passed",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.GeneratorEnv, " "); got != "CUDA_VISIBLE_DEVICES=0 HF_HOME=/models" {
		t.Errorf("GeneratorEnv = %q", got)
	}
	if c.AttemptTimeout() != time.Hour+time.Minute || c.JobRescueAfter != time.Hour+2*time.Minute ||
		c.RunPodExecutionTimeout != c.JobTimeout || c.RunPodPrice != 190_000 {
		t.Errorf("attempt %s, rescue %s, execution timeout %s, price %d", c.AttemptTimeout(), c.JobRescueAfter, c.RunPodExecutionTimeout, c.RunPodPrice)
	}
	for name, vars := range map[string]map[string]string{
		"no endpoint":        {"BACKEND": "runpod", "RUNPOD_API_KEY": "k"},
		"no key":             {"BACKEND": "runpod", "RUNPOD_ENDPOINT_ID": "e"},
		"ttl over a week":    {"BACKEND": "runpod", "RUNPOD_ENDPOINT_ID": "e", "RUNPOD_API_KEY": "k", "RUNPOD_TTL": "200h"},
		"timeout past ttl":   {"BACKEND": "runpod", "RUNPOD_ENDPOINT_ID": "e", "RUNPOD_API_KEY": "k", "RUNPOD_TTL": "1m", "RUNPOD_EXECUTION_TIMEOUT": "2m"},
		"command without":    {"GENERATOR": "command"},
		"endpoint with path": {"RUNPOD_ENDPOINT_ID": "../v1"},
		"api url with query": {"RUNPOD_API_URL": "https://api.runpod.ai?x=1"},
	} {
		if _, err := Load(env(vars)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "rpa_secret") {
			t.Errorf("%s: the error shows the key", name)
		}
	}
}

// TestAlertSettings: the alert rules' defaults and the channels as the
// operator writes them; a bad value names its variable, never a secret.
func TestAlertSettings(t *testing.T) {
	t.Parallel()
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.CostDailyThreshold != 10_000_000_000 || c.CostMonthlyBudget != 0 || c.AlertFailureRatio != 0.05 ||
		c.AlertFailureMinJobs != 10 || c.AlertQueueWait != 15*time.Minute || c.AlertEvalInterval != time.Minute ||
		c.AlertRepeatInterval != 4*time.Hour || c.AlertRateLimitRefusals != 100 || c.CostDailyCap != 0 || c.CostMonthlyCap != 0 ||
		len(c.AlertWebhookURLs) != 0 || len(c.AlertEmailTo) != 0 {
		t.Fatalf("alert defaults: %+v", c)
	}
	secret := "whsec_" + strings.Repeat("QUJD", 8) // base64 of 24 bytes
	c, err = Load(env(map[string]string{
		"COST_DAILY_THRESHOLD_USD": "0.0001", "COST_MONTHLY_BUDGET_USD": "250", "COST_DAILY_CAP_USD": "20",
		"ALERT_WEBHOOK_URLS":   " https://hooks.slack.com/services/T0/B0/xyz , http://alerts.internal:9093/hook ",
		"ALERT_WEBHOOK_SECRET": secret, "ALERT_EMAIL_TO": "ops@example.com, Owner <owner@example.com>",
		"ALERT_EMAIL_FROM": "Avatar API <alerts@example.com>", "SMTP_URL": "smtps://user:pa55word@smtp.example.com",
		"ALERT_REPEAT_INTERVAL": "0", "ALERT_QUEUE_WAIT": "0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.CostDailyThreshold != 100_000 || c.CostMonthlyBudget != 250_000_000_000 || c.CostDailyCap != 20_000_000_000 ||
		len(c.AlertWebhookURLs) != 2 || c.AlertWebhookURLs[1] != "http://alerts.internal:9093/hook" ||
		c.AlertWebhookSecret != secret || len(c.AlertEmailTo) != 2 || c.AlertRepeatInterval != 0 || c.AlertQueueWait != 0 {
		t.Fatalf("alert settings: %+v", c)
	}
	_, err = Load(env(map[string]string{
		"ALERT_WEBHOOK_URLS":   "https://hooks.slack.com/services/T0/B0/xyz,ftp://hunter2.example/x",
		"ALERT_WEBHOOK_SECRET": "whsec_not-base64-hunter3", "SMTP_URL": "smtp://user:hunter4@:bad:port",
		"ALERT_FAILURE_RATIO": "2", "COST_DAILY_CAP_USD": "-1",
	}))
	if err == nil {
		t.Fatal("no error")
	}
	for _, name := range []string{"ALERT_WEBHOOK_URLS", "ALERT_WEBHOOK_SECRET", "SMTP_URL", "ALERT_FAILURE_RATIO", "COST_DAILY_CAP_USD"} {
		if !strings.Contains(err.Error(), name+":") {
			t.Errorf("error does not name %s: %s", name, err)
		}
	}
	for _, secret := range []string{"xyz", "hunter2", "hunter3", "hunter4"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error shows a secret: %s", err)
		}
	}
	if _, err := Load(env(map[string]string{"ALERT_EMAIL_TO": "ops@example.com"})); err == nil ||
		!strings.Contains(err.Error(), "ALERT_EMAIL_FROM and SMTP_URL") {
		t.Errorf("email without a sender or server: %v", err)
	}
}

// TestSecuritySettings: TLS files both or neither (and loadable), trusted
// proxies as CIDRs, CORS origins exact.
func TestSecuritySettings(t *testing.T) {
	t.Parallel()
	cert, key, _ := testkit.TLSCert(t)
	c, err := Load(env(map[string]string{
		"TLS_CERT_FILE": cert, "TLS_KEY_FILE": key,
		"TRUSTED_PROXIES": "10.0.0.0/8, 2001:db8::/32, 192.0.2.7",
		"CORS_ORIGINS":    "https://app.example.com, http://localhost:3000,https://app.example.com",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.PublicURL != "https://localhost:8080" {
		t.Errorf("PUBLIC_URL by default with TLS_CERT_FILE: %q, want https://localhost:8080", c.PublicURL)
	}
	if c.TLSCertFile != cert || c.TLSKeyFile != key || len(c.TrustedProxies) != 3 ||
		strings.Join(c.CORSOrigins, " ") != "https://app.example.com http://localhost:3000" {
		t.Errorf("got TLS %q %q, proxies %v, origins %q", c.TLSCertFile, c.TLSKeyFile, c.TrustedProxies, c.CORSOrigins)
	}
	// The scheme of PUBLIC_URL decides HSTS (App.ServerOptions): kept in
	// lower case whatever was written.
	if c, err := Load(env(map[string]string{"PUBLIC_URL": "HTTPS://Avatar.example.com/"})); err != nil {
		t.Errorf("PUBLIC_URL=HTTPS://…: %v", err)
	} else if c.PublicURL != "https://Avatar.example.com" {
		t.Errorf("PUBLIC_URL=HTTPS://…: %q", c.PublicURL)
	}
	if c, err := Load(env(map[string]string{"CORS_ORIGINS": "*"})); err != nil || len(c.CORSOrigins) != 1 {
		t.Errorf("CORS_ORIGINS=*: %v, %v", c, err)
	}
	for _, bad := range []map[string]string{
		{"TLS_CERT_FILE": cert},
		{"TLS_KEY_FILE": key},
		{"TLS_CERT_FILE": key, "TLS_KEY_FILE": cert},
		{"TLS_CERT_FILE": filepath.Join(t.TempDir(), "none.pem"), "TLS_KEY_FILE": key},
		{"TRUSTED_PROXIES": "10.0.0.0/40"},
		{"TRUSTED_PROXIES": "proxy.internal"},
		{"CORS_ORIGINS": "https://app.example.com/"},
		{"CORS_ORIGINS": "https://app.example.com/path"},
		{"CORS_ORIGINS": "app.example.com"},
		{"CORS_ORIGINS": "https://App.Example.com"},
		{"CORS_ORIGINS": "ftp://app.example.com"},
		{"CORS_ORIGINS": "https://app.example.com:443"},
		{"CORS_ORIGINS": "http://localhost:80"},
		{"CORS_ORIGINS": "*, https://app.example.com"},
		{"CORS_ORIGINS": "https://user@app.example.com"},
	} {
		_, err := Load(env(bad))
		if err == nil {
			t.Errorf("%v accepted", bad)
			continue
		}
		for name := range bad {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("%v: error does not name %s: %v", bad, name, err)
			}
		}
	}
}
