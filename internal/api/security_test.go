package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/apidocs"
	"github.com/avatar-api/avatar-api/internal/apikey"
	"github.com/avatar-api/avatar-api/internal/clientip"
	"github.com/avatar-api/avatar-api/internal/config"
	"github.com/avatar-api/avatar-api/internal/dashboard"
)

const apiCSP = "default-src 'none'; frame-ancestors 'none'"

// TestSecurityHeadersPerRoute: one route of each family, as a client
// gets it through the whole service: the headers every answer carries,
// the API's content security policy unless the page set its own, no-store
// on what answers a key, a download's own cache policy and ranges kept.
func TestSecurityHeadersPerRoute(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{metricsToken: metricsToken})
	j, resp := tb.submit(t, keyA, portrait, speech, prompt)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /generate = %d", resp.StatusCode)
	}
	tb.waitFor(t, keyA, j.ID, "completed")
	var res struct{ URL string }
	tb.call(t, http.MethodGet, "/result/"+j.ID, keyA, nil, "", &res)
	download := strings.TrimPrefix(res.URL, tb.url)

	for _, c := range []struct {
		name, method, path, key string
		header                  []string
		status                  int
		csp, cache, referrer    string
	}{
		{name: "open", method: "GET", path: "/health", status: 200, csp: apiCSP},
		{name: "problem", method: "POST", path: "/generate", status: 401, csp: apiCSP, cache: "no-store"},
		{name: "keyed", method: "GET", path: "/status/" + j.ID, key: keyA, status: 200, csp: apiCSP, cache: "no-store"},
		{name: "docs page", method: "GET", path: "/docs", status: 200, csp: apidocs.ContentSecurityPolicy, cache: "no-cache"},
		{name: "dashboard without a session", method: "GET", path: "/dashboard", status: 303, csp: apiCSP, cache: "no-store"},
		{name: "dashboard login page", method: "GET", path: "/dashboard/login", status: 200, csp: dashboard.ContentSecurityPolicy,
			cache: "no-store", referrer: "same-origin"},
		{name: "metrics", method: "GET", path: "/metrics", key: metricsToken, status: 200, csp: apiCSP, cache: "no-store"},
		{name: "download", method: "GET", path: download, status: 200, csp: apiCSP, cache: "private, max-age="},
		{name: "download range", method: "GET", path: download, header: []string{"Range", "bytes=0-99"}, status: 206, csp: apiCSP,
			cache: "private, max-age="},
		{name: "document", method: "GET", path: "/openapi.json", status: 200, csp: apiCSP},
	} {
		req, _ := http.NewRequest(c.method, tb.url+c.path, nil)
		if c.key != "" {
			req.Header.Set("Authorization", "Bearer "+c.key)
		}
		for i := 0; i+1 < len(c.header); i += 2 {
			req.Header.Set(c.header[i], c.header[i+1])
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h := resp.Header
		if resp.StatusCode != c.status {
			t.Errorf("%s: %s %s = %d, want %d: %.200s", c.name, c.method, c.path, resp.StatusCode, c.status, body)
		}
		for name, want := range map[string]string{
			"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Cross-Origin-Opener-Policy": "same-origin",
			"Content-Security-Policy": c.csp, "Referrer-Policy": cmpOr(c.referrer, "no-referrer"),
		} {
			if got := h.Get(name); got != want {
				t.Errorf("%s: %s %q, want %q", c.name, name, got, want)
			}
		}
		if got := h.Get("Cache-Control"); !strings.HasPrefix(got, c.cache) || (c.cache == "" && got != "") {
			t.Errorf("%s: Cache-Control %q, want %q", c.name, got, c.cache)
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS over plain HTTP with an http PUBLIC_URL", c.name)
		}
		if c.name == "download range" && (len(body) != 100 || h.Get("Last-Modified") == "" || h.Get("Accept-Ranges") != "bytes") {
			t.Errorf("download range: %d bytes, Last-Modified %q, Accept-Ranges %q", len(body), h.Get("Last-Modified"), h.Get("Accept-Ranges"))
		}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// preflight sends a CORS preflight of method to path from origin.
func (tb *testBundle) preflight(t *testing.T, path, origin, method string) *http.Response {
	t.Helper()
	return tb.call(t, http.MethodOptions, path, "", nil, "", nil,
		"Origin", origin, "Access-Control-Request-Method", method, "Access-Control-Request-Headers", "authorization,idempotency-key")
}

// TestCORS: with CORS_ORIGINS, a listed origin's pages may call the
// customer routes and the open ones (preflight 204, then the answer
// marked and its headers exposed); another origin gets no CORS header,
// and the operator's routes are never opened. Without it, nothing.
func TestCORS(t *testing.T) {
	t.Parallel()
	const app, evil = "https://app.example.com", "https://evil.example"
	tb := setup(t, options{noWorkers: true, metricsToken: metricsToken, configure: func(c *config.Config) {
		c.CORSOrigins = []string{app}
	}})

	for _, c := range []struct{ path, method string }{
		{"/status/0193a0f4-0000-7000-8000-000000000000", "GET"}, {"/generate", "POST"}, {"/whoami", "GET"},
		{"/files/results/x.mp4", "GET"}, {"/openapi.json", "GET"},
	} {
		resp := tb.preflight(t, c.path, app, c.method)
		h := resp.Header
		if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != app ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), c.method) ||
			h.Get("Access-Control-Allow-Headers") != "Authorization, Content-Type, Idempotency-Key, X-Request-ID, Last-Event-ID" ||
			h.Get("Access-Control-Max-Age") == "" || h.Get("Access-Control-Allow-Credentials") != "" ||
			!slices.Contains(h.Values("Vary"), "Origin") {
			t.Errorf("preflight %s %s from %s: %d %v", c.method, c.path, app, resp.StatusCode, h)
		}
	}
	refused := []struct{ path, method, origin string }{
		{"/status/x", "GET", evil},           // not listed
		{"/status/x", "GET", "null"},         // a sandboxed page, a file
		{"/admin/keys", "POST", app},         // the operator's
		{"/metrics", "GET", app},             // the scraper's
		{"/dashboard/data", "GET", app},      // the dashboard's
		{"/dashboard/login", "POST", app},    // its login, which sets a cookie
		{"/files/results/x.mp4", "PUT", app}, // a worker's upload
		{"/runpod/webhook/x/y", "POST", app}, // RunPod's callback
		{"/nowhere", "GET", app},             // no route
	}
	for _, c := range refused {
		resp := tb.preflight(t, c.path, c.origin, c.method)
		if resp.StatusCode == http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "" ||
			resp.Header.Get("Access-Control-Allow-Methods") != "" {
			t.Errorf("preflight %s %s from %s: %d %v, want no CORS", c.method, c.path, c.origin, resp.StatusCode, resp.Header)
		}
	}

	// The calls themselves.
	resp := tb.call(t, http.MethodGet, "/whoami", keyA, nil, "", nil, "Origin", app)
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != app ||
		!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "RateLimit-Policy") ||
		!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "Idempotent-Replayed") ||
		!slices.Contains(resp.Header.Values("Vary"), "Origin") {
		t.Errorf("GET /whoami from %s: %d %v", app, resp.StatusCode, resp.Header)
	}
	if resp := tb.call(t, http.MethodGet, "/whoami", "", nil, "", nil, "Origin", app); resp.StatusCode != 401 ||
		resp.Header.Get("Access-Control-Allow-Origin") != app {
		t.Errorf("a refusal is readable by the allowed page: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := tb.call(t, http.MethodGet, "/whoami", keyA, nil, "", nil, "Origin", evil); resp.Header.Get("Access-Control-Allow-Origin") != "" ||
		!slices.Contains(resp.Header.Values("Vary"), "Origin") {
		t.Errorf("GET /whoami from %s: %v", evil, resp.Header)
	}
	for _, path := range []string{"/admin/keys", "/metrics", "/dashboard/data"} {
		if resp := tb.call(t, http.MethodGet, path, keyA, nil, "", nil, "Origin", app); resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("GET %s from %s: %d %v, want no CORS", path, app, resp.StatusCode, resp.Header)
		}
	}

	// Without CORS_ORIGINS: no CORS header at all.
	plain := setup(t, options{noWorkers: true})
	if resp := plain.preflight(t, "/whoami", app, "GET"); resp.StatusCode != http.StatusMethodNotAllowed ||
		resp.Header.Get("Access-Control-Allow-Origin") != "" || resp.Header.Get("Vary") != "" {
		t.Errorf("preflight without CORS_ORIGINS: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := plain.call(t, http.MethodGet, "/whoami", keyA, nil, "", nil, "Origin", app); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("GET /whoami without CORS_ORIGINS: %v", resp.Header)
	}

	// "*": any origin, never with credentials.
	wildcard := setup(t, options{noWorkers: true, configure: func(c *config.Config) { c.CORSOrigins = []string{"*"} }})
	if resp := wildcard.preflight(t, "/whoami", evil, "GET"); resp.StatusCode != http.StatusNoContent ||
		resp.Header.Get("Access-Control-Allow-Origin") != "*" || resp.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("preflight with CORS_ORIGINS=*: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := wildcard.preflight(t, "/admin/keys", evil, "GET"); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("CORS_ORIGINS=* opened /admin/keys: %v", resp.Header)
	}
}

// TestClientAddressBehindProxies: failed logins are throttled by the
// client's address. From a peer that is not a trusted proxy, a forged
// X-Forwarded-For changes nothing (the throttle cannot be dodged); from a
// trusted proxy, the address it forwards for is the client, one hop or
// several, and the access log shows it.
func TestClientAddressBehindProxies(t *testing.T) {
	t.Parallel()
	fail := func(tb *testBundle, xff string) int {
		t.Helper()
		return login(t, browser(t), tb.url, "av_live_wrong", "X-Forwarded-For", xff).StatusCode
	}

	direct := setup(t, options{noWorkers: true})
	for i := range 10 {
		if got := fail(direct, "198.51.100."+strconv.Itoa(i)); got != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, got)
		}
	}
	if got := fail(direct, "203.0.113.77"); got != http.StatusTooManyRequests {
		t.Errorf("an untrusted peer with a fresh X-Forwarded-For after 10 failures: %d, want 429", got)
	}

	proxied := setup(t, options{noWorkers: true, configure: func(c *config.Config) {
		p, err := clientip.ParseProxies("127.0.0.0/8, 10.0.0.0/8")
		if err != nil {
			t.Fatal(err)
		}
		c.TrustedProxies = p
	}})
	for i := range 10 {
		// The client forges a hop to the left; two proxies add theirs.
		if got := fail(proxied, "6.6.6."+strconv.Itoa(i)+", 198.51.100.1, 10.0.0.2"); got != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, got)
		}
	}
	if got := fail(proxied, "198.51.100.1"); got != http.StatusTooManyRequests {
		t.Errorf("the same client through the trusted proxy: %d, want 429", got)
	}
	if got := fail(proxied, "198.51.100.2"); got != http.StatusUnauthorized {
		t.Errorf("another client through the trusted proxy: %d, want 401 (not throttled)", got)
	}
	var remotes []string
	for line := range strings.SplitSeq(proxied.logs.String(), "\n") {
		var l struct{ Msg, Path, Remote, Proxy string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "request" && l.Path == "/dashboard/login" {
			remotes = append(remotes, l.Remote+" via "+l.Proxy)
		}
	}
	if len(remotes) != 12 || remotes[0] != "198.51.100.1 via 127.0.0.1" || remotes[11] != "198.51.100.2 via 127.0.0.1" {
		t.Errorf("access log remotes: %q", remotes)
	}
}

// TestNoSecretsInLogs: a whole flow at LOG_LEVEL=debug — keys made by an
// operator, a webhook secret, a job generated and delivered to a webhook,
// its signed link fetched, a scrape, a dashboard session, failed
// attempts — and then the log holds none of the secrets it handled.
func TestNoSecretsInLogs(t *testing.T) {
	t.Parallel()
	const (
		pepper  = "pepper-that-must-never-be-logged-0001"
		signing = "signing-secret-that-must-never-be-logged-0001"
	)
	tb := setup(t, options{metricsToken: metricsToken, configure: func(c *config.Config) {
		c.APIKeyPepper, c.SigningSecret = pepper, signing
	}})
	ctx := context.Background()
	admin, err := tb.app.Keys.Create(ctx, apikey.CreateParams{Customer: "ops", Scopes: []string{"admin", "generate"}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	var created struct{ Key string }
	if resp := tb.call(t, http.MethodPost, "/admin/keys", admin.Key, strings.NewReader(`{"customer":"acme"}`), "application/json", &created); resp.StatusCode != 201 && resp.StatusCode != 200 {
		t.Fatalf("POST /admin/keys: %d", resp.StatusCode)
	}
	customer := created.Key
	var secret struct{ Secret string }
	if resp := tb.call(t, http.MethodPost, "/webhooks/secret", customer, nil, "", &secret); resp.StatusCode != 200 && resp.StatusCode != 201 {
		t.Fatalf("POST /webhooks/secret: %d", resp.StatusCode)
	}
	delivered := make(chan struct{}, 8)
	hook := hookEndpoint(t, delivered)
	j, resp := tb.submit(t, customer, portrait, speech, prompt, part{Name: "webhook_url", Value: hook})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /generate: %d", resp.StatusCode)
	}
	tb.waitFor(t, customer, j.ID, "completed")
	select {
	case <-delivered:
	case <-time.After(60 * time.Second):
		t.Fatal("no webhook delivered")
	}
	var res struct{ URL string }
	tb.call(t, http.MethodGet, "/result/"+j.ID, customer, nil, "", &res)
	u, err := url.Parse(res.URL)
	if err != nil || u.Query().Get("sig") == "" {
		t.Fatalf("result URL %q", res.URL)
	}
	if dl := tb.call(t, http.MethodGet, strings.TrimPrefix(res.URL, tb.url), "", nil, "", nil); dl.StatusCode != 200 {
		t.Fatalf("download: %d", dl.StatusCode)
	}
	forged := u.Query()
	forged.Set("sig", strings.Repeat("0", len(u.Query().Get("sig"))))
	tb.call(t, http.MethodGet, u.Path+"?"+forged.Encode(), "", nil, "", nil)
	tb.call(t, http.MethodGet, "/metrics", metricsToken, nil, "", nil)
	c := browser(t)
	login(t, c, tb.url, admin.Key)
	var session string
	if u, _ := url.Parse(tb.url + "/dashboard"); len(c.Jar.Cookies(u)) == 1 {
		session = c.Jar.Cookies(u)[0].Value
	}
	get(t, c, tb.url+"/dashboard/data")
	wrong := apikey.Generate()
	tb.call(t, http.MethodGet, "/jobs", wrong, nil, "", nil)
	login(t, browser(t), tb.url, wrong)
	tb.stop() // every request has been logged

	logs := tb.logs.String()
	if !strings.Contains(logs, `"msg":"request"`) || !strings.Contains(logs, `"level":"DEBUG"`) {
		t.Fatalf("the log is not the service's debug log:\n%s", lastLogLines(logs, 20))
	}
	for name, secret := range map[string]string{
		"admin key": admin.Key, "customer key": customer, "wrong key": wrong, "API_KEY_PEPPER": pepper,
		"SIGNING_SECRET": signing, "METRICS_TOKEN": metricsToken, "webhook secret": secret.Secret,
		"webhook secret's key": strings.TrimPrefix(secret.Secret, "whsec_"), "download signature": u.Query().Get("sig"),
		"session token": session,
	} {
		if secret == "" {
			t.Errorf("%s: the flow did not produce it", name)
			continue
		}
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds the %s", name)
		}
	}
}

// hookEndpoint is a webhook endpoint that signals each delivery.
func hookEndpoint(t *testing.T, delivered chan<- struct{}) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
		select {
		case delivered <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/hooks"
}
