package dashboard

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/avatar-api/avatar-api/internal/testkit"
)

// webhooksPanel reads the webhooks panel: its state and whether it is
// shown, its rows as text (each with its customer and its cells' classes),
// the header's count, the empty message when shown, and the texts the
// page's own format gives the times of sampleWebhooks.
const webhooksPanel = `(() => {
	const p = document.querySelector('[data-panel=webhooks]');
	const shown = (e) => !e.hidden && e.getBoundingClientRect().height > 0;
	const msg = p.querySelector('.empty-message');
	const gen = new Date(document.body.dataset.generatedAt);
	return {
		state: p.dataset.state, shown: String(shown(p)),
		rows: [...p.querySelectorAll('tbody tr')].map((tr) => tr.dataset.customer + ' | ' +
			[...tr.cells].map((td) => td.textContent).join(' | ')).join('\n'),
		classes: [...p.querySelectorAll('tbody tr')].map((tr) => [...tr.cells].map((td) => td.className).join(',')).join('\n'),
		tableShown: String(shown(p.querySelector('table'))),
		count: document.getElementById('webhooks-count').textContent,
		empty: shown(msg) ? msg.textContent : '',
		acmeTried: Dashboard.format.when(new Date(gen - 3 * 60000), gen),
		acmeDelivered: Dashboard.format.when(new Date(gen - 2 * 3600000), gen),
		umbrellaTried: Dashboard.format.when(new Date(gen - 20 * 60000), gen),
	};
})()`

// TestDashboardWebhooks: the webhooks panel lists the customers whose
// endpoints fail — the endpoint as displayed, retrying, given up (in
// red), delivered of all, the last failure as text, when last tried and
// last delivered —, says when none fails, and is hidden from a server
// without webhook health.
func TestDashboardWebhooks(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	base := time.Now().Truncate(time.Second)
	step := 0
	api.respond(answerWith(sample(base, "24h", 6)))
	ctx := browse(t)
	do(t, ctx, "loading the page", chromedp.Navigate(api.URL+"/dashboard"))
	show := func(what string, w *webhooks, state string) map[string]string {
		t.Helper()
		step++
		d := sample(base.Add(time.Duration(step)*time.Minute), "24h", 6)
		d.Webhooks = w
		api.respond(answerWith(d))
		waitJS(t, ctx, what, `document.body.dataset.generatedAt === `+jsString(d.GeneratedAt.Format(time.RFC3339))+` && `+
			panelsAre(map[string]string{"webhooks": state}))
		return eval[map[string]string](t, ctx, webhooksPanel)
	}
	next := func() time.Time { return base.Add(time.Duration(step+1) * time.Minute) }

	if got := show("no webhook health", nil, "off"); got["shown"] != "false" {
		t.Errorf("without webhook health: %q", got)
	}

	got := show("two customers failing", sampleWebhooks(next()), "ready")
	rows := strings.Split(got["rows"], "\n")
	wantAcme := "acme | acme | https://hooks.acme.example/… #1f2e3d4c | 2 | 1 | 9 / 12 | no answer post to https://hooks.acme.example/… #1f2e3d4c: " +
		"dial tcp 203.0.113.7:443: connect: connection refused | " + got["acmeTried"] + " | " + got["acmeDelivered"]
	wantUmbrella := `umbrella | umbrella | https://umbrella.example/… #0a0b0c0d | 1 | 0 | 0 / 1 | HTTP 500 status 500 "<img src=x onerror=\"document.title='pwned'\">" | ` +
		got["umbrellaTried"] + " | none"
	if got["shown"] != "true" || len(rows) != 2 || rows[0] != wantAcme || rows[1] != wantUmbrella {
		t.Errorf("rows:\n%s\nwant\n%s\n%s\n(%q)", got["rows"], wantAcme, wantUmbrella, got)
	}
	if got["count"] != "2 failing, last 24 h" || got["empty"] != "" || got["tableShown"] != "true" {
		t.Errorf("header and empty state with failures: %q", got)
	}
	if c := strings.Split(got["classes"], "\n"); len(c) != 2 || !strings.Contains(c[0], "num bad") || !strings.Contains(c[0], "num warn") ||
		strings.Contains(c[1], "num bad") {
		t.Errorf("cell classes:\n%s", got["classes"])
	}
	if !eval[bool](t, ctx, `getComputedStyle(document.querySelector('[data-panel=webhooks] td.bad')).color === 'rgb(180, 35, 24)'`) {
		t.Error("the given-up count is not shown in red")
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('main img').length`); n != 0 || eval[string](t, ctx, `document.title`) == "pwned" {
		t.Errorf("%d elements made from the endpoint error's markup", n)
	}
	if !eval[bool](t, ctx, `(() => { const p = document.querySelector('[data-panel=webhooks]').getBoundingClientRect();
		return p.width > 0 && p.right <= document.documentElement.clientWidth + 1; })()`) {
		t.Error("the webhooks panel does not fit the page")
	}
	screenshot(t, ctx, "webhooks.png")

	got = show("nothing failing", &webhooks{Since: next().Add(-24 * time.Hour), Failing: []failingWebhook{}}, "empty")
	if got["shown"] != "true" || got["rows"] != "" || got["tableShown"] != "false" ||
		got["empty"] != "No failing webhook endpoints in the last 24 h" || got["count"] != "failing endpoints, last 24 h" {
		t.Errorf("nothing failing: %q", got)
	}
	if got := show("webhook health gone again", nil, "off"); got["shown"] != "false" {
		t.Errorf("without webhook health again: %q", got)
	}

	if errs := testkit.BrowserErrors(ctx); len(errs) > 0 {
		t.Errorf("the page reported errors:\n%s", strings.Join(errs, "\n"))
	}
}
