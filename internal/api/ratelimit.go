package api

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/avatar-api/avatar-api/internal/problem"
	"github.com/avatar-api/avatar-api/internal/ratelimit"
)

// CodeRateLimited is the code of a refusal by a rate limit.
const CodeRateLimited = "rate_limited"

// RateLimits are the policies: generation per hour (each key may have its
// own limit) and everything else per PollWindow.
type RateLimits struct {
	PerHour    int
	PollLimit  int
	PollWindow time.Duration
}

// policy is the policy of an operation for a caller.
func (a *api) policy(op *huma.Operation, rateLimit int) ratelimit.Policy {
	if op.OperationID == "generate" {
		limit := a.RateLimits.PerHour
		if rateLimit > 0 {
			limit = min(rateLimit, ratelimit.MaxLimit) // keys are validated; this only guards
		}
		return ratelimit.Policy{Name: "hourly", Limit: limit, Window: time.Hour}
	}
	return ratelimit.Policy{Name: "polling", Limit: a.RateLimits.PollLimit, Window: a.RateLimits.PollWindow}
}

// limit runs after authenticate: one decision per authenticated request,
// reported in the IETF RateLimit and RateLimit-Policy fields
// (draft-ietf-httpapi-ratelimit-headers-10) on every such response, and a
// 429 with an exact Retry-After when the window is full.
func (a *api) limit(h huma.API) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		ident := identity(ctx.Context())
		if a.Limiter == nil || ident.KeyID == "" { // open routes, or no limiter
			next(ctx)
			return
		}
		if ctx.Operation().OperationID == "generate" && a.Jobs != nil &&
			a.Jobs.IsReplay(ctx.Context(), ident.Owner(), ctx.Header("Idempotency-Key")) {
			next(ctx) // a retry answered with its first job never counts: the client must get its job id back
			return
		}
		p := a.policy(ctx.Operation(), ident.RateLimit)
		d, err := a.Limiter.Allow(ctx.Context(), ident.KeyID, p, a.now())
		if err != nil { // fail open: a broken limiter must not stop the service
			a.Log.ErrorContext(ctx.Context(), "rate limiter failed; request allowed", "error", err)
			next(ctx)
			return
		}
		secs := int(math.Ceil(d.Reset.Seconds()))
		ctx.SetHeader("RateLimit-Policy", fmt.Sprintf(`"%s";q=%d;w=%d`, p.Name, p.Limit, int(p.Window.Seconds())))
		ctx.SetHeader("RateLimit", fmt.Sprintf(`"%s";r=%d;t=%d`, p.Name, d.Remaining, secs))
		if !d.Allowed {
			secs = max(secs, 1)
			a.Log.WarnContext(ctx.Context(), "rate limited", "policy", p.Name, "limit", p.Limit, "retry_after", secs)
			if a.Metrics != nil {
				a.Metrics.RateLimited.WithLabelValues(p.Name).Inc()
			}
			_ = huma.WriteErr(h, ctx, http.StatusTooManyRequests, "",
				problem.Newf(http.StatusTooManyRequests, CodeRateLimited,
					"rate limit %q (%d requests per %s) reached; retry in %d s", p.Name, p.Limit, p.Window, secs).
					WithHeader("Retry-After", strconv.Itoa(secs)))
			return
		}
		next(ctx)
	}
}
