package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/avatar-api/avatar-api/internal/testkit"
)

// fakeAPI serves the page, its assets and login page as the API does
// (with the CSP), and a data endpoint whose answer the test sets.
type fakeAPI struct {
	*httptest.Server
	mu     sync.Mutex
	answer func(rng string) (int, any)
	seen   map[string]chan struct{} // closed at the first request for a key
}

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{seen: map[string]chan struct{}{}}
	mux := http.NewServeMux()
	page := func(render func(http.ResponseWriter) error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Security-Policy", ContentSecurityPolicy)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			if err := render(w); err != nil {
				t.Error(err)
			}
		}
	}
	mux.Handle("GET /dashboard", page(func(w http.ResponseWriter) error { return RenderPage(w, pageData()) }))
	mux.Handle("GET /dashboard/login", page(func(w http.ResponseWriter) error {
		f.note("login")
		return RenderLogin(w, LoginData{Action: "/dashboard/login"})
	}))
	mux.Handle("GET /dashboard/assets/", Assets())
	mux.HandleFunc("GET /dashboard/data", func(w http.ResponseWriter, r *http.Request) {
		rng := r.URL.Query().Get("range")
		f.note("range=" + rng)
		f.mu.Lock()
		status, body := f.answer(rng)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		// A poll the page abandoned (it navigated, or the test ended) finds
		// the connection closed: not the page's fault.
		if err := json.NewEncoder(w).Encode(body); err != nil && !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) && r.Context().Err() == nil {
			t.Error(err)
		}
	})
	f.Server = httptest.NewServer(withNosniff(mux))
	t.Cleanup(f.Close)
	return f
}

// withNosniff is the server's own header, which Assets relies on.
func withNosniff(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

// respond sets how the data endpoint answers from now on.
func (f *fakeAPI) respond(answer func(rng string) (int, any)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answer = answer
}

// data answers every range with d, its range set to the one asked.
func answerWith(d data) func(string) (int, any) {
	return func(rng string) (int, any) {
		d.Range = rng
		return http.StatusOK, d
	}
}

func (f *fakeAPI) signal(key string) chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seen[key] == nil {
		f.seen[key] = make(chan struct{})
	}
	return f.seen[key]
}

func (f *fakeAPI) note(key string) {
	ch := f.signal(key)
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// waitRequest waits for the first request for key ("range=7d", "login").
func (f *fakeAPI) waitRequest(t *testing.T, ctx context.Context, key string) {
	t.Helper()
	select {
	case <-f.signal(key):
	case <-ctx.Done():
		t.Fatalf("the page never asked for %s: %v", key, ctx.Err())
	}
}

// browse opens a browser with the test's overall deadline.
func browse(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(testkit.Browser(t), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v\nerrors in the page: %q", what, err, testkit.BrowserErrors(ctx))
	}
}

// waitJS waits until the JavaScript expression cond holds in the page.
func waitJS(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	do(t, ctx, "waiting for "+what, chromedp.Poll[chromedp.Void](cond,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(0)))
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

// panelsAre is a condition: every panel in the state its name maps to,
// "ready" for those not named but RunPod's, the alerts' and the
// webhooks', "off" (hidden) unless named.
func panelsAre(states map[string]string) string {
	want := map[string]string{"runpod": "off", "alerts": "off", "webhooks": "off"}
	maps.Copy(want, states)
	b, _ := json.Marshal(want)
	return `(() => { const want = ` + string(b) + `;
		const ps = [...document.querySelectorAll('section.panel[data-panel]')];
		return ps.length === 13 && ps.every(p => p.dataset.state === (want[p.dataset.panel] || 'ready') &&
			p.hidden === (p.dataset.state === 'off')); })()`
}

// texts are the texts of elements by id.
func texts(t *testing.T, ctx context.Context, ids map[string]string) map[string]string {
	t.Helper()
	keys := make([]string, 0, len(ids))
	for id := range ids {
		keys = append(keys, id)
	}
	b, _ := json.Marshal(keys)
	return eval[map[string]string](t, ctx, `Object.fromEntries(`+string(b)+`.map(id => [id, document.getElementById(id).textContent]))`)
}

func checkTexts(t *testing.T, ctx context.Context, want map[string]string) {
	t.Helper()
	got := texts(t, ctx, want)
	for id, w := range want {
		if got[id] != w {
			t.Errorf("#%s shows %q, want %q", id, got[id], w)
		}
	}
}

// textsAre is a condition: every element shows its text.
func textsAre(want map[string]string) string {
	b, _ := json.Marshal(want)
	return `Object.entries(` + string(b) + `).every(([id, s]) => document.getElementById(id).textContent === s)`
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := testkit.Artifact(t, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// chartsFit is a condition: every chart is drawn within its card.
const chartsFit = `[...document.querySelectorAll('.chart:not([hidden])')].every(c => {
	const u = c.querySelector('.uplot');
	return u && u.getBoundingClientRect().width <= c.clientWidth + 1 && u.getBoundingClientRect().width >= c.clientWidth - 2;
})`

// TestDashboard loads the page against data of a busy day, sees every
// panel drawn with the numbers of the data, the next poll's numbers
// replace them without a reload, and a new range is asked for at once.
func TestDashboard(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	at := time.Now()
	first := sample(at, "24h", 1)
	api.respond(answerWith(first))
	ctx := browse(t)

	do(t, ctx, "loading the page", chromedp.Navigate(api.URL+"/dashboard"))
	waitJS(t, ctx, "every panel drawn", panelsAre(nil))
	checkTexts(t, ctx, map[string]string{
		"stat-queued": "3", "stat-running": "1",
		"stat-success": "93.2 %", "stat-completed": "110", "stat-failed": "8", "stat-cancelled": "2",
		"stat-p50": "1.2 s", "stat-p95": "3.4 s", "stat-p99": "5.0 s",
		"cost-today": "$1.23", "cost-month": "$45.67", "cost-forecast": "$80.12",
	})
	if n := eval[int](t, ctx, `document.querySelectorAll('[data-panel] canvas').length`); n != 6 {
		t.Errorf("%d charts drawn, want 6", n)
	}
	// Markup in the data is text: the failure whose message is an <img>,
	// the customer whose name has <b>.
	if got := eval[string](t, ctx, `[...document.querySelectorAll('[data-panel=failures] td.message')].map(td => td.textContent).join('\n')`); !strings.Contains(got, `<img src=x onerror="document.title='pwned'">`) {
		t.Errorf("failure messages:\n%s", got)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('main img, main b').length`); n != 0 {
		t.Errorf("%d elements made from the data's markup", n)
	}

	// The next poll, without a reload: a marker set on this document
	// survives, and the browser made one navigation only.
	do(t, ctx, "marking the document", chromedp.Evaluate[chromedp.Void](`window.sameDocument = true`))
	second := sample(at.Add(time.Minute), "24h", 2)
	second.Now = now{Queued: num(7), Running: num(2)}
	second.Jobs.SuccessRatio, second.Jobs.Completed = num(0.875), num(112)
	second.Jobs.GenerationSeconds.P95 = num(125)
	second.Cost.TodayUSD = num(0.0021)
	second.Cost.BudgetUSD = num(100)
	api.respond(answerWith(second))
	want := map[string]string{"stat-queued": "7", "stat-running": "2", "stat-success": "87.5 %", "stat-completed": "112", "stat-p95": "2 min 5 s", "cost-today": "$0.0021"}
	waitJS(t, ctx, "the second poll's numbers", textsAre(want)+
		` && document.body.dataset.generatedAt === `+jsString(second.GeneratedAt.Format(time.RFC3339)))
	if !eval[bool](t, ctx, `window.sameDocument === true && performance.getEntriesByType('navigation').length === 1`) {
		t.Error("the page was reloaded to show the next poll")
	}
	if got := eval[string](t, ctx, `document.getElementById('cost-budget-text').textContent`); got != "46 % of $100.00 budget" {
		t.Errorf("budget: %q", got)
	}

	// Another range: asked for at once, remembered in the hash.
	do(t, ctx, "choosing 7d", chromedp.Click(chromedp.CSS(`button[data-range="7d"]`)))
	api.waitRequest(t, ctx, "range=7d")
	waitJS(t, ctx, "the 7d data drawn", `location.hash === '#range=7d' && document.body.dataset.shownRange === '7d' && `+panelsAre(nil))
	if !eval[bool](t, ctx, `document.querySelector('button[data-range="7d"]').getAttribute('aria-pressed') === 'true'`) {
		t.Error("the 7d button is not shown pressed")
	}
	waitJS(t, ctx, "charts fitted to 1440", chartsFit)
	screenshot(t, ctx, "dashboard.png")

	// Under the cursor a stacked chart's legend tells each class's own
	// count, not the running total it is drawn with.
	at2 := eval[[]float64](t, ctx, `(() => { const r = document.querySelector('[data-chart=requests-hourly] .u-over').getBoundingClientRect();
		return [r.x + r.width / 2, r.y + r.height / 2]; })()`)
	do(t, ctx, "hovering the hourly chart", chromedp.MouseEvent(chromedp.MouseMoved, at2[0], at2[1]))
	legend := `[...document.querySelectorAll('[data-chart=requests-hourly] .u-legend .u-value')].map(v => v.textContent)`
	waitJS(t, ctx, "the legend's values", legend+`.slice(1).every(v => /^[0-9,]+$/.test(v))`)
	if v := eval[[]string](t, ctx, legend); len(v) != 5 || v[0] == "—" || count(v[4]) >= count(v[1]) {
		t.Errorf("legend under the cursor (time, 2xx, 3xx, 4xx, 5xx): %q", v)
	}

	do(t, ctx, "narrowing the window", chromedp.EmulateViewport(1024, 900))
	waitJS(t, ctx, "charts fitted to 1024", `innerWidth === 1024 && `+chartsFit)
	screenshot(t, ctx, "dashboard-1024.png")

	if errs := testkit.BrowserErrors(ctx); len(errs) > 0 {
		t.Errorf("the page reported errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestDashboardQuietAndSignedOut: no GPU workers and no failures are
// said, not drawn; a failed poll keeps the data under a banner; a 401
// sends the page to the login page.
func TestDashboardQuietAndSignedOut(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	quiet := sample(time.Now(), "24h", 3)
	quiet.GPU = gpu{Workers: []gpuWorker{}, Message: "no GPU workers — CPU generator"}
	quiet.RecentFailures = []failure{}
	api.respond(answerWith(quiet))
	ctx := browse(t)

	do(t, ctx, "loading the page", chromedp.Navigate(api.URL+"/dashboard#range=6h"))
	api.waitRequest(t, ctx, "range=6h")
	waitJS(t, ctx, "every panel drawn or empty", panelsAre(map[string]string{"gpu": "empty", "failures": "empty"}))
	got := eval[map[string]string](t, ctx, `({
		gpu: document.querySelector('[data-panel=gpu] .empty-message').textContent,
		failures: document.querySelector('[data-panel=failures] .empty-message').textContent,
		canvases: String(document.querySelectorAll('[data-panel=gpu] canvas').length),
	})`)
	if got["gpu"] != "no GPU workers — CPU generator" || got["failures"] == "" || got["canvases"] != "0" {
		t.Errorf("the quiet panels show %q", got)
	}
	screenshot(t, ctx, "quiet.png")

	api.respond(func(string) (int, any) {
		return http.StatusInternalServerError, map[string]string{"title": "Internal Server Error"}
	})
	waitJS(t, ctx, "the banner", `!document.getElementById('banner').hidden`)
	banner := eval[string](t, ctx, `document.getElementById('banner').textContent`)
	if !strings.HasPrefix(banner, "Could not refresh: ") || !strings.HasSuffix(banner, ", retrying") {
		t.Errorf("banner: %q", banner)
	}
	checkTexts(t, ctx, map[string]string{"stat-queued": "3", "stat-success": "93.2 %"})

	// Nothing at all yet (a new install), after the failures: the banner
	// goes, and every list and chart says there is nothing.
	bare := data{GeneratedAt: quiet.GeneratedAt.Add(time.Minute), Timezone: "Mars/Olympus_Mons", StepSeconds: 900}
	api.respond(answerWith(bare))
	waitJS(t, ctx, "the bare data drawn", `document.getElementById('banner').hidden && document.body.dataset.generatedAt === `+jsString(bare.GeneratedAt.Format(time.RFC3339))+` && `+
		panelsAre(map[string]string{"gpu": "empty", "failures": "empty", "workers": "empty", "top-customers": "empty", "requests-hourly": "empty", "requests-daily": "empty"}))
	if n := eval[int](t, ctx, `document.querySelectorAll('.chart.no-data').length`); n != 3 {
		t.Errorf("%d charts of the big numbers say there is no data, want 3", n)
	}
	checkTexts(t, ctx, map[string]string{"stat-queued": "—", "stat-success": "—", "stat-p95": "—", "cost-today": "—"})

	api.respond(func(string) (int, any) {
		return http.StatusUnauthorized, map[string]string{"title": "Unauthorized"}
	})
	api.waitRequest(t, ctx, "login")
	do(t, ctx, "waiting for the login form", chromedp.WaitVisible(chromedp.CSS(`input[name=key]`)))
	if loc := eval[string](t, ctx, `location.pathname`); loc != "/dashboard/login" {
		t.Errorf("after a 401 the page is at %s", loc)
	}
	screenshot(t, ctx, "login.png")

	// The failed polls are the only errors.
	for _, e := range testkit.BrowserErrors(ctx) {
		if !strings.Contains(e, "status of 500") && !strings.Contains(e, "status of 401") {
			t.Errorf("the page reported: %s", e)
		}
	}
}

// TestBrowserSeesCSPViolations shows that the dashboard tests' "no
// errors" covers the CSP: a page that breaks it is reported.
func TestBrowserSeesCSPViolations(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", ContentSecurityPolicy)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!DOCTYPE html><html><head><style>p{}</style></head>` +
			`<body><p style="color:red">x</p><script>document.title = "ran"</script></body></html>`))
	}))
	t.Cleanup(srv.Close)
	ctx := browse(t)
	do(t, ctx, "loading the page", chromedp.Navigate(srv.URL))
	if title := eval[string](t, ctx, `document.title`); title == "ran" {
		t.Fatal("the inline script ran: no CSP")
	}
	var csp int
	for _, e := range testkit.BrowserErrors(ctx) {
		if strings.Contains(e, "Content Security Policy") {
			csp++
		}
	}
	if csp != 3 {
		t.Errorf("%d CSP violations reported, want 3 (style element, style attribute, script):\n%s", csp, strings.Join(testkit.BrowserErrors(ctx), "\n"))
	}
}

// count reads a count as the page writes it ("1,234").
func count(s string) float64 {
	f, _ := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64)
	return f
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
