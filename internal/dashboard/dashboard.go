// Package dashboard is the front end of the operator's monitoring
// dashboard: the page, the login page and their static files (scripts,
// stylesheet and the vendored uPlot charts), all embedded in the binary.
// The page polls a JSON endpoint and redraws itself; the routes, the
// session and the data behind that endpoint are the API's, not this
// package's.
//
// Both pages must be served with ContentSecurityPolicy: they load nothing
// but their own assets and hold no inline script or style.
package dashboard

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
)

// ContentSecurityPolicy is the CSP header value the page and login page
// must be served with.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

//go:embed templates/*.html
var templateFiles embed.FS

// templates are parsed once; a template that does not parse is a broken
// binary, found by the first test.
var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"asset": AssetPath,
}).ParseFS(templateFiles, "templates/*.html"))

// PageData is what the dashboard page is rendered with. The page hands it
// to its script through data-* attributes on <body>.
type PageData struct {
	Operator       string   // the customer name of the operator's key, shown in the header
	Ranges         []string // the time ranges offered, e.g. {"1h","6h","24h","7d","30d"}
	Range          string   // the one selected at first
	RefreshSeconds int      // how often the page polls DataURL
	DataURL        string   // "/dashboard/data"
	LogoutURL      string   // "/dashboard/logout" (a POST form)
	Timezone       string   // the cost time zone's name (COST_TIMEZONE), shown near the cost panel
}

// RenderPage writes the dashboard page. Nothing is written when rendering
// fails, so the caller can still answer with an error.
func RenderPage(w io.Writer, d PageData) error { return render(w, "page.html", d) }

// LoginData is what the login page is rendered with.
type LoginData struct {
	Error  string // shown above the form when not empty ("That key is not an admin key." etc.)
	Action string // "/dashboard/login"
}

// RenderLogin writes the login page, where an admin key is exchanged for
// a session. Nothing is written when rendering fails.
func RenderLogin(w io.Writer, d LoginData) error { return render(w, "login.html", d) }

// render executes one template into a buffer first, so a failure half-way
// leaves w untouched.
func render(w io.Writer, name string, data any) error {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		return fmt.Errorf("render dashboard %s: %w", name, err)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write dashboard %s: %w", name, err)
	}
	return nil
}
