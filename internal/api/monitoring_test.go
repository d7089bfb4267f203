package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/apikey"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

const metricsToken = "metrics-token-for-prometheus-0123456789"

// customerKey makes a key with the generate scope alone.
func (tb *testBundle) customerKey(t *testing.T, customer string) string {
	t.Helper()
	c, err := tb.keys.Create(context.Background(), apikey.CreateParams{Customer: customer}, "test")
	if err != nil {
		t.Fatal(err)
	}
	return c.Key
}

// TestMonitoringAccess: /metrics and the dashboard refuse anonymous
// callers and customers' keys; METRICS_TOKEN reads /metrics and nothing
// else.
func TestMonitoringAccess(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{noWorkers: true, metricsToken: metricsToken})
	customer := tb.customerKey(t, "acme")
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct {
		path, key string
		want      int
	}{
		{"/metrics", "", 401},
		{"/metrics", customer, 403},
		{"/metrics", "wrong-" + metricsToken, 401},
		{"/metrics", keyA, 200},
		{"/metrics", metricsToken, 200},
		{"/dashboard/data", "", 401},
		{"/dashboard/data", customer, 403},
		{"/dashboard/data", metricsToken, 401}, // the token opens /metrics alone
		{"/dashboard/data", keyA, 200},
		{"/jobs", metricsToken, 401},
		{"/admin/keys", metricsToken, 401},
	} {
		resp := tb.call(t, http.MethodGet, c.path, c.key, nil, "", nil)
		if resp.StatusCode != c.want {
			t.Errorf("GET %s with %q: %d, want %d", c.path, short(c.key), resp.StatusCode, c.want)
		}
	}
	// The page sends anyone without a session to the login form, a bearer
	// key included: browsers send none, and the page needs a session.
	for _, key := range []string{"", customer, keyA} {
		req, _ := http.NewRequest(http.MethodGet, tb.url+"/dashboard", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/dashboard/login" {
			t.Errorf("GET /dashboard with %q: %d to %q, want 303 to the login page", short(key), resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// The login page and the assets are open; they hold no data.
	for _, path := range []string{"/dashboard/login"} {
		resp := tb.call(t, http.MethodGet, path, "", nil, "", nil)
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("GET %s: %d, CSP %q", path, resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
		}
	}
}

func short(key string) string {
	if len(key) > 12 {
		return key[:12] + "…"
	}
	return key
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, as a browser's first hop looks.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// login posts a key to the login form.
func login(t *testing.T, c *http.Client, base, key string, header ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/dashboard/login", strings.NewReader(url.Values{"key": {key}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestDashboardSessions: an admin key is exchanged for an HttpOnly,
// SameSite=Strict session cookie; a customer's key is refused, and so is a
// form from another site; the session ends at its expiry, at logout and
// with its key.
func TestDashboardSessions(t *testing.T) {
	t.Parallel()
	clock := &testkit.Clock{}
	tb := setup(t, options{noWorkers: true, clock: clock})
	customer := tb.customerKey(t, "acme")

	c := browser(t)
	if resp := login(t, c, tb.url, customer); resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
		t.Fatalf("a customer's key: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	if resp := login(t, c, tb.url, "av_live_nonsense"); resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Fatalf("a bad key: %d", resp.StatusCode)
	}
	if resp := login(t, c, tb.url, keyA, "Origin", "https://evil.example"); resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
		t.Fatalf("a form from another site: %d", resp.StatusCode)
	}
	if resp := login(t, c, tb.url, keyA, "Sec-Fetch-Site", "cross-site"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a cross-site form: %d", resp.StatusCode)
	}
	resp := login(t, c, tb.url, keyA, "Origin", tb.url)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/dashboard" {
		t.Fatalf("admin login: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	ck := cookies[0]
	if ck.Name != "avatar_session" || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure || ck.Path != "/dashboard" ||
		ck.MaxAge != int((12*time.Hour).Seconds()) || strings.Contains(ck.Value, keyA) {
		t.Fatalf("session cookie %+v", ck)
	}
	raw := resp.Header.Get("Set-Cookie")
	if !strings.Contains(raw, "HttpOnly") || !strings.Contains(raw, "SameSite=Strict") {
		t.Fatalf("Set-Cookie: %s", raw)
	}

	page, body := get(t, c, tb.url+"/dashboard")
	if page.StatusCode != 200 || !strings.Contains(string(body), "customer-a") || page.Header.Get("Content-Security-Policy") == "" ||
		page.Header.Get("Cache-Control") != "no-store" || page.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("the page with a session: %d, headers %v", page.StatusCode, page.Header)
	}
	data, body := get(t, c, tb.url+"/dashboard/data?range=1h")
	var d struct {
		Range string               `json:"range"`
		Now   struct{ Queued int } `json:"now"`
	}
	if data.StatusCode != 200 || json.Unmarshal(body, &d) != nil || d.Range != "1h" {
		t.Fatalf("data with a session: %d %s", data.StatusCode, body)
	}
	if bad, _ := get(t, c, tb.url+"/dashboard/data?range=1y"); bad.StatusCode != 422 {
		t.Fatalf("an unknown range: %d", bad.StatusCode)
	}

	// The session expires after DASHBOARD_SESSION_TTL (12 h by default).
	clock.Advance(12*time.Hour + time.Second)
	if data, _ := get(t, c, tb.url+"/dashboard/data"); data.StatusCode != 401 {
		t.Fatalf("an expired session: %d", data.StatusCode)
	}
	if page, _ := get(t, c, tb.url+"/dashboard"); page.StatusCode != http.StatusSeeOther {
		t.Fatalf("the page with an expired session: %d", page.StatusCode)
	}

	// Logout ends the session, on the server: the old cookie is dead.
	login(t, c, tb.url, keyA)
	u, _ := url.Parse(tb.url + "/dashboard")
	old := c.Jar.Cookies(u)
	req, _ := http.NewRequest(http.MethodPost, tb.url+"/dashboard/logout", nil)
	out, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out.Body.Close()
	if out.StatusCode != http.StatusSeeOther || len(out.Cookies()) != 1 || out.Cookies()[0].MaxAge >= 0 {
		t.Fatalf("logout: %d, cookies %v", out.StatusCode, out.Cookies())
	}
	replay := browser(t)
	replay.Jar.SetCookies(u, old)
	if data, _ := get(t, replay, tb.url+"/dashboard/data"); data.StatusCode != 401 {
		t.Fatalf("the cookie of a closed session: %d", data.StatusCode)
	}

	// Revoking the key ends its sessions.
	admin, err := tb.keys.Create(context.Background(), apikey.CreateParams{Customer: "ops", Scopes: []string{apikey.ScopeAdmin}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	fresh := browser(t)
	login(t, fresh, tb.url, admin.Key)
	if data, _ := get(t, fresh, tb.url+"/dashboard/data"); data.StatusCode != 200 {
		t.Fatalf("a new admin key's session: %d", data.StatusCode)
	}
	if _, err := tb.keys.Revoke(context.Background(), admin.Record.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if data, _ := get(t, fresh, tb.url+"/dashboard/data"); data.StatusCode != 401 {
		t.Fatalf("a session of a revoked key: %d", data.StatusCode)
	}
}

// TestMetricsMoveWithRequestsAndJobs: real requests and real jobs move the
// counters and histograms, and the exposition passes promtool.
func TestMetricsMoveWithRequestsAndJobs(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{metricsToken: metricsToken})
	before := scrape(t, tb.url+"/metrics", metricsToken)
	var ids []string
	for range 3 {
		j, resp := tb.submit(t, keyA, portrait, speech, prompt)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("submit: %d", resp.StatusCode)
		}
		ids = append(ids, j.ID)
	}
	for _, id := range ids {
		tb.waitFor(t, keyA, id, "completed")
	}
	tb.call(t, http.MethodGet, "/no/such/path", "", nil, "", nil)
	after := scrape(t, tb.url+"/metrics", metricsToken)
	testkit.Promtool(t, []byte(after))

	for _, c := range []struct {
		series string
		delta  float64
	}{
		{`avatar_http_requests_total{method="POST",route="/generate",status="2xx"}`, 3},
		{`avatar_http_requests_total{method="GET",route="unmatched",status="4xx"}`, 1},
		{`avatar_http_request_duration_seconds_count{method="POST",route="/generate"}`, 3},
		{`avatar_jobs_submitted_total{backend="local"}`, 3},
		{`avatar_jobs_finished_total{backend="local",code="none",outcome="completed"}`, 3},
		{`avatar_job_queue_wait_seconds_count{backend="local"}`, 3},
		{`avatar_job_generation_seconds_count{backend="local",outcome="completed"}`, 3},
		{`avatar_job_duration_seconds_count{backend="local",outcome="completed"}`, 3},
	} {
		if got := value(after, c.series) - value(before, c.series); got != c.delta {
			t.Errorf("%s moved by %g, want %g", c.series, got, c.delta)
		}
	}
	for _, series := range []string{`avatar_billed_seconds_total{backend="local"}`, `avatar_cost_usd_total{backend="local"}`,
		`avatar_worker_slots`, `avatar_worker_capacity_seconds_total`, `avatar_worker_busy_seconds_total`} {
		if value(after, series) <= 0 {
			t.Errorf("%s = %g, want more than 0", series, value(after, series))
		}
	}
	if value(after, `avatar_jobs_queued{backend="local"}`) != 0 || !strings.Contains(after, `avatar_jobs_running{backend="local"} 0`) {
		t.Errorf("an idle queue's gauges: %s", grepLines(after, "avatar_jobs_"))
	}
	if !strings.Contains(after, `avatar_jobs_queued{backend="local"} 0`) {
		t.Error("the queue gauge of the idle local backend is absent")
	}
	if strings.Contains(after, "avatar_gpu_") {
		t.Error("GPU gauges on a machine without a GPU")
	}
	if strings.Contains(after, "customer-a") || strings.Contains(after, keyA) {
		t.Error("a customer or key appears in the metrics")
	}
}

// value is the value of one series in an exposition (0 when absent).
func value(exposition, series string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(exposition)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestGPUWorker: a worker whose machine has an NVIDIA GPU (a script that
// prints nvidia-smi's documented output, first on the worker's path)
// samples it while it runs jobs: the readings reach the database, the
// dashboard draws them per worker instead of its "no GPU" message, and
// the worker's gauges show them while it is busy.
func TestGPUWorker(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{gpu: true, metricsToken: metricsToken})
	var ids []string
	for range 3 {
		j, resp := tb.submit(t, keyA, portrait, part{Name: "audio", File: fixture("speech_en_12s.wav")}, prompt)
		if resp.StatusCode != 202 {
			t.Fatalf("submit: %d", resp.StatusCode)
		}
		ids = append(ids, j.ID)
	}
	// One scrape shows both: the gauges are there only while a job runs,
	// and under load the last may end between two scrapes.
	var exposition string
	testkit.WaitFor(t, 60*time.Second, "the GPU gauges while jobs run", func() bool {
		exposition = scrape(t, tb.url+"/metrics", metricsToken)
		return strings.Contains(exposition, `avatar_gpu_utilization_ratio{gpu="0"} 0.87`)
	})
	if value(exposition, `avatar_gpu_memory_total_bytes{gpu="0"}`) != 24576<<20 {
		t.Errorf("memory gauges: %s", grepLines(exposition, "avatar_gpu_"))
	}
	for _, id := range ids {
		tb.waitFor(t, keyA, id, "completed")
	}
	var d struct {
		GPU struct {
			Workers []struct {
				Worker      string     `json:"worker"`
				Utilization []*float64 `json:"utilization"`
				Memory      []*float64 `json:"memory_used_ratio"`
			} `json:"workers"`
			Message string `json:"message"`
		} `json:"gpu"`
	}
	testkit.WaitFor(t, 30*time.Second, "GPU readings on the dashboard", func() bool {
		tb.call(t, http.MethodGet, "/dashboard/data?range=1h", keyA, nil, "", &d)
		return len(d.GPU.Workers) == 1
	})
	w := d.GPU.Workers[0]
	last := w.Utilization[len(w.Utilization)-1]
	if last == nil {
		last = w.Utilization[len(w.Utilization)-2] // the jobs ran in the minute before
	}
	if d.GPU.Message != "" || last == nil || *last < 0.8699 || *last > 0.8701 || !strings.Contains(w.Worker, ":") {
		t.Fatalf("the GPU panel: %+v (last %v)", d.GPU, last)
	}
}
