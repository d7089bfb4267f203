package dashboard

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/avatar-api/avatar-api/internal/testkit"
)

// alertsPanel reads the alerts panel and the spending cap's banner: the
// panel's state and whether each is shown, the firing alerts and channel
// rows as text, the messages, and the banner's texts and reset time (its
// <time>'s datetime, and the text the page's own format gives it).
const alertsPanel = `(() => {
	const p = document.querySelector('[data-panel=alerts]');
	const b = document.getElementById('cap-banner');
	const shown = (e) => !e.hidden && e.getBoundingClientRect().height > 0;
	const t = (id) => document.getElementById(id).textContent;
	const resets = document.getElementById('cap-banner-resets');
	const gen = new Date(document.body.dataset.generatedAt);
	return {
		state: p.dataset.state, shown: String(shown(p)),
		firing: [...p.querySelectorAll('#alerts-firing li')].map((li) => li.dataset.severity + ' | ' +
			[...li.children].map((e) => e.textContent).join(' | ')).join('\n'),
		count: t('alerts-firing-count'),
		none: shown(document.getElementById('alerts-none')) ? t('alerts-none') : '',
		channels: [...p.querySelectorAll('#alerts-channels tbody tr')].map((tr) => tr.className + ' ' + tr.dataset.channel + ' | ' +
			[...tr.cells].map((td) => td.textContent).join(' | ')).join('\n'),
		channelsShown: String(shown(document.getElementById('alerts-channels'))),
		noChannel: shown(document.getElementById('alerts-no-channel')) ? t('alerts-no-channel') : '',
		cap: t('alerts-cap'),
		banner: String(shown(b)), role: b.getAttribute('role'), period: b.dataset.period || '',
		bannerText: shown(b) ? [...b.children].map((e) => e.textContent).join('\n') : '',
		resetsAt: resets ? resets.getAttribute('datetime') : '',
		resetsWhen: resets ? Dashboard.format.when(new Date(resets.getAttribute('datetime')), gen) : '',
		sinceWhen: Dashboard.format.when(new Date(gen - 12 * 60000), gen),
		notifiedWhen: Dashboard.format.when(new Date(gen - 11 * 60000), gen),
		failingWhen: Dashboard.format.when(new Date(gen - 10 * 60000), gen),
	};
})()`

// TestDashboardAlerts: the alerts panel shows what fires and the
// channels, a failing one in red with its error, says when nothing fires
// and when no channel is configured, and is hidden from a server without
// alert state; a banner above the cards says new jobs are refused while
// the spending cap is reached, and goes when it no longer is.
func TestDashboardAlerts(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	base := time.Now().Truncate(time.Second)
	step := 0
	api.respond(answerWith(sample(base, "24h", 6)))
	ctx := browse(t)
	do(t, ctx, "loading the page", chromedp.Navigate(api.URL+"/dashboard"))
	// show answers with a busy day and a from now on, and waits until the
	// page has drawn it.
	show := func(what string, a *alerts) (map[string]string, time.Time) {
		t.Helper()
		step++
		d := sample(base.Add(time.Duration(step)*time.Minute), "24h", 6)
		d.Alerts = a
		api.respond(answerWith(d))
		states := map[string]string{"alerts": "ready"}
		if a == nil {
			states["alerts"] = "off"
		}
		waitJS(t, ctx, what, `document.body.dataset.generatedAt === `+jsString(d.GeneratedAt.Format(time.RFC3339))+` && `+panelsAre(states))
		return eval[map[string]string](t, ctx, alertsPanel), d.GeneratedAt
	}
	next := func() time.Time { return base.Add(time.Duration(step+1) * time.Minute) } // the next answer's generated_at

	got, _ := show("no alert state", nil)
	if got["shown"] != "false" || got["banner"] != "false" {
		t.Errorf("without alert state: %q", got)
	}

	got, _ = show("an alert firing, a channel failing", sampleAlerts(next()))
	want := "critical | critical | GPU cost today is $12.40, over the $10.00 threshold | firing since " + got["sinceWhen"] + " (12 min ago), last notified " + got["notifiedWhen"]
	if got["shown"] != "true" || got["firing"] != want || got["count"] != "1 firing" || got["none"] != "" {
		t.Errorf("firing:\n%s\nwant\n%s\n(%q)", got["firing"], want, got)
	}
	rows := strings.Split(got["channels"], "\n")
	if len(rows) != 3 ||
		!strings.HasPrefix(rows[0], "failing webhook:hooks.slack.com:3f2a9c1e | webhook:hooks.slack.com:3f2a9c1e | webhook | ") ||
		!strings.HasSuffix(rows[0], " failed | 1 | 4 | 3") ||
		rows[1] != `channel-error webhook:hooks.slack.com:3f2a9c1e | Failing since `+got["failingWhen"]+` (10 min ago): POST https://hooks.slack.com/…: 500 <img src=x onerror="document.title='pwned'">` ||
		!strings.HasPrefix(rows[2], " email:smtp.example.com:9b1d04aa | email:smtp.example.com:9b1d04aa | email | ") ||
		!strings.HasSuffix(rows[2], " delivered | 0 | 5 | 0") {
		t.Errorf("channels:\n%s", got["channels"])
	}
	if got["noChannel"] != "" || got["cap"] != "Spending cap: $10.00 a day, $200.00 a month." || got["banner"] != "false" {
		t.Errorf("a cap not reached, channels configured: %q", got)
	}
	if !eval[bool](t, ctx, `getComputedStyle(document.querySelector('[data-panel=alerts] tr.channel-error td')).color === 'rgb(180, 35, 24)'`) {
		t.Error("the failing channel's error is not shown in red")
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('main img').length`); n != 0 || eval[string](t, ctx, `document.title`) == "pwned" {
		t.Errorf("%d elements made from the channel error's markup", n)
	}
	screenshot(t, ctx, "alerts.png")

	// Nothing firing, no channel configured but an old one still holding
	// notifications, no cap.
	got, _ = show("nothing firing, no channel configured", &alerts{
		Firing:   []firingAlert{},
		Channels: []alertChannel{{Channel: "email:old.example.com:0c0ffee0", Kind: "email", Pending: 2}},
	})
	if got["firing"] != "" || got["none"] != "No alerts firing" || got["count"] != "none firing" ||
		got["noChannel"] != "No alert channels configured: set ALERT_WEBHOOK_URLS or ALERT_EMAIL_TO — see docs/monitoring.md" ||
		got["channels"] != " email:old.example.com:0c0ffee0 | email:old.example.com:0c0ffee0 not configured | email | never | 2 | 0 | 0" ||
		got["cap"] != "No spending cap." || got["banner"] != "false" {
		t.Errorf("quiet alerts: %q", got)
	}
	got, _ = show("no channel at all", &alerts{})
	if got["channelsShown"] != "false" || got["noChannel"] == "" || got["none"] != "No alerts firing" {
		t.Errorf("no channels at all: %q", got)
	}

	// The daily cap reached: the banner names it, what was spent, and
	// when jobs are taken again.
	exhausted := sampleAlerts(next())
	resets := next().Add(13 * time.Hour).Truncate(time.Hour)
	exhausted.Cap = &spendingCap{DailyUSD: num(10), MonthlyUSD: num(200), Exhausted: true, Period: "day", SpentUSD: 10.42, ResetsAt: &resets}
	got, _ = show("the daily cap reached", exhausted)
	wantBanner := "New jobs are being refused\n" +
		"The daily spending cap of $10.00 is reached ($10.42 spent today): new jobs are answered HTTP 429 budget_exhausted.\n" +
		"They are accepted again from " + got["resetsWhen"] + ".\n" +
		"To accept them sooner, raise COST_DAILY_CAP_USD and restart the service; otherwise wait."
	if got["banner"] != "true" || got["role"] != "alert" || got["period"] != "day" || got["bannerText"] != wantBanner ||
		got["resetsAt"] != resets.Format(time.RFC3339) || got["resetsWhen"] == "—" {
		t.Errorf("banner:\n%s\nwant\n%s\n(%q)", got["bannerText"], wantBanner, got)
	}
	if got["cap"] != "Spending cap: $10.00 a day (reached), $200.00 a month." {
		t.Errorf("cap: %q", got["cap"])
	}
	if !eval[bool](t, ctx, `(() => {
		const b = document.getElementById('cap-banner').getBoundingClientRect();
		const top = document.querySelector('.topbar').getBoundingClientRect();
		const first = document.querySelector('[data-panel=queue]').getBoundingClientRect();
		return b.top >= top.bottom && b.bottom <= first.top && Math.abs(b.left - first.left) < 1; })()`) {
		t.Error("the banner is not between the header and the cards")
	}
	screenshot(t, ctx, "cap-banner.png")

	// The monthly cap, then no longer reached at the next refresh.
	exhausted = sampleAlerts(next())
	monthEnd := time.Date(next().Year(), next().Month()+1, 1, 0, 0, 0, 0, time.UTC)
	exhausted.Cap = &spendingCap{MonthlyUSD: num(200), Exhausted: true, Period: "month", SpentUSD: 200.5, ResetsAt: &monthEnd}
	got, _ = show("the monthly cap reached", exhausted)
	if !strings.HasPrefix(got["bannerText"], "New jobs are being refused\nThe monthly spending cap of $200.00 is reached ($200.50 spent this month)") ||
		!strings.Contains(got["bannerText"], "raise COST_MONTHLY_CAP_USD and restart") || got["resetsAt"] != monthEnd.Format(time.RFC3339) {
		t.Errorf("monthly cap banner: %q", got)
	}
	got, _ = show("the cap no longer reached", sampleAlerts(next()))
	if got["banner"] != "false" || got["shown"] != "true" {
		t.Errorf("after the cap's reset: %q", got)
	}
	got, _ = show("alert state gone again", nil)
	if got["banner"] != "false" || got["shown"] != "false" {
		t.Errorf("without alert state again: %q", got)
	}

	if errs := testkit.BrowserErrors(ctx); len(errs) > 0 {
		t.Errorf("the page reported errors:\n%s", strings.Join(errs, "\n"))
	}
}
