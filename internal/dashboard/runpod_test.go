package dashboard

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/avatar-api/avatar-api/internal/testkit"
)

// runpodPanel reads the RunPod panel: its state, whether it is shown, the
// texts of its figures and of its age, its messages.
const runpodPanel = `(() => {
	const p = document.querySelector('[data-panel=runpod]');
	const t = (sel) => p.querySelector(sel).textContent;
	const shown = (sel) => !p.querySelector(sel).hidden;
	return {
		state: p.dataset.state, shown: String(!p.hidden && p.getBoundingClientRect().height > 0),
		figures: ['running', 'in-queue', 'in-progress', 'idle', 'ready', 'initializing', 'throttled', 'unhealthy']
			.map((id) => id + '=' + document.getElementById('runpod-' + id).textContent).join(' '),
		figuresShown: String(shown('.runpod-figures')),
		read: t('#runpod-read'), stale: String(p.querySelector('#runpod-read').classList.contains('stale')),
		empty: shown('.empty-message') ? t('.empty-message') : '',
		failed: shown('#runpod-failed') ? t('#runpod-failed') : '',
	};
})()`

// TestDashboardRunPod: with BACKEND=runpod the page shows a panel of the
// endpoint's workers and queue as last read and how long ago, says when
// no read has succeeded yet and when the last read failed, and shows no
// panel at all when the data has no runpod (another backend).
func TestDashboardRunPod(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	base := time.Now().Truncate(time.Second)
	step := 0
	api.respond(answerWith(sample(base, "24h", 5)))
	ctx := browse(t)
	do(t, ctx, "loading the page", chromedp.Navigate(api.URL+"/dashboard"))
	// show answers with a busy day and rp from now on, and waits until the
	// page has drawn it.
	show := func(what string, rp *runpod) map[string]string {
		t.Helper()
		step++
		d := sample(base.Add(time.Duration(step)*time.Minute), "24h", 5)
		d.RunPod = rp
		api.respond(answerWith(d))
		states := map[string]string{"runpod": "ready"}
		switch {
		case rp == nil:
			states["runpod"] = "off"
		case rp.ReadAt == nil:
			states["runpod"] = "empty"
		}
		waitJS(t, ctx, what, `document.body.dataset.generatedAt === `+jsString(d.GeneratedAt.Format(time.RFC3339))+` && `+panelsAre(states))
		return eval[map[string]string](t, ctx, runpodPanel)
	}
	now := func() time.Time { return base.Add(time.Duration(step+1) * time.Minute) } // the next answer's generated_at
	figures := &runpodWorkers{Idle: num(1), Initializing: num(2), Ready: num(1), Running: num(3), Throttled: num(0), Unhealthy: num(1)}
	queue := &runpodQueue{InQueue: num(1234), InProgress: num(3)}

	got := show("the panel before the first read", &runpod{IntervalSeconds: num(30)})
	if got["shown"] != "true" || got["figuresShown"] != "false" || got["read"] != "not read yet" ||
		got["empty"] != "Not read yet: RunPod's health is read every 30 s." || got["failed"] != "" {
		t.Errorf("before the first read: %q", got)
	}

	got = show("the panel after a failed first read", &runpod{FailedAt: timeAt(now().Add(-12 * time.Second)), IntervalSeconds: num(30)})
	if got["figuresShown"] != "false" || got["read"] != "not read yet" || got["stale"] != "true" ||
		got["empty"] != "Not read yet: the last read failed 12 s ago." {
		t.Errorf("after a failed first read: %q", got)
	}
	screenshot(t, ctx, "runpod-not-read.png")

	got = show("the panel with figures", &runpod{Workers: figures, Queue: queue, ReadAt: timeAt(now().Add(-4 * time.Second)), IntervalSeconds: num(30)})
	if want := "running=3 in-queue=1,234 in-progress=3 idle=1 ready=1 initializing=2 throttled=0 unhealthy=1"; got["figures"] != want {
		t.Errorf("figures: %s\n want %s", got["figures"], want)
	}
	if got["figuresShown"] != "true" || got["read"] != "read 4 s ago" || got["stale"] != "false" || got["empty"] != "" || got["failed"] != "" {
		t.Errorf("a good read: %q", got)
	}
	// A strip of its own under the big numbers, as wide as the grid.
	if !eval[bool](t, ctx, `(() => {
		const r = document.querySelector('[data-panel=runpod]').getBoundingClientRect();
		const cost = document.querySelector('[data-panel=cost]').getBoundingClientRect();
		const queue = document.querySelector('[data-panel=queue]').getBoundingClientRect();
		const next = document.querySelector('[data-panel=requests-hourly]').getBoundingClientRect();
		return r.top >= cost.bottom && r.bottom <= next.top && Math.abs(r.left - queue.left) < 1 && Math.abs(r.right - cost.right) < 1; })()`) {
		t.Error("the RunPod panel is not the strip under the big numbers")
	}
	screenshot(t, ctx, "runpod.png")

	// No failed read, but no new one for longer than three intervals (a
	// read that hangs): the age is shown as stale.
	got = show("the panel of an old read", &runpod{Workers: figures, Queue: queue, ReadAt: timeAt(now().Add(-2 * time.Minute)), IntervalSeconds: num(30)})
	if got["read"] != "read 2 min ago" || got["stale"] != "true" || got["failed"] != "" {
		t.Errorf("an old read: %q", got)
	}

	got = show("the panel after a failed read", &runpod{Workers: figures, Queue: queue,
		ReadAt: timeAt(now().Add(-2 * time.Minute)), FailedAt: timeAt(now().Add(-5 * time.Second)), IntervalSeconds: num(30)})
	if got["figuresShown"] != "true" || !strings.HasPrefix(got["figures"], "running=3 ") || got["read"] != "read 2 min ago" || got["stale"] != "true" ||
		!strings.HasPrefix(got["failed"], "Last read failed 5 s ago; the figures are from the last good read, 2 min ago") {
		t.Errorf("a failed read after a good one: %q", got)
	}
	screenshot(t, ctx, "runpod-failed.png")

	got = show("no panel without RunPod", nil)
	if got["shown"] != "false" {
		t.Errorf("without RunPod the panel is shown: %q", got)
	}
	if errs := testkit.BrowserErrors(ctx); len(errs) > 0 {
		t.Errorf("the page reported errors:\n%s", strings.Join(errs, "\n"))
	}
}
