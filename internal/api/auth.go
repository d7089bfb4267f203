package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/avatar-api/avatar-api/internal/auth"
	"github.com/avatar-api/avatar-api/internal/clientip"
	"github.com/avatar-api/avatar-api/internal/logging"
	"github.com/avatar-api/avatar-api/internal/problem"
)

// Authenticator identifies the caller from a bearer token. It answers
// auth.ErrUnauthenticated, the same for every kind of bad token.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (auth.Identity, error)
}

// Error codes of authentication.
const (
	CodeForbidden      = "forbidden"
	CodeAuthThrottled  = "too_many_failed_authentications"
	scopeOfCustomerOps = "generate"
	scopeOfOperatorOps = "admin"
	securityScheme     = "bearer"
)

type identityKey struct{}

// identity is the authenticated caller of the request.
func identity(ctx context.Context) auth.Identity {
	id, _ := ctx.Value(identityKey{}).(auth.Identity)
	return id
}

// owner is who the caller's jobs belong to.
func owner(ctx context.Context) string { return identity(ctx).Owner() }

// authenticate lets through the operations the route table opens; the
// others need a valid bearer key with the scopes of their access.
func (a *api) authenticate(h huma.API) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		scopes, keyed := routeOf(ctx.Operation()).access.scopes()
		if !keyed {
			next(ctx)
			return
		}
		// What answers a key is the key holder's alone (a signed download
		// URL, a job): no cache may keep it, whatever the answer.
		ctx.SetHeader("Cache-Control", "no-store")
		cookie := ""
		if c, err := huma.ReadCookie(ctx, sessionCookieName); err == nil {
			cookie = c.Value
		}
		id, p := a.caller(ctx.Context(), routeOf(ctx.Operation()).access, clientip.From(ctx.Context(), ctx.RemoteAddr()), ctx.Header("Authorization"), cookie, scopes)
		if p != nil {
			_ = huma.WriteErr(h, ctx, p.Status, "", p)
			return
		}
		next(huma.WithValue(ctx, identityKey{}, id))
	}
}

// caller is who calls a route of access, or the problem to answer with:
// Prometheus by METRICS_TOKEN where it may, an operator by a session
// cookie where one is taken, else the holder of the bearer key.
func (a *api) caller(ctx context.Context, ac access, addr, header, cookie string, scopes []string) (auth.Identity, *problem.Problem) {
	if ac == scraper && a.MetricsToken != "" {
		if scheme, token, ok := strings.Cut(header, " "); ok && strings.EqualFold(scheme, "Bearer") &&
			subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(a.MetricsToken)) == 1 {
			return auth.Identity{Customer: "metrics-token"}, nil // no key: nothing to rate-limit
		}
	}
	if (ac == session || ac == console) && cookie != "" && a.Sessions != nil {
		id, err := a.Sessions.Check(ctx, cookie)
		switch {
		case err == nil:
			logging.AddToRequest(ctx, slog.String("key_id", id.KeyID), slog.String("customer", id.Customer))
			return id, nil
		case errors.Is(err, auth.ErrNotOperator):
			return auth.Identity{}, problem.New(http.StatusForbidden, CodeForbidden, "this session's key no longer has the admin scope")
		case !errors.Is(err, auth.ErrUnauthenticated):
			a.Log.ErrorContext(ctx, "checking a dashboard session failed", "error", err)
			return auth.Identity{}, authUnavailable()
		}
	}
	if ac == console || (ac == session && cookie != "" && header == "") { // a page needs a session: the browser sends no key
		return auth.Identity{}, problem.New(http.StatusUnauthorized, CodeUnauthorized,
			"no dashboard session, or it has ended; log in at "+loginPath)
	}
	return a.identify(ctx, addr, header, scopes)
}

// identify is the one check of a request's key, for operations and plain
// handlers alike. Failed attempts are throttled per client address: a
// client whose failures used up its bucket is refused before any lookup,
// and only a failure is charged, so that many concurrent requests with a
// valid key are never taken for guessing. It returns the caller, or the
// problem to answer with.
func (a *api) identify(ctx context.Context, addr, header string, scopes []string) (auth.Identity, *problem.Problem) {
	if a.Throttle != nil {
		if ok, wait := a.Throttle.Allow(addr); !ok {
			secs := int(math.Ceil(wait.Seconds()))
			return auth.Identity{}, problem.Newf(http.StatusTooManyRequests, CodeAuthThrottled,
				"too many failed authentications from your address; retry in %d s", secs).
				WithHeader("Retry-After", strconv.Itoa(secs))
		}
	}
	scheme, token, ok := strings.Cut(header, " ")
	ok = ok && strings.EqualFold(scheme, "Bearer") // RFC 9110: the scheme is case-insensitive
	id, err := auth.Identity{}, auth.ErrUnauthenticated
	if ok && token != "" {
		id, err = a.Auth.Authenticate(ctx, strings.TrimSpace(token))
	}
	if err != nil {
		if !errors.Is(err, auth.ErrUnauthenticated) {
			a.Log.ErrorContext(ctx, "authentication failed", "error", err)
			return auth.Identity{}, authUnavailable()
		}
		if a.Throttle != nil {
			a.Throttle.Fail(addr)
		}
		return auth.Identity{}, problem.New(http.StatusUnauthorized, CodeUnauthorized,
			"a valid API key is required: send Authorization: Bearer <key>").WithHeader("WWW-Authenticate", `Bearer realm="avatar-api"`)
	}
	logging.AddToRequest(ctx, slog.String("key_id", id.KeyID), slog.String("customer", id.Customer))
	noteOwner(ctx, id.Owner())
	for _, scope := range scopes {
		if !id.Has(scope) {
			return auth.Identity{}, problem.Newf(http.StatusForbidden, CodeForbidden, "this key lacks the %s scope", scope)
		}
	}
	return id, nil
}

type whoamiOutput struct {
	Body struct {
		KeyID     string   `json:"key_id" format:"uuid"`
		Customer  string   `json:"customer"`
		Scopes    []string `json:"scopes"`
		RateLimit int      `json:"rate_limit" doc:"Generation requests per hour; 0: the service's default"`
	}
}

func opWhoami() huma.Operation {
	return huma.Operation{
		OperationID: "whoami", Tags: []string{"Keys"},
		Summary: "Check a key", Description: "Whose key this is, its scopes and limit: a cheap way to test a key.",
		Errors: []int{401},
	}
}

func (a *api) whoami(ctx context.Context, _ *struct{}) (*whoamiOutput, error) {
	id := identity(ctx)
	out := &whoamiOutput{}
	out.Body.KeyID, out.Body.Customer, out.Body.Scopes, out.Body.RateLimit = id.KeyID, id.Customer, id.Scopes, id.RateLimit
	return out, nil
}

// authUnavailable is the answer to a request whose key or session cannot
// be checked (the database is down): 503 with Retry-After, as every
// dependency's outage, so that clients wait and retry rather than give up.
func authUnavailable() *problem.Problem {
	return problem.New(http.StatusServiceUnavailable, CodeUnavailable, "authentication is unavailable; try again shortly").
		WithHeader("Retry-After", "5")
}
