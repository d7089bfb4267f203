package serverless

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/testkit"
)

// runpodEnv is a worker's environment as RunPod sets it.
var runpodEnv = map[string]string{
	"RUNPOD_WEBHOOK_GET_JOB":     "https://api.runpod.ai/v2/ep1/job-take/$ID?gpu=NVIDIA+L4",
	"RUNPOD_WEBHOOK_POST_OUTPUT": "https://api.runpod.ai/v2/ep1/job-done/$RUNPOD_POD_ID/$ID?gpu=NVIDIA+L4",
	"RUNPOD_WEBHOOK_PING":        "https://api.runpod.ai/v2/ep1/ping/$RUNPOD_POD_ID?gpu=NVIDIA+L4",
	"RUNPOD_AI_API_KEY":          "rpa_SECRETKEY",
	"RUNPOD_POD_ID":              "pod1",
	"RUNPOD_ENDPOINT_ID":         "ep1",
	"RUNPOD_PING_INTERVAL":       "4000",
}

func getenv(m map[string]string, edits ...string) func(string) string {
	env := map[string]string{}
	for k, v := range m {
		env[k] = v
	}
	for i := 0; i+1 < len(edits); i += 2 {
		env[edits[i]] = edits[i+1]
	}
	return func(k string) string { return env[k] }
}

func TestEnvFrom(t *testing.T) {
	t.Parallel()
	e, err := EnvFrom(getenv(runpodEnv))
	if err != nil {
		t.Fatal(err)
	}
	want := Env{GetJob: runpodEnv["RUNPOD_WEBHOOK_GET_JOB"], PostOutput: runpodEnv["RUNPOD_WEBHOOK_POST_OUTPUT"],
		Ping: runpodEnv["RUNPOD_WEBHOOK_PING"], AIKey: "rpa_SECRETKEY", PodID: "pod1", EndpointID: "ep1", PingInterval: 4 * time.Second}
	if e != want {
		t.Errorf("got %+v", e)
	}

	e, err = EnvFrom(getenv(runpodEnv, "RUNPOD_PING_INTERVAL", "", "RUNPOD_WEBHOOK_PING", ""))
	if err != nil || e.PingInterval != DefaultPingInterval || e.Ping != "" {
		t.Errorf("without a ping: %+v, %v", e, err)
	}
}

// TestEnvFromNamesWhatIsWrong: every variable missing or malformed is
// named, and no value is quoted.
func TestEnvFromNamesWhatIsWrong(t *testing.T) {
	t.Parallel()
	_, err := EnvFrom(getenv(runpodEnv, "RUNPOD_AI_API_KEY", "", "RUNPOD_POD_ID", "",
		"RUNPOD_WEBHOOK_POST_OUTPUT", "ftp://x/?sig=SECRETSIG", "RUNPOD_PING_INTERVAL", "ten"))
	if err == nil {
		t.Fatal("no error")
	}
	for _, name := range []string{"RUNPOD_AI_API_KEY", "RUNPOD_POD_ID", "RUNPOD_WEBHOOK_POST_OUTPUT", "RUNPOD_PING_INTERVAL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("%q does not name %s", err, name)
		}
	}
	if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "ten") {
		t.Errorf("%q quotes a value", err)
	}
	_, err = EnvFrom(getenv(nil))
	if err == nil || !strings.Contains(err.Error(), "RUNPOD_WEBHOOK_GET_JOB is not set") {
		t.Errorf("empty environment: %v", err)
	}
}

// TestEnvShowsNoSecret: an Env logged or printed shows neither the key
// nor the URLs' queries.
func TestEnvShowsNoSecret(t *testing.T) {
	t.Parallel()
	e, err := EnvFrom(getenv(runpodEnv, "RUNPOD_WEBHOOK_GET_JOB", "https://user:SECRETPW@api.runpod.ai/v2/ep1/job-take/$ID?token=SECRETTOKEN"))
	if err != nil {
		t.Fatal(err)
	}
	var log testkit.Buffer
	slog.New(slog.NewJSONHandler(&log, nil)).Info("env", "env", e)
	for _, s := range []string{log.String(), fmt.Sprint(e), fmt.Sprintf("%+v", e)} {
		if strings.Contains(s, "SECRET") {
			t.Errorf("shows a secret: %s", s)
		}
		if !strings.Contains(s, "/v2/ep1/job-take/$ID") {
			t.Errorf("does not show the URL's path: %s", s)
		}
	}
}

func TestWithParams(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"https://h/p", "https://h/p?a=1&b=x%2Cy"},
		{"https://h/p?gpu=NVIDIA+L4", "https://h/p?gpu=NVIDIA+L4&a=1&b=x%2Cy"},
		{"https://h/p?", "https://h/p?a=1&b=x%2Cy"},
		{"https://h/p?k=v&", "https://h/p?k=v&a=1&b=x%2Cy"},
	} {
		got := withParams(c.in, "a", "1", "b", "x,y")
		if got != c.want {
			t.Errorf("withParams(%q) = %q; want %q", c.in, got, c.want)
		}
		if u, err := url.Parse(got); err != nil || u.Query().Get("b") != "x,y" {
			t.Errorf("%q does not parse back: %v", got, err)
		}
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://bucket.s3/key.png?X-Amz-Signature=abc#frag": "https://bucket.s3/key.png",
		"https://u:p@h/p?q":   "https://h/p",
		"http://h/p":          "http://h/p",
		"":                    "",
		"http://h/%zz?secret": "(unparsable URL)",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q; want %q", in, got, want)
		}
	}
	err := redactErr(&url.Error{Op: "Get", URL: "https://h/p?sig=SECRET", Err: errors.New("refused")})
	if strings.Contains(err.Error(), "SECRET") {
		t.Errorf("redactErr: %v", err)
	}
}

// TestWorkerURLs: the worker's URLs are RunPod's with the ids filled in
// and the SDK's parameters added, whether or not RunPod's have a query;
// the stop channel is job-take's URL with /job-stop/, and there is none
// when that URL has no /job-take/ (rp_job.py _job_stop_url).
func TestWorkerURLs(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name             string
		env              Env
		take, stop, done string
	}{
		{
			name: "with a query",
			env: Env{GetJob: "https://r/v2/ep/job-take/$ID?gpu=L4", PostOutput: "https://r/v2/ep/job-done/$RUNPOD_POD_ID/$ID?gpu=L4",
				Ping: "https://r/v2/ep/ping/$RUNPOD_POD_ID?gpu=L4", PodID: "pod1"},
			take: "https://r/v2/ep/job-take/pod1?gpu=L4&job_in_progress=0",
			stop: "https://r/v2/ep/job-stop/pod1?gpu=L4",
			done: "https://r/v2/ep/job-done/pod1/job-9?gpu=L4&isStream=false",
		},
		{
			name: "without one",
			env: Env{GetJob: "https://r/v2/ep/job-take/$ID", PostOutput: "https://r/v2/ep/job-done/$RUNPOD_POD_ID/$ID",
				Ping: "https://r/v2/ep/ping/$RUNPOD_POD_ID", PodID: "pod1"},
			take: "https://r/v2/ep/job-take/pod1?job_in_progress=0",
			stop: "https://r/v2/ep/job-stop/pod1",
			done: "https://r/v2/ep/job-done/pod1/job-9?isStream=false",
		},
		{
			name: "no job-take in the URL",
			env:  Env{GetJob: "https://r/take?pod=$ID", PostOutput: "https://r/done?pod=$RUNPOD_POD_ID&job=$ID", PodID: "pod1"},
			take: "https://r/take?pod=pod1&job_in_progress=0",
			done: "https://r/done?pod=pod1&job=job-9&isStream=false",
		},
	} {
		l := (&Worker{Env: c.env}).loop()
		if got := withParams(l.takeURL, "job_in_progress", "0"); got != c.take {
			t.Errorf("%s: take %q; want %q", c.name, got, c.take)
		}
		if l.stopURL != c.stop {
			t.Errorf("%s: stop %q; want %q", c.name, l.stopURL, c.stop)
		}
		if got := l.doneURL("job-9"); got != c.done {
			t.Errorf("%s: done %q; want %q", c.name, got, c.done)
		}
		if c.env.Ping != "" && strings.Contains(l.pingURL, "$") {
			t.Errorf("%s: ping %q", c.name, l.pingURL)
		}
	}
}
