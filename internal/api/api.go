// Package api is the HTTP API: one route table, one file of handlers per
// resource. Handlers decode, call a service and encode; errors go back to
// huma, and errors.go alone turns them into problem+json responses.
package api

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/avatar-api/avatar-api/internal/apikey"
	"github.com/avatar-api/avatar-api/internal/auth"
	"github.com/avatar-api/avatar-api/internal/job"
	"github.com/avatar-api/avatar-api/internal/metric"
	"github.com/avatar-api/avatar-api/internal/ratelimit"
	"github.com/avatar-api/avatar-api/internal/webhook"
)

// Version is the API's version, shown in the OpenAPI document. A change of
// the document needs a new one (TestSpecBreaking): a patch for additions,
// a new minor (while 0.x) for a breaking change.
const Version = "0.1.1"

// description opens the OpenAPI document (and the /docs page).
const description = `Turns a portrait image, a speech recording and a short prompt into a talking-avatar MP4, as an asynchronous job.

**Getting started.** Your operator gives you an API key. Send it as ` + "`Authorization: Bearer <key>`" + ` (here: **Authorize**).
1. ` + "`POST /generate`" + ` with the multipart parts ` + "`image`" + ` and ` + "`audio`" + ` (and an ` + "`Idempotency-Key`" + ` header, so that a retry cannot make a second job): 202 and the job.
2. Follow it: poll ` + "`GET /status/{job_id}`" + `, stream it (` + "`Accept: text/event-stream`" + `), or be told by a signed webhook (` + "`webhook_url`" + `; see the webhooks of this document).
3. ` + "`GET /result/{job_id}`" + ` once it is completed: a signed download URL of the MP4.

Errors are RFC 9457 problem+json with a stable ` + "`code`" + `. 401: no valid key; 403: the key lacks the scope; 404: no such job *of yours* (another customer's job is never shown); 429: a rate limit or spending cap, with ` + "`Retry-After`" + `. The integration guide is docs/API.md.`

// tags order the document's operations: the customer's first, the
// operator's apart.
var tags = []*huma.Tag{
	{Name: "Jobs", Description: "Make a video, follow it, fetch it."},
	{Name: "Webhooks", Description: "Be told when your jobs end: your signing secret, and each job's deliveries."},
	{Name: "Usage", Description: "What you used and what it cost."},
	{Name: "Keys", Description: "Which key you are."},
	{Name: "Keys (operator)", Description: "Operators: customers' keys (admin scope)."},
	{Name: "Monitoring", Description: "Operators: the dashboard's figures (admin scope, or a dashboard session)."},
	{Name: "Operations", Description: "Liveness and readiness, for load balancers and orchestrators."},
}

// Deps are what the handlers need.
type Deps struct {
	Jobs       *job.Service
	Keys       *apikey.Service // key administration
	Auth       Authenticator
	Throttle   *auth.Throttle    // failed authentications per address; nil: none
	Limiter    ratelimit.Limiter // per-key request limits; nil: none
	RateLimits RateLimits
	Metrics    *metric.Metrics                         // nil: no /metrics
	Now        func() time.Time                        // the limiter's clock; nil: time.Now
	Ready      func(r *http.Request) map[string]string // named checks: "ok" or what failed
	Files      http.Handler                            // signed downloads of local storage; nil with S3
	UploadDir  string
	Uploads    UploadPolicy
	PublicURL  string
	// Contact is the documentation's contact: how customers reach the
	// operator (SUPPORT_EMAIL, SUPPORT_URL).
	Contact Contact
	Log     *slog.Logger
	// After times the wait for an upload slot; nil: time.After (tests
	// give a clock they move).
	After func(time.Duration) <-chan time.Time

	// MetricsToken, if set, is a bearer token that reads /metrics (and
	// nothing else), for Prometheus.
	MetricsToken string
	// Requests counts answered requests for the dashboard; nil: none.
	Requests RequestCounter
	// Sessions and Monitor make the dashboard; without them it is not
	// served. Timezone names the cost time zone on its page.
	Sessions *auth.Sessions
	Monitor  Monitor
	Timezone string

	// Budget, if set, refuses new jobs once a spending cap is reached.
	Budget Budget

	// RunPod, with BACKEND=runpod, takes RunPod's webhooks: a job's token
	// checked, its follower woken. nil: no webhook route answers.
	RunPod Webhooks

	Streams StreamPolicy // live status streams (events.go); zero: the defaults

	// JobWebhooks keeps customers' webhook secrets and their jobs'
	// deliveries; nil: the webhook routes answer 503.
	JobWebhooks *webhook.Service

	// CORSOrigins are the browser origins that may call the routes open
	// to cross-origin calls (cors.go); "*" alone: any. Empty: no CORS.
	CORSOrigins []string
}

// Contact is how customers reach the operator, shown in the
// documentation; empty fields are left out.
type Contact struct{ Email, URL string }

// Webhooks takes the webhook of a job at another service (RunPod's is
// unsigned: the path's token is the credential, and the body is not
// read: the job's follower asks the service itself).
type Webhooks interface {
	Poke(jobID, token string) bool
}

type api struct {
	Deps
	slots    *uploadSlots
	keyLocks keyLocks
	streams  streams       // the open live status streams
	doc      *huma.OpenAPI // the document of every operation, served by spec
}

// now is the limiter's time: the injected clock of tests, or zero, which
// lets each limiter use its own clock (Redis's, shared by every replica).
func (a *api) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Time{}
}

// New returns the API's handler, every route of the service on one mux.
func New(d Deps) http.Handler {
	return build(d, (*api).routes)
}

// NewWorker returns the handler of a process that runs only workers
// (WORKER_METRICS_ADDR): its liveness, and its metrics behind the same
// access as the API's (an admin key, or METRICS_TOKEN).
func NewWorker(d Deps) http.Handler {
	return build(d, (*api).workerRoutes)
}

// build serves the routes of table, each behind its access and rate.
func build(d Deps, table func(*api) []route) http.Handler {
	installErrors()
	d.Uploads = d.Uploads.withDefaults()
	a := &api{Deps: d, slots: newUploadSlots(d.Uploads.Slots, d.Uploads.SlotsPerCustomer, d.After)}
	a.reportReadiness()
	mux := http.NewServeMux()
	config := huma.DefaultConfig("Avatar API", Version)
	config.Info.Description = description
	config.Tags = tags
	config.Info.Contact = &huma.Contact{Name: "Avatar API support", Email: d.Contact.Email, URL: d.Contact.URL}
	// The service is sold, not open source: its use is under the
	// customer's agreement (SPDX has no identifier for that, hence LicenseRef).
	config.Info.License = &huma.License{Name: "Proprietary: use under your agreement with the operator", Identifier: "LicenseRef-Proprietary"}
	config.DocsPath = "" // the docs page comes with the documentation issue; no CDN scripts
	config.SchemasPath = ""
	config.OpenAPIPath = ""  // served by lines of the route table (spec), like every other route
	config.CreateHooks = nil // no $schema links in bodies: the schemas are in the OpenAPI document
	config.Transformers = []huma.Transformer{finishProblem}
	config.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		securityScheme: {Type: "http", Scheme: "bearer", Description: "Your API key: `Authorization: Bearer <key>`. Your operator makes it " +
			"(`avatar-api keys create`, or `POST /admin/keys`) and gives it to you once; it works until it is revoked or expires. " +
			"401 `unauthorized`: no key, or not a valid one (failed attempts are throttled per address: 429 `too_many_failed_authentications`). " +
			"403 `forbidden`: the key lacks the route's scope (`generate` for the customer routes, `admin` for the operator's). " +
			"404 `not_found` on a job: no job of yours has this id; another customer's jobs are never shown, not even as existing."},
	}
	config.Servers = []*huma.Server{{URL: d.PublicURL}}
	h := humago.New(mux, config)
	h.UseMiddleware(withLogger(d.Log), a.authenticate(h), a.limit(h))
	a.doc = h.OpenAPI()
	rt := router{a: a, h: h, mux: mux}
	routes := table(a)
	for _, r := range routes {
		r.register(rt, r)
	}
	if gen := h.OpenAPI().Paths["/generate"]; gen != nil {
		gen.Post.RequestBody = generateBody()
		documentWebhooks(h)
		documentExamples(h)
		documentProblems(h)
		documentRateLimits(h)
	}
	return a.crossOrigin(mux, routes, a.instrument(a.unmatched(mux)))
}

// metrics is Prometheus's handler, or nil without metrics.
func (a *api) metrics() http.Handler {
	if a.Metrics == nil {
		return nil
	}
	return a.Metrics.Handler()
}
