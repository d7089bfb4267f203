package api

import (
	"context"
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

// policy is the policy of a route's rate for a caller.
func (a *api) policy(r rate, rateLimit int) ratelimit.Policy {
	if r == hourly {
		limit := a.RateLimits.PerHour
		if rateLimit > 0 {
			limit = min(rateLimit, ratelimit.MaxLimit) // keys are validated; this only guards
		}
		return ratelimit.Policy{Name: "hourly", Limit: limit, Window: time.Hour}
	}
	return ratelimit.Policy{Name: "polling", Limit: a.RateLimits.PollLimit, Window: a.RateLimits.PollWindow}
}

// charge is one request's account with the limiter, shared by the
// middleware and the handler. A request counts once it is let through,
// unless the service answers it with its own failure (5xx, 503, but not
// when the client hung up first), refuses
// it for capacity (429 from a limit other than the rate limit, such as
// concurrent uploads), or answers it with an earlier job (an idempotent
// replay): then what it took is given back, exactly.
type charge struct {
	key      string
	policy   ratelimit.Policy
	taken    *ratelimit.Decision // what to give back; nil when nothing was taken
	deferred bool                // decided by the handler, once it knows whether the request is a replay
	refund   bool                // set by the handler: the request does not count
}

type chargeKey struct{}

// limit runs after authenticate: one decision per authenticated request,
// reported in the IETF RateLimit and RateLimit-Policy fields
// (draft-ietf-httpapi-ratelimit-headers-10) on every such response, and a
// 429 with an exact Retry-After when the window is full. A generation
// request naming an Idempotency-Key already used is not decided here: it
// may be a retry, which must get its job back even when the limit is
// reached, and only its body can tell (the handler decides, before any
// check of the inputs runs).
func (a *api) limit(h huma.API) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		ident := identity(ctx.Context())
		if ident.KeyID == "" { // open routes
			next(ctx)
			return
		}
		r := routeOf(ctx.Operation())
		if a.Limiter == nil || r.rate == unlimited {
			next(ctx)
			return
		}
		c := &charge{key: ident.KeyID, policy: a.policy(r.rate, ident.RateLimit)}
		if r.rate == hourly && ctx.Operation().OperationID == "generate" && a.Jobs != nil &&
			a.Jobs.IsReplay(ctx.Context(), ident.Owner(), ctx.Header("Idempotency-Key")) {
			c.deferred = true
		} else if p := a.take(ctx.Context(), c, ctx.SetHeader); p != nil {
			_ = huma.WriteErr(h, ctx, p.Status, "", p)
			return
		}
		next(huma.WithValue(ctx, chargeKey{}, c))
		// A client that hung up is not refunded: it would get the costly
		// checks of every upload it abandons for free.
		served := ctx.Context().Err() == nil
		if st := ctx.Status(); c.taken != nil && served && (c.refund || st >= 500 || st == http.StatusTooManyRequests) {
			if err := a.Limiter.Release(context.WithoutCancel(ctx.Context()), c.key, c.policy, *c.taken); err != nil {
				a.Log.WarnContext(ctx.Context(), "giving back a rate-limit slot failed", "error", err)
			}
		}
	}
}

// take decides c now, writes the RateLimit fields with setHeader, and
// returns the 429 to answer when the window is full. A broken limiter lets
// the request through: it must not stop the service.
func (a *api) take(ctx context.Context, c *charge, setHeader func(name, value string)) *problem.Problem {
	p := c.policy
	d, err := a.Limiter.Allow(ctx, c.key, p, a.now())
	if err != nil {
		a.Log.ErrorContext(ctx, "rate limiter failed; request allowed", "error", err)
		return nil
	}
	secs := int(math.Ceil(d.Reset.Seconds()))
	setHeader("RateLimit-Policy", fmt.Sprintf(`"%s";q=%d;w=%d`, p.Name, p.Limit, int(p.Window.Seconds())))
	setHeader("RateLimit", fmt.Sprintf(`"%s";r=%d;t=%d`, p.Name, d.Remaining, secs))
	if d.Allowed {
		c.taken = &d
		return nil
	}
	secs = max(secs, 1)
	a.Log.WarnContext(ctx, "rate limited", "policy", p.Name, "limit", p.Limit, "retry_after", secs)
	if a.Metrics != nil {
		a.Metrics.RateLimited.WithLabelValues(p.Name).Inc()
	}
	if a.Requests != nil {
		a.Requests.Refused(owner(ctx))
	}
	return problem.Newf(http.StatusTooManyRequests, CodeRateLimited,
		"rate limit %q (%d requests per %s) reached; retry in %d s", p.Name, p.Limit, p.Window, secs).
		WithHeader("Retry-After", strconv.Itoa(secs))
}

// chargeNow decides a charge the middleware left to the handler: the
// request is not a replay after all, so it counts like any other. It
// returns the 429 to answer, or nil.
func (a *api) chargeNow(ctx context.Context, w http.ResponseWriter) error {
	c, _ := ctx.Value(chargeKey{}).(*charge)
	if c == nil || !c.deferred {
		return nil
	}
	c.deferred = false
	if p := a.take(ctx, c, w.Header().Set); p != nil {
		return p
	}
	return nil
}

// refund marks the request as not counting: it was answered with an
// earlier job.
func refund(ctx context.Context) {
	if c, _ := ctx.Value(chargeKey{}).(*charge); c != nil {
		c.refund = true
	}
}
