package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/avatar-api/avatar-api/internal/auth"
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

// authenticate lets through operations without security; the others need
// a valid bearer key with the operation's scope. Failed attempts are
// throttled per client address, checked before any lookup.
func (a *api) authenticate(h huma.API) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		sec := ctx.Operation().Security
		if len(sec) == 0 {
			next(ctx)
			return
		}
		addr := ctx.RemoteAddr()
		if a.Throttle != nil {
			if ok, wait := a.Throttle.Take(addr); !ok {
				secs := int(math.Ceil(wait.Seconds()))
				_ = huma.WriteErr(h, ctx, http.StatusTooManyRequests, "",
					problem.Newf(http.StatusTooManyRequests, CodeAuthThrottled,
						"too many failed authentications from your address; retry in %d s", secs).
						WithHeader("Retry-After", strconv.Itoa(secs)))
				return
			}
		}
		scheme, token, ok := strings.Cut(ctx.Header("Authorization"), " ")
		ok = ok && strings.EqualFold(scheme, "Bearer") // RFC 9110: the scheme is case-insensitive
		id, err := auth.Identity{}, auth.ErrUnauthenticated
		if ok && token != "" {
			id, err = a.Auth.Authenticate(ctx.Context(), strings.TrimSpace(token))
		}
		if err != nil {
			if !errors.Is(err, auth.ErrUnauthenticated) {
				a.Log.ErrorContext(ctx.Context(), "authentication failed", "error", err)
				_ = huma.WriteErr(h, ctx, http.StatusServiceUnavailable, "authentication is unavailable; try again shortly")
				return
			}
			ctx.SetHeader("WWW-Authenticate", `Bearer realm="avatar-api"`)
			_ = huma.WriteErr(h, ctx, http.StatusUnauthorized, "a valid API key is required: send Authorization: Bearer <key>")
			return
		}
		if a.Throttle != nil {
			a.Throttle.Refund(addr)
		}
		logging.AddToRequest(ctx.Context(), slog.String("key_id", id.KeyID), slog.String("customer", id.Customer))
		for _, scope := range sec[0][securityScheme] {
			if !id.Has(scope) {
				_ = huma.WriteErr(h, ctx, http.StatusForbidden, "",
					problem.Newf(http.StatusForbidden, CodeForbidden, "this key lacks the %s scope", scope))
				return
			}
		}
		next(huma.WithValue(ctx, identityKey{}, id))
	}
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
		OperationID: "whoami", Method: http.MethodGet, Path: "/whoami", Tags: []string{"Keys"}, Security: anyKey,
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

// requireAdmin guards a plain handler (not a huma operation) with an admin
// key, answering like the operations do.
func (a *api) requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		var p *problem.Problem
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			p = problem.New(http.StatusUnauthorized, CodeUnauthorized, "a valid API key is required: send Authorization: Bearer <key>")
		} else if id, err := a.Auth.Authenticate(r.Context(), strings.TrimSpace(token)); err != nil {
			p = problem.New(http.StatusUnauthorized, CodeUnauthorized, "a valid API key is required: send Authorization: Bearer <key>")
		} else if !id.Has(scopeOfOperatorOps) {
			p = problem.New(http.StatusForbidden, CodeForbidden, "this key lacks the admin scope")
		}
		if p != nil {
			p.RequestID = logging.Attr(r.Context(), "request_id")
			w.Header().Set("Content-Type", problem.ContentType)
			w.WriteHeader(p.Status)
			_ = json.NewEncoder(w).Encode(p)
			return
		}
		next.ServeHTTP(w, r)
	})
}
