package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/avatar-api/avatar-api/internal/runpod/runpodtest"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

// dashRunPodService runs the service as setup does, with no workers and
// BACKEND=runpod on the RunPod double rp, whose health it reads every
// 100 ms. keyA is an admin key.
func dashRunPodService(t *testing.T, rp *runpodtest.Server) *testBundle {
	t.Helper()
	return setup(t, options{runpod: rp, noWorkers: true})
}

// dashRunPodBusy starts the double with one worker of its own, busy with
// the first of two jobs sent to it directly: RunPod's health is then one
// worker running, a job in progress and one in its queue. The jobs are
// not ours: the panel shows the endpoint as RunPod sees it.
func dashRunPodBusy(t *testing.T) *runpodtest.Server {
	t.Helper()
	rp := runpodtest.New(runpodtest.Options{LongPoll: 20 * time.Millisecond})
	t.Cleanup(rp.Close)
	rp.Run(func(ctx context.Context, _ json.RawMessage, _ func(json.RawMessage)) (json.RawMessage, string) {
		<-ctx.Done() // busy until stopped
		return nil, "stopped"
	})
	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, rp.URL()+"/v2/"+rp.Options().EndpointID+"/run", strings.NewReader(`{"input": {}}`))
		req.Header.Set("Authorization", "Bearer "+rp.Options().APIKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/run at the double: %d", resp.StatusCode)
		}
	}
	return rp
}

// dashRunPod is the dashboard's runpod as the JSON has it.
type dashRunPod struct {
	Workers *struct {
		Idle, Initializing, Ready, Running, Throttled, Unhealthy *int
	} `json:"workers"`
	Queue *struct {
		InQueue    *int `json:"in_queue"`
		InProgress *int `json:"in_progress"`
	} `json:"queue"`
	ReadAt          *time.Time `json:"read_at"`
	FailedAt        *time.Time `json:"failed_at"`
	IntervalSeconds float64    `json:"interval_seconds"`
}

// dashboardRunPod reads the runpod of /dashboard/data over rng, and its
// raw JSON.
func (tb *testBundle) dashboardRunPod(t *testing.T, rng string) (*dashRunPod, string) {
	t.Helper()
	var d map[string]json.RawMessage
	if resp := tb.call(t, http.MethodGet, "/dashboard/data?range="+rng, keyA, nil, "", &d); resp.StatusCode != http.StatusOK {
		t.Fatalf("dashboard data: %d", resp.StatusCode)
	}
	raw, ok := d["runpod"]
	if !ok {
		t.Fatalf("no runpod in the dashboard's data: %v", d)
	}
	var rp *dashRunPod
	if err := json.Unmarshal(raw, &rp); err != nil {
		t.Fatal(err)
	}
	return rp, string(raw)
}

func intIs(p *int, want int) bool { return p != nil && *p == want }

// TestDashboardDataRunPod: with BACKEND=runpod, /dashboard/data carries
// the endpoint's workers and queue as the service last read them from
// RunPod (a real poll of the double's /health), and when; a failed read
// since keeps the figures and says when it failed, as the metrics count
// it. With BACKEND=local runpod is null.
func TestDashboardDataRunPod(t *testing.T) {
	t.Parallel()
	rp := dashRunPodBusy(t)
	tb := dashRunPodService(t, rp)
	var got *dashRunPod
	var raw string
	testkit.WaitFor(t, 30*time.Second, "RunPod's figures on the dashboard", func() bool {
		got, raw = tb.dashboardRunPod(t, "24h")
		return got != nil && got.Workers != nil && intIs(got.Workers.Running, 1) && got.Queue != nil && intIs(got.Queue.InQueue, 1)
	})
	w, q := got.Workers, got.Queue
	if !intIs(w.Idle, 0) || !intIs(w.Initializing, 0) || !intIs(w.Ready, 0) || !intIs(w.Throttled, 0) || !intIs(w.Unhealthy, 0) ||
		!intIs(q.InProgress, 1) || got.FailedAt != nil || got.IntervalSeconds != 0.1 {
		t.Errorf("runpod: %s", raw)
	}
	if got.ReadAt == nil || time.Since(*got.ReadAt) > 10*time.Second || time.Since(*got.ReadAt) < 0 {
		t.Errorf("read_at: %v", got.ReadAt)
	}
	if other, _ := tb.dashboardRunPod(t, "30d"); other == nil || other.Workers == nil || !intIs(other.Workers.Running, 1) {
		t.Errorf("in the 30d range, runpod is %+v: RunPod's figures are now, in every range", other)
	}
	exposition := scrape(t, tb.url+"/metrics", keyA)
	if value(exposition, `avatar_runpod_workers{state="running"}`) != 1 || value(exposition, `avatar_runpod_jobs{state="in_queue"}`) != 1 {
		t.Errorf("the metrics of the same reads: %s", grepLines(exposition, "avatar_runpod_"))
	}

	// RunPod refuses the key from now on: the figures stay, as last read,
	// and the failed reads are told.
	rp.Fail("health", http.StatusUnauthorized, 1<<30)
	testkit.WaitFor(t, 30*time.Second, "a failed read on the dashboard", func() bool {
		got, raw = tb.dashboardRunPod(t, "1h")
		return got != nil && got.FailedAt != nil
	})
	if got.Workers == nil || !intIs(got.Workers.Running, 1) || got.ReadAt == nil || !got.FailedAt.After(*got.ReadAt) {
		t.Errorf("after a failed read: %s", raw)
	}
	if n := value(scrape(t, tb.url+"/metrics", keyA), "avatar_runpod_health_errors_total"); n < 1 {
		t.Errorf("avatar_runpod_health_errors_total = %g", n)
	}

	local := setup(t, options{noWorkers: true})
	if _, raw := local.dashboardRunPod(t, "24h"); raw != "null" {
		t.Errorf("with BACKEND=local, runpod is %s, want null", raw)
	}
}

// TestDashboardDataRunPodNotReadYet: before any read of RunPod's health
// has succeeded the figures are null, and a failed read is told.
func TestDashboardDataRunPodNotReadYet(t *testing.T) {
	t.Parallel()
	rp := runpodtest.New(runpodtest.Options{})
	t.Cleanup(rp.Close)
	rp.Fail("health", http.StatusUnauthorized, 1<<30)
	tb := dashRunPodService(t, rp)
	var got *dashRunPod
	var raw string
	testkit.WaitFor(t, 30*time.Second, "a failed read on the dashboard", func() bool {
		got, raw = tb.dashboardRunPod(t, "24h")
		return got != nil && got.FailedAt != nil
	})
	if got.Workers != nil || got.Queue != nil || got.ReadAt != nil || got.IntervalSeconds != 0.1 {
		t.Errorf("no read has succeeded: %s", raw)
	}
	if strings.Contains(scrape(t, tb.url+"/metrics", keyA), "avatar_runpod_workers") {
		t.Error("RunPod's worker gauges before any read")
	}
}

// TestDashboardDataSchema: the OpenAPI document tells what
// /dashboard/data answers of RunPod: an object or null, always present,
// with its figures, read_at and failed_at nullable.
func TestDashboardDataSchema(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{noWorkers: true})
	type schema struct {
		Type       any                        `json:"type"`
		Ref        string                     `json:"$ref"`
		Required   []string                   `json:"required"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	var spec struct {
		Components struct {
			Schemas map[string]schema `json:"schemas"`
		} `json:"components"`
	}
	if resp := tb.call(t, http.MethodGet, "/openapi.json", "", nil, "", &spec); resp.StatusCode != http.StatusOK {
		t.Fatalf("openapi: %d", resp.StatusCode)
	}
	schemas := spec.Components.Schemas
	prop := func(of, name string) schema {
		t.Helper()
		var s schema
		raw, ok := schemas[of].Properties[name]
		if !ok {
			t.Fatalf("%s has no property %s", of, name)
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	nullable := func(s schema, typ string) bool {
		b, _ := json.Marshal(s.Type)
		return string(b) == `["`+typ+`","null"]`
	}
	ref := func(s schema) schema {
		t.Helper()
		target, ok := schemas[strings.TrimPrefix(s.Ref, "#/components/schemas/")]
		if !ok {
			t.Fatalf("no schema %s", s.Ref)
		}
		return target
	}
	dash := schemas["Dashboard"]
	if !strings.Contains(","+strings.Join(dash.Required, ",")+",", ",runpod,") {
		t.Errorf("runpod is not required of Dashboard: %v", dash.Required)
	}
	panel := ref(prop("Dashboard", "runpod"))
	if !nullable(panel, "object") {
		t.Errorf("runpod's type is %v, want object or null", panel.Type)
	}
	for name, typ := range map[string]string{"workers": "object", "queue": "object", "read_at": "string", "failed_at": "string"} {
		s := prop("RunPodPanel", name)
		if s.Ref != "" {
			s = ref(s)
		}
		if !nullable(s, typ) {
			t.Errorf("runpod.%s's type is %v, want %s or null", name, s.Type, typ)
		}
	}
	if w := ref(prop("RunPodPanel", "workers")); len(w.Required) != 6 {
		t.Errorf("runpod.workers requires %v, want the six states", w.Required)
	}
}

// TestDashboardRunPodInABrowser: with BACKEND=runpod an operator sees, in
// a real browser, the RunPod panel with the endpoint's workers and queue
// as the service read them from the double, and how long ago; when the
// reads start failing, the page says so and keeps the last figures.
func TestDashboardRunPodInABrowser(t *testing.T) {
	t.Parallel()
	rp := dashRunPodBusy(t)
	tb := dashRunPodService(t, rp)
	ctx, cancel := context.WithTimeout(testkit.Browser(t), 90*time.Second)
	defer cancel()
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v\nerrors in the page: %q", what, err, testkit.BrowserErrors(ctx))
		}
	}
	wait := func(what, cond string) {
		t.Helper()
		run("waiting for "+what, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(0)))
	}
	texts := func() map[string]string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`Object.fromEntries(["running", "in-queue", "in-progress", "idle",
			"ready", "initializing", "throttled", "unhealthy", "read", "failed"].map(id => [id, document.getElementById("runpod-" + id).textContent]))`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	run("opening the dashboard", chromedp.Navigate(tb.url+"/dashboard"))
	wait("the login form", `!!document.querySelector("input[name=key]")`)
	run("signing in", chromedp.SendKeys(chromedp.CSS(`input[name=key]`), keyA), chromedp.Submit(chromedp.CSS(`input[name=key]`)))
	run("waiting for the dashboard", chromedp.WaitVisible(chromedp.CSS(`section[data-panel="queue"]`)))
	wait("RunPod's figures", `(() => { const p = document.querySelector("[data-panel=runpod]");
		return !p.hidden && p.dataset.state === "ready" && document.getElementById("runpod-running").textContent === "1"; })()`)
	got := texts()
	for id, want := range map[string]string{"running": "1", "in-queue": "1", "in-progress": "1", "idle": "0", "ready": "0",
		"initializing": "0", "throttled": "0", "unhealthy": "0", "failed": ""} {
		if got[id] != want {
			t.Errorf("#runpod-%s shows %q, want %q", id, got[id], want)
		}
	}
	if !strings.HasPrefix(got["read"], "read ") || !strings.HasSuffix(got["read"], " s ago") {
		t.Errorf("the panel says it was %q", got["read"])
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shot := testkit.Artifact(t, "dashboard-runpod.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)

	rp.Fail("health", http.StatusUnauthorized, 1<<30)
	wait("the failed read", `!document.getElementById("runpod-failed").hidden`)
	got = texts()
	if !strings.HasPrefix(got["failed"], "Last read failed ") || got["running"] != "1" || got["in-queue"] != "1" {
		t.Errorf("after failed reads the panel shows %q", got)
	}
	if errs := testkit.BrowserErrors(ctx); len(errs) > 0 {
		t.Errorf("errors in the page: %q", errs)
	}
}
