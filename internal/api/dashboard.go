package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/avatar-api/avatar-api/internal/auth"
	"github.com/avatar-api/avatar-api/internal/clientip"
	"github.com/avatar-api/avatar-api/internal/dashboard"
	"github.com/avatar-api/avatar-api/internal/problem"
	"github.com/avatar-api/avatar-api/internal/stats"
)

// Monitor answers the dashboard's refreshes (stats.Service).
type Monitor interface {
	Dashboard(ctx context.Context, rangeName string) (*stats.Dashboard, error)
}

const (
	// sessionCookieName holds an operator's dashboard session token.
	sessionCookieName = "avatar_session"
	dashboardPath     = "/dashboard"
	loginPath         = "/dashboard/login"
	// refreshSeconds is how often the page polls its figures.
	refreshSeconds = 5
)

// sessionCookie is the session token a request carries, or "".
func sessionCookie(r *http.Request) string {
	c, err := r.Cookie(sessionCookieName)
	if err != nil {
		return ""
	}
	return c.Value
}

// dashboardPage serves the dashboard to an operator with a session (the
// route's access sends anyone else to the login page).
func (a *api) dashboardPage() http.Handler {
	if a.Sessions == nil || a.Monitor == nil {
		return nil
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		err := dashboard.RenderPage(&b, dashboard.PageData{
			Operator: identity(r.Context()).Customer, Ranges: stats.RangeNames(), Range: stats.DefaultRange,
			RefreshSeconds: refreshSeconds, DataURL: dashboardPath + "/data", LogoutURL: dashboardPath + "/logout",
			Timezone: a.Timezone,
		})
		a.writePage(w, r, http.StatusOK, b.Bytes(), err)
	})
}

// loginPage is the form in which an operator gives an admin key.
func (a *api) loginPage() http.Handler {
	if a.Sessions == nil {
		return nil
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.renderLogin(w, r, http.StatusOK, "")
	})
}

// login exchanges an admin key for a session: an HttpOnly, SameSite=Strict
// cookie (Secure when the service is reached over HTTPS), whose token is
// stored only as a hash. Failed attempts count against the client's
// address like any failed authentication.
func (a *api) login() http.Handler {
	if a.Sessions == nil {
		return nil
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.sameOrigin(r) {
			a.renderLogin(w, r, http.StatusForbidden, "This form can only be sent from the dashboard's own page.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
		if err := r.ParseForm(); err != nil {
			a.renderLogin(w, r, http.StatusBadRequest, "The form could not be read; try again.")
			return
		}
		client := clientip.From(r.Context(), r.RemoteAddr)
		if a.Throttle != nil {
			if ok, wait := a.Throttle.Allow(client); !ok {
				secs := int(math.Ceil(wait.Seconds()))
				w.Header().Set("Retry-After", strconv.Itoa(secs))
				a.renderLogin(w, r, http.StatusTooManyRequests, fmt.Sprintf("Too many failed attempts from your address; try again in %d s.", secs))
				return
			}
		}
		token, id, expires, err := a.Sessions.Open(r.Context(), strings.TrimSpace(r.PostForm.Get("key")))
		switch {
		case errors.Is(err, auth.ErrUnauthenticated):
			if a.Throttle != nil {
				a.Throttle.Fail(client)
			}
			a.renderLogin(w, r, http.StatusUnauthorized, "That key is not valid.")
			return
		case errors.Is(err, auth.ErrNotOperator):
			a.renderLogin(w, r, http.StatusForbidden, "That is a customer's key: the dashboard needs an admin key.")
			return
		case err != nil:
			a.Log.ErrorContext(r.Context(), "opening a dashboard session failed", "error", err)
			a.renderLogin(w, r, http.StatusServiceUnavailable, "The service could not check the key; try again shortly.")
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name: sessionCookieName, Value: token, Path: dashboardPath, Expires: expires, MaxAge: int(a.Sessions.TTL().Seconds()),
			HttpOnly: true, Secure: a.secure(r), SameSite: http.SameSiteStrictMode,
		})
		a.Log.InfoContext(r.Context(), "dashboard session opened", "key_id", id.KeyID, "customer", id.Customer)
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, dashboardPath, http.StatusSeeOther)
	})
}

// logout ends the session of the request's own cookie, and the cookie.
func (a *api) logout() http.Handler {
	if a.Sessions == nil {
		return nil
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token := sessionCookie(r); token != "" && a.sameOrigin(r) {
			if err := a.Sessions.Close(r.Context(), token); err != nil {
				a.Log.ErrorContext(r.Context(), "closing a dashboard session failed", "error", err)
				problem.Write(w, r, problem.New(http.StatusServiceUnavailable, CodeUnavailable, "the session could not be ended; try again"))
				return
			}
		}
		http.SetCookie(w, &http.Cookie{Name: sessionCookieName, Value: "", Path: dashboardPath, MaxAge: -1,
			HttpOnly: true, Secure: a.secure(r), SameSite: http.SameSiteStrictMode})
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, loginPath, http.StatusSeeOther)
	})
}

// dashboardAssets serves the page's scripts, styles and charts, built
// into the binary.
func (a *api) dashboardAssets() http.Handler {
	if a.Sessions == nil {
		return nil
	}
	return dashboard.Assets()
}

func (a *api) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	var b bytes.Buffer
	err := dashboard.RenderLogin(&b, dashboard.LoginData{Error: msg, Action: loginPath})
	a.writePage(w, r, status, b.Bytes(), err)
}

// writePage answers with an HTML page under the dashboard's strict
// content security policy.
func (a *api) writePage(w http.ResponseWriter, r *http.Request, status int, page []byte, err error) {
	if err != nil {
		a.Log.ErrorContext(r.Context(), "rendering a dashboard page failed", "error", err)
		problem.Write(w, r, problem.New(http.StatusInternalServerError, CodeInternal, problem.InternalDetail))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", dashboard.ContentSecurityPolicy)
	h.Set("Cache-Control", "no-store")
	// The service's no-referrer makes a browser send "Origin: null" with
	// the page's forms; same-origin keeps the Origin that sameOrigin checks
	// and still tells other sites nothing.
	h.Set("Referrer-Policy", "same-origin")
	w.WriteHeader(status)
	_, _ = w.Write(page)
}

// secure reports whether the client reached the service over HTTPS, so
// that its cookie must be Secure.
func (a *api) secure(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(a.PublicURL, "https://")
}

// sameOrigin refuses a form sent from another site (login CSRF): the
// browser says where it comes from in Sec-Fetch-Site (every current
// browser) or Origin; a client that says neither (curl) is let through —
// the key is its credential.
func (a *api) sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	case "":
	default:
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if pub, err := url.Parse(a.PublicURL); err == nil && pub.Scheme == u.Scheme && pub.Host == u.Host {
		return true
	}
	return u.Host == r.Host
}

type dashboardInput struct {
	Range string `query:"range" enum:"1h,6h,24h,7d,30d" default:"24h" doc:"The span of the charts, ending now"`
}

type dashboardOutput struct {
	Body *stats.Dashboard
}

func opDashboardData() huma.Operation {
	return huma.Operation{
		OperationID: "dashboard-data", Tags: []string{"Monitoring"},
		Summary: "The dashboard's figures",
		Description: "What `/dashboard` shows, as JSON: the queue now; the jobs of the range, their success rate and " +
			"generation time percentiles (nearest-rank, of completed jobs); cost today, this month and forecast for the " +
			"month's end (days and months in COST_TIMEZONE); per-step series; GPU utilisation; requests per hour and per " +
			"day; workers' busy ratio; top customers by cost; recent failures; with BACKEND=runpod, the RunPod endpoint's " +
			"workers by state and queue as last read, and when (`runpod`, null with another backend); the customers whose " +
			"webhook endpoints failed in the last 24 h, whatever the range (`webhooks`). Read with the " +
			"dashboard's session cookie or an admin key.",
	}
}

func (a *api) dashboardData(ctx context.Context, in *dashboardInput) (*dashboardOutput, error) {
	if a.Monitor == nil {
		return nil, problem.New(http.StatusNotFound, CodeNotFound, "the dashboard is not enabled")
	}
	d, err := a.Monitor.Dashboard(ctx, in.Range)
	if errors.Is(err, stats.ErrUnknownRange) {
		return nil, problem.Newf(http.StatusUnprocessableEntity, CodeInvalidRequest, "range must be one of %s", strings.Join(stats.RangeNames(), ", "))
	}
	if err != nil {
		a.Log.ErrorContext(ctx, "reading the dashboard's figures failed", "error", err)
		return nil, problem.New(http.StatusServiceUnavailable, CodeUnavailable, "the figures could not be read; the next refresh will try again")
	}
	return &dashboardOutput{Body: d}, nil
}
