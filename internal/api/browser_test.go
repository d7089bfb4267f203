package api_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/avatar-api/avatar-api/internal/store"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

// TestDashboardInABrowser: an operator signs in with an admin key in a
// real browser, and the dashboard shows, with no reload, the figures of
// real jobs as they complete. The screenshot is kept as a test artifact.
func TestDashboardInABrowser(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{})
	// Real jobs: three complete; one is failed by the sweep's transition
	// for a lost worker, as if its worker had died.
	var ids []string
	for range 3 {
		j, resp := tb.submit(t, keyA, portrait, speech, prompt)
		if resp.StatusCode != 202 {
			t.Fatalf("submit: %d", resp.StatusCode)
		}
		ids = append(ids, j.ID)
	}
	lost, _ := tb.submit(t, keyB, portrait, speech, prompt)
	if _, err := tb.store.Apply(context.Background(), store.ApplyParams{JobID: lost.ID, Transition: store.Fail,
		Code: "worker_lost", Message: "the job's worker stopped repeatedly before finishing it"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		tb.waitFor(t, keyA, id, "completed")
	}

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
	read := func(selector string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(`+strconv.Quote(selector)+`).textContent`))
		if err != nil {
			t.Fatalf("reading %s: %v", selector, err)
		}
		return v
	}
	text := func(id string) string { t.Helper(); return read("#" + id) }
	panel := func(name string) string { t.Helper(); return read(`section[data-panel="` + name + `"]`) }

	// Anyone is sent to the login form first.
	run("opening the dashboard", chromedp.Navigate(tb.url+"/dashboard"))
	wait("the login form", `location.pathname === "/dashboard/login" && !!document.querySelector("input[name=key]")`)
	run("signing in", chromedp.SendKeys(chromedp.CSS(`input[name=key]`), keyA), chromedp.Submit(chromedp.CSS(`input[name=key]`)))
	// The form's answer sends the browser to the page: wait for the page's
	// own element (a script polled meanwhile would be cut by the navigation).
	run("waiting for the dashboard", chromedp.WaitVisible(chromedp.CSS(`section[data-panel="queue"]`)))
	wait("the dashboard", `location.pathname === "/dashboard"`)
	run("marking the page", chromedp.Evaluate[chromedp.Void](`window.__sameDocument = true`))
	wait("every panel", `(() => { const ps = [...document.querySelectorAll("section.panel[data-panel]")];
		return ps.length === 13 && ps.every(p => p.dataset.state === "ready" ||
			(p.dataset.panel === "gpu" && p.dataset.state === "empty") || (p.dataset.panel === "runpod" && p.dataset.state === "off") ||
			(p.dataset.panel === "webhooks" && p.dataset.state === "empty")); })()`)
	if got := text("stat-completed"); got != "3" {
		t.Errorf("completed shows %q, want 3", got)
	}
	if got := text("stat-failed"); got != "1" {
		t.Errorf("failed shows %q, want 1", got)
	}
	if got := text("stat-success"); !strings.HasPrefix(got, "75") {
		t.Errorf("success rate shows %q, want 75 %%", got)
	}
	// The store reads webhook health: the panel is there, and no endpoint fails.
	if w := panel("webhooks"); !strings.Contains(w, "No failing webhook endpoints in the last 24 h") {
		t.Errorf("the webhooks panel says %q", w)
	}
	if gpu := panel("gpu"); !strings.Contains(gpu, "no GPU workers") {
		t.Errorf("the GPU panel says %q", gpu)
	}
	// BACKEND=local: no RunPod panel at all, not an empty one.
	if shown, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const p = document.querySelector("[data-panel=runpod]");
		return !p.hidden || p.getBoundingClientRect().height > 0; })()`)); err != nil || shown {
		t.Errorf("with BACKEND=local the RunPod panel is shown (%v)", err)
	}
	for _, id := range []string{"stat-p50", "stat-p95", "stat-p99", "cost-today", "cost-month", "cost-forecast"} {
		if v := text(id); v == "" || v == "—" {
			t.Errorf("#%s shows %q", id, v)
		}
	}
	failures := panel("failures")
	if !strings.Contains(failures, "worker_lost") || !strings.Contains(failures, "customer-b") {
		t.Errorf("recent failures show %q", failures)
	}
	top := panel("top-customers")
	if !strings.Contains(top, "customer-a") {
		t.Errorf("top customers show %q", top)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shot := testkit.Artifact(t, "dashboard.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)

	// Two more jobs complete: the page shows them at its next refresh,
	// in the same document.
	for range 2 {
		j, _ := tb.submit(t, keyA, portrait, speech, prompt)
		tb.waitFor(t, keyA, j.ID, "completed")
	}
	wait("the new jobs on the page", `document.getElementById("stat-completed").textContent === "5"`)
	same, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__sameDocument === true`))
	if err != nil || !same {
		t.Fatalf("the page was reloaded (%v)", err)
	}
	if errs := testkit.BrowserErrors(ctx); len(errs) > 0 {
		t.Errorf("errors in the page: %q", errs)
	}
}
