package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"

	"github.com/danielgtaylor/huma/v2"

	"github.com/avatar-api/avatar-api/internal/apidocs"
	"github.com/avatar-api/avatar-api/internal/clientip"
	"github.com/avatar-api/avatar-api/internal/problem"
)

// routes is every route of the service, read top to bottom: its method
// and path, who may call it, the rate limit it counts against, and what
// answers it. A route is open only if it says so: registering a route
// without an access panics at startup.
func (a *api) routes() []route {
	return []route{
		// Customer routes: a key with the generate scope; each job is its owner's alone.
		{"POST", "/generate", customer, hourly, operation(opGenerate(), a.generate)},
		{"POST", "/generate/estimate", customer, hourly, uploadForm(operation(opEstimate(), a.estimate))}, // checks as /generate does, makes no job
		{"GET", "/status/{job_id}", customer, polling, operation(a.live(opStatus()), a.status)},           // or a stream of events (events.go)
		{"GET", "/result/{job_id}", customer, polling, operation(opResult(), a.result)},
		{"POST", "/cancel/{job_id}", customer, polling, operation(opCancel(), a.cancel)},
		{"GET", "/jobs", customer, polling, operation(opList(), a.list)},
		{"GET", "/usage", customer, polling, operation(opUsage(), a.usage)},
		{"GET", "/jobs/{job_id}/webhooks", customer, polling, operation(opJobWebhooks(), a.jobWebhooks)},
		{"POST", "/jobs/{job_id}/webhooks/redeliver", customer, polling, operation(opRedeliver(), a.redeliver)},
		{"GET", "/webhooks/secret", customer, polling, operation(opSecretInfo(), a.secretInfo)},
		{"POST", "/webhooks/secret", customer, polling, operation(opRotateSecret(), a.rotateSecret)},
		{"GET", "/whoami", anyKey, polling, operation(opWhoami(), a.whoami)},

		// Operator routes: a key with the admin scope.
		{"POST", "/admin/keys", operator, polling, operation(opCreateKey(), a.createKey)},
		{"GET", "/admin/keys", operator, polling, operation(opListKeys(), a.listKeys)},
		{"GET", "/admin/keys/{id}", operator, polling, operation(opShowKey(), a.showKey)},
		{"PATCH", "/admin/keys/{id}", operator, polling, operation(opUpdateKey(), a.updateKey)},
		{"POST", "/admin/keys/{id}/revoke", operator, polling, operation(opRevokeKey(), a.revokeKey)},
		{"POST", "/admin/keys/{id}/rotate", operator, polling, operation(opRotateKey(), a.rotateKey)},
		{"GET", "/metrics", scraper, polling, documented(a.metrics(), opMetrics())},

		// The operator's dashboard: a page behind a session, which an admin
		// key opens (a cookie: the browser never holds the key), and the
		// figures it polls, also readable with an admin key.
		{"GET", "/dashboard", console, polling, plain(a.dashboardPage())},
		{"GET", "/dashboard/data", session, polling, operation(opDashboardData(), a.dashboardData)},
		{"GET", "/dashboard/login", open, unlimited, plain(a.loginPage())},
		{"POST", "/dashboard/login", open, unlimited, plain(a.login())},   // checks the key itself, throttled like any
		{"POST", "/dashboard/logout", open, unlimited, plain(a.logout())}, // ends the session of its own cookie
		{"GET", "/dashboard/assets/", open, unlimited, plain(a.dashboardAssets())},

		// Signed routes: the link's signature is the credential (download or upload).
		{"GET", "/files/", signed, unlimited, documented(a.Files, opDownload(http.MethodGet))},
		{"HEAD", "/files/", signed, unlimited, documented(a.Files, opDownload(http.MethodHead))},
		{"PUT", "/files/", signed, unlimited, plain(a.Files)}, // a remote worker's video, through an upload URL
		{"POST", "/runpod/webhook/{job_id}/{token}", signed, unlimited, plain(http.HandlerFunc(a.runpodWebhook))},

		// Open routes: liveness and readiness, for load balancers and
		// orchestrators; the OpenAPI document (3.1, and 3.0 for older tools).
		{"GET", "/health", open, unlimited, operation(opHealth(), a.health)},
		{"GET", "/ready", open, unlimited, operation(opReady(), a.ready)},
		{"GET", "/{$}", open, unlimited, documented(http.HandlerFunc(a.root), opRoot())}, // points at /docs
		{"GET", apidocs.Path, open, unlimited, plain(apidocs.Handler())},                 // Swagger UI, embedded
		{"GET", apidocs.Path + "/assets/", open, unlimited, plain(apidocs.Handler())},    // its files
		{"GET", "/openapi.json", open, unlimited, documented(a.spec(specJSON), opSpec("openapi-json", "This document (JSON)", "application/json"))},
		{"GET", "/openapi.yaml", open, unlimited, documented(a.spec(specYAML), opSpec("openapi-yaml", "This document (YAML)", "application/yaml"))},
		{"GET", "/openapi-3.0.json", open, unlimited, documented(a.spec(specJSON30), opSpec("openapi-3-json", "This document as OpenAPI 3.0 (JSON)", "application/json"))},
		{"GET", "/openapi-3.0.yaml", open, unlimited, documented(a.spec(specYAML30), opSpec("openapi-3-yaml", "This document as OpenAPI 3.0 (YAML)", "application/yaml"))},
	}
}

// workerRoutes are the routes of a process that runs only workers, on its
// own listener (WORKER_METRICS_ADDR): what a scraper and an orchestrator
// ask of it.
func (a *api) workerRoutes() []route {
	return []route{
		{"GET", "/metrics", scraper, polling, plain(a.metrics())},
		{"GET", "/health", open, unlimited, operation(opHealth(), a.health)},
	}
}

// access is who may call a route. Its zero value is no access at all.
type access int

const (
	_        access = iota
	open            // anyone
	anyKey          // any valid key, whatever its scopes
	customer        // a key with the generate scope
	operator        // a key with the admin scope
	scraper         // a key with the admin scope, or METRICS_TOKEN (Prometheus)
	session         // an operator's dashboard session (its cookie), or a key with the admin scope
	console         // an operator's dashboard session: a page; without one, the login page
	signed          // anyone holding a signed link; the handler checks the signature
)

// scopes are the scopes a key needs for a, and whether a key is needed.
func (a access) scopes() (scopes []string, keyed bool) {
	switch a {
	case anyKey:
		return nil, true
	case customer:
		return []string{scopeOfCustomerOps}, true
	case operator, scraper, session, console:
		return []string{scopeOfOperatorOps}, true
	case open, signed:
		return nil, false
	}
	panic(fmt.Sprintf("route without access (%d): every route must say who may call it", a))
}

// rate is the rate-limit policy a route counts against (see RateLimits).
type rate int

const (
	unlimited rate = iota // open and signed routes: no key to count against
	hourly                // generation: RATE_LIMIT_PER_HOUR, or the key's own limit; takes Idempotency-Key
	polling               // everything else a key calls: POLL_RATE_LIMIT per POLL_RATE_WINDOW
)

// route is one line of the route table.
type route struct {
	method, path string
	access       access
	rate         rate
	register     func(rt router, r route) // operation or plain
}

// router is where routes are registered: huma for operations, the mux
// beneath it for plain handlers.
type router struct {
	a   *api
	h   huma.API
	mux *http.ServeMux
}

// metaRoute is the key of a route's line in its operation's metadata,
// where the middleware finds its access and rate.
const metaRoute = "route"

// operation is a route answered by a huma operation, documented in the
// OpenAPI document with its security and error responses.
func operation[I, O any](op huma.Operation, handler func(context.Context, *I) (*O, error)) func(router, route) {
	return func(rt router, r route) {
		op.Method, op.Path = r.method, r.path
		documentAccess(&op, r)
		if op.Metadata == nil {
			op.Metadata = map[string]any{}
		}
		op.Metadata[metaRoute] = r
		huma.Register(rt.h, op, handler)
	}
}

// documentAccess gives an operation the security of its route's access,
// and the errors that access answers with (sorted, once each).
func documentAccess(op *huma.Operation, r route) {
	scopes, keyed := r.access.scopes()
	if keyed {
		// [] rather than null: a key of any scope (linters read null as
		// no list at all).
		op.Security = []map[string][]string{{securityScheme: append([]string{}, scopes...)}}
		// 503: the key could not be checked (its cache missed and the
		// database did not answer).
		op.Errors = append(op.Errors, http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusServiceUnavailable)
		if len(scopes) > 0 {
			op.Errors = append(op.Errors, http.StatusForbidden)
		}
	} else {
		op.Security = []map[string][]string{} // open: said, not left unsaid
	}
	slices.Sort(op.Errors)
	op.Errors = slices.Compact(op.Errors)
}

// plain is a route answered by a plain handler (Prometheus's, the file
// server, the dashboard's pages), behind the same key check and rate limit
// as the operations. A nil handler (no metrics, S3 storage, no dashboard)
// leaves the route out.
func plain(handler http.Handler) func(router, route) {
	return func(rt router, r route) {
		if handler != nil {
			rt.mux.Handle(r.method+" "+r.path, rt.a.guard(r, handler))
		}
	}
}

// guard is authenticate and limit for a plain handler: the key check of
// the route's access, then one rate-limit decision, each refusal written
// as the operations write theirs.
func (a *api) guard(r route, next http.Handler) http.Handler {
	scopes, keyed := r.access.scopes()
	if !keyed {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		id, p := a.caller(req.Context(), r.access, clientip.From(req.Context(), req.RemoteAddr), req.Header.Get("Authorization"), sessionCookie(req), scopes)
		if p == nil && a.Limiter != nil && id.KeyID != "" {
			p = a.take(req.Context(), &charge{key: id.KeyID, policy: a.policy(r.rate, id.RateLimit)}, w.Header().Set)
		}
		if p != nil && r.access == console && p.Status < 500 && p.Status != http.StatusTooManyRequests {
			http.Redirect(w, req, loginPath, http.StatusSeeOther) // no session: log in first
			return
		}
		if p != nil {
			problem.Write(w, req, p)
			return
		}
		next.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), identityKey{}, id)))
	})
}

// routeOf is the table's line of an operation.
func routeOf(op *huma.Operation) route {
	r, ok := op.Metadata[metaRoute].(route)
	if !ok {
		panic("operation " + op.OperationID + " is not in the route table")
	}
	return r
}

// The forms of the OpenAPI document.
type specForm int

const (
	specJSON specForm = iota
	specYAML
	specJSON30
	specYAML30
)

// spec serves the OpenAPI document in one form, rendered once, at the
// first request: by then every route is registered.
func (a *api) spec(form specForm) http.Handler {
	var (
		once sync.Once
		body []byte
		err  error
	)
	contentType := "application/openapi+json"
	if form == specYAML || form == specYAML30 {
		contentType = "application/openapi+yaml"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() {
			switch form {
			case specJSON:
				body, err = json.Marshal(a.doc)
			case specYAML:
				body, err = a.doc.YAML()
			case specJSON30:
				body, err = a.doc.Downgrade()
			case specYAML30:
				body, err = a.doc.DowngradeYAML()
			}
		})
		if err != nil {
			a.Log.ErrorContext(r.Context(), "rendering the OpenAPI document failed", "error", err)
			problem.Write(w, r, problem.New(http.StatusInternalServerError, problem.CodeInternal, problem.InternalDetail))
			return
		}
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(body)
	})
}
