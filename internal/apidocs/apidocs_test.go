package apidocs_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/avatar-api/avatar-api/internal/apidocs"
)

// TestHandler: the page and its files come from the binary with their
// types and the page's policy; nothing else is served.
func TestHandler(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.Handle("GET "+apidocs.Path, apidocs.Handler())
	mux.Handle("GET "+apidocs.Path+"/assets/", apidocs.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, c := range []struct {
		path, contentType, contains string
	}{
		{"/docs", "text/html; charset=utf-8", `src="/docs/assets/swagger-ui/swagger-ui-bundle.js"`},
		{"/docs/assets/docs.js", "text/javascript; charset=utf-8", `url: "/openapi.json"`},
		{"/docs/assets/swagger-ui/swagger-ui-bundle.js", "text/javascript; charset=utf-8", "SwaggerUIBundle"},
		{"/docs/assets/swagger-ui/swagger-ui.css", "text/css; charset=utf-8", ".swagger-ui"},
		{"/docs/assets/swagger-ui/favicon-32x32.png", "image/png", "PNG"},
	} {
		resp, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != c.contentType || !strings.Contains(string(b), c.contains) ||
			resp.Header.Get("Content-Security-Policy") != apidocs.ContentSecurityPolicy {
			t.Errorf("GET %s: %d %q (CSP %q)", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Security-Policy"))
		}
	}
	for _, p := range []string{"/docs/assets/", "/docs/assets/docs.html", "/docs/assets/swagger-ui/README.md", "/docs/assets/swagger-ui/LICENSE",
		"/docs/assets/../apidocs.go", "/docs/assets/nothing.js"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
		}
	}
}
