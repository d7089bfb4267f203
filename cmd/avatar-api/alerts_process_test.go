package main_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/testkit"
)

// TestCostAlertByHand is the story's manual check, run on the real
// binary: `avatar-api serve` with COST_DAILY_THRESHOLD_USD=0.0001 and the
// rules evaluated every second runs one job, and the owner's webhook
// receiver and mailbox each get the alert once; `alerts list` shows it
// firing and delivered, and `alerts test` reaches both channels.
func TestCostAlertByHand(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var hooks [][]byte
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hooks = append(hooks, b)
		mu.Unlock()
	}))
	defer rcv.Close()
	got := func() [][]byte {
		mu.Lock()
		defer mu.Unlock()
		return append([][]byte(nil), hooks...)
	}
	smtp := testkit.StartSMTP(t, "", "")
	dir := t.TempDir()
	env := []string{
		"COST_DAILY_THRESHOLD_USD=0.0001", "ALERT_EVAL_INTERVAL=1s",
		"ALERT_WEBHOOK_URLS=" + rcv.URL + "/alerts", "ALERT_WEBHOOK_SECRET=whsec_" + strings.Repeat("c2VjcmV0", 4),
		"ALERT_EMAIL_TO=owner@example.com", "ALERT_EMAIL_FROM=alerts@example.com", "SMTP_URL=smtp://" + smtp.Addr,
		"GENERATOR=still", "FACE_CHECK=false",
	}
	p := start(t, dir, env...)
	form, ct := testkit.Multipart(t,
		testkit.Part{Name: "image", File: testkit.Fixture("astronaut.png")},
		testkit.Part{Name: "audio", File: testkit.Fixture("speech_en_12s.wav")},
		testkit.Part{Name: "width", Value: "256"}, testkit.Part{Name: "height", Value: "256"})
	id := p.post(t, form, ct)
	p.waitFor(t, id, 2*time.Minute, "completed")
	testkit.WaitFor(t, 30*time.Second, "the webhook and the email", func() bool {
		return len(got()) >= 1 && len(smtp.Mail()) >= 1
	})
	envAll := append([]string{"DATA_DIR=" + dir}, env...)
	// Two more evaluations find it firing (the alert's row says when it
	// was last evaluated): nothing more may have been sent.
	after := time.Now().Add(2 * time.Second)
	testkit.WaitFor(t, 30*time.Second, "two more evaluations", func() bool {
		var list struct {
			Alerts []struct{ EvaluatedAt time.Time }
		}
		if err := json.Unmarshal([]byte(cli(t, envAll, "alerts", "list", "--json")), &list); err != nil {
			t.Fatal(err)
		}
		return len(list.Alerts) == 1 && list.Alerts[0].EvaluatedAt.After(after)
	})
	if len(got()) != 1 || len(smtp.Mail()) != 1 {
		t.Fatalf("%d webhooks and %d emails, want 1 each", len(got()), len(smtp.Mail()))
	}
	var payload struct {
		Status string `json:"status"`
		Alerts []struct {
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"alerts"`
	}
	if err := json.Unmarshal(got()[0], &payload); err != nil || payload.Status != "firing" ||
		payload.Alerts[0].Labels["alertname"] != "cost_daily" ||
		!strings.HasSuffix(payload.Alerts[0].Annotations["summary"], "over the $0.0001 threshold") {
		t.Errorf("webhook %s (%v)", got()[0], err)
	}

	var list struct {
		Alerts []struct {
			Key    string
			Firing bool
		}
		Notifications []struct {
			State  string
			Status string
		}
	}
	if err := json.Unmarshal([]byte(cli(t, envAll, "alerts", "list", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Alerts) != 1 || !list.Alerts[0].Firing || !strings.HasPrefix(list.Alerts[0].Key, "cost_daily/") ||
		len(list.Notifications) != 2 || list.Notifications[0].State != "delivered" || list.Notifications[1].State != "delivered" {
		t.Errorf("alerts list: %+v", list)
	}
	table := cli(t, envAll, "alerts", "list")
	for _, want := range []string{"cost_daily", "$0.0001 a day", "firing", "delivered", "webhook:127.0.0.1:", "email:127.0.0.1:"} {
		if !strings.Contains(table, want) {
			t.Errorf("alerts list lacks %q:\n%s", want, table)
		}
	}
	out := cli(t, envAll, "alerts", "test")
	if strings.Count(out, ": delivered (") != 2 || len(got()) != 2 || len(smtp.Mail()) != 2 {
		t.Errorf("alerts test:\n%s(%d webhooks, %d emails in all)", out, len(got()), len(smtp.Mail()))
	}
	out = cli(t, envAll, "alerts", "test", "--channel", "email")
	if !strings.HasPrefix(out, "email") || strings.Count(out, "\n") != 1 || len(smtp.Mail()) != 3 {
		t.Errorf("alerts test --channel email:\n%s", out)
	}
	// A channel that fails makes the command fail, and say why.
	cmd := exec.Command(binary, "alerts", "test", "--channel", "webhook")
	cmd.Env = append(os.Environ(), append(envAll, "ALERT_WEBHOOK_URLS=http://"+deadAddr(t)+"/x")...)
	b, err := cmd.Output()
	if err == nil || !strings.Contains(string(b), "NOT delivered") {
		t.Errorf("alerts test to a dead receiver: %v\n%s", err, b)
	}
	// A channel asked for and not configured: what to set for that one.
	cmd = exec.Command(binary, "alerts", "test", "--channel", "email")
	cmd.Env = append(os.Environ(), append(envAll, "ALERT_EMAIL_TO=")...)
	b, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "no email channel is configured: set ALERT_EMAIL_TO, ALERT_EMAIL_FROM and SMTP_URL") {
		t.Errorf("alerts test --channel email without email: %v\n%s", err, b)
	}
}
