// Package apidocs serves the API's documentation page at /docs: Swagger UI
// on the service's own OpenAPI document, every file embedded in the binary
// (swagger-ui-dist vendored by scripts/update-swagger-ui.sh), so that the
// page works offline and behind networks that block CDNs.
package apidocs

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed assets
var files embed.FS

// Path is where the page is; its files are under Path + "/assets/".
const Path = "/docs"

// ContentSecurityPolicy is the page's: its own scripts only, no third
// party. Swagger UI sets styles inline and draws icons from data: URIs.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".png":  "image/png",
}

// Handler serves the page at Path and its files under Path/assets/.
func Handler() http.Handler {
	root, err := fs.Sub(files, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := "docs.html"
		if r.URL.Path != Path {
			name = strings.TrimPrefix(r.URL.Path, Path+"/assets/")
			if name == r.URL.Path || name == "" || name == "docs.html" || strings.Contains(name, "..") {
				http.NotFound(w, r)
				return
			}
		}
		ct, ok := contentTypes[path.Ext(name)]
		body, err := fs.ReadFile(root, name)
		if !ok || err != nil {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", ct)
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		if name == "docs.html" {
			h.Set("Cache-Control", "no-cache")
		} else {
			h.Set("Cache-Control", "public, max-age=3600")
		}
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(body)
	})
}
