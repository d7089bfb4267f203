package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/avatar-api/avatar-api/internal/auth"
	"github.com/avatar-api/avatar-api/internal/logging"
)

// Authenticator identifies the caller from a bearer token. It answers
// auth.ErrUnauthenticated, the same for every kind of bad token.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (owner string, err error)
}

type ownerKey struct{}

// owner is the authenticated caller of the request.
func owner(ctx context.Context) string {
	o, _ := ctx.Value(ownerKey{}).(string)
	return o
}

// authenticate lets through operations without security and requires a
// valid bearer key on the others.
func (a *api) authenticate(h huma.API) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		if len(ctx.Operation().Security) == 0 {
			next(ctx)
			return
		}
		scheme, token, ok := strings.Cut(ctx.Header("Authorization"), " ")
		ok = ok && strings.EqualFold(scheme, "Bearer") // RFC 9110: the scheme is case-insensitive
		var who string
		err := auth.ErrUnauthenticated
		if ok && token != "" {
			who, err = a.Auth.Authenticate(ctx.Context(), strings.TrimSpace(token))
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
		c := logging.With(ctx.Context(), slog.String("owner", who))
		next(huma.WithValue(huma.WithContext(ctx, c), ownerKey{}, who))
	}
}
