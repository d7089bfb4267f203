package dashboard

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"testing"
	"testing/fstest"
)

// pageData is what the API renders the page with.
func pageData() PageData {
	return PageData{
		Operator:       "Ops team",
		Ranges:         []string{"1h", "6h", "24h", "7d", "30d"},
		Range:          "24h",
		RefreshSeconds: 1,
		DataURL:        "/dashboard/data",
		LogoutURL:      "/dashboard/logout",
		Timezone:       "Europe/Berlin",
	}
}

// element is one element of a parsed page, with its own text.
type element struct {
	name  string
	attrs map[string]string
	text  string
}

// parse reads an HTML page with encoding/xml's lenient HTML mode (void
// elements closed, HTML entities known), enough for our own templates.
func parse(t *testing.T, page string) []*element {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(page))
	dec.Strict, dec.AutoClose, dec.Entity = false, xml.HTMLAutoClose, xml.HTMLEntity
	var all, open []*element
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return all
		}
		if err != nil {
			t.Fatalf("parsing the page: %v\n%s", err, page)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			e := &element{name: strings.ToLower(tok.Name.Local), attrs: map[string]string{}}
			for _, a := range tok.Attr {
				e.attrs[strings.ToLower(a.Name.Local)] = a.Value
			}
			all, open = append(all, e), append(open, e)
		case xml.EndElement:
			open = open[:len(open)-1]
		case xml.CharData:
			if len(open) > 0 {
				open[len(open)-1].text += string(tok)
			}
		}
	}
}

func rendered(t *testing.T, f func(io.Writer) error) string {
	t.Helper()
	var b bytes.Buffer
	if err := f(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func renderPage(t *testing.T, d PageData) string {
	return rendered(t, func(w io.Writer) error { return RenderPage(w, d) })
}

func renderLogin(t *testing.T, d LoginData) string {
	return rendered(t, func(w io.Writer) error { return RenderLogin(w, d) })
}

func find(els []*element, match func(*element) bool) []*element {
	var out []*element
	for _, e := range els {
		if match(e) {
			out = append(out, e)
		}
	}
	return out
}

func TestPageShowsItsDataAsText(t *testing.T) {
	t.Parallel()
	d := pageData()
	d.Operator = `<script>alert("owned")</script>`
	d.Timezone = `Europe/Berlin"><b>`
	page := renderPage(t, d)
	if strings.Contains(page, "<script>alert") || strings.Contains(page, `"><b>`) {
		t.Fatalf("the page holds the operator's name or time zone unescaped:\n%s", page)
	}
	els := parse(t, page)
	op := find(els, func(e *element) bool { return e.attrs["class"] == "operator" })
	if len(op) != 1 || op[0].text != d.Operator {
		t.Errorf("operator shown as %+v, want the text %q", op, d.Operator)
	}
	body := find(els, func(e *element) bool { return e.name == "body" })[0]
	for attr, want := range map[string]string{
		"data-range": "24h", "data-refresh-seconds": "1", "data-data-url": "/dashboard/data", "data-timezone": d.Timezone,
	} {
		if body.attrs[attr] != want {
			t.Errorf("<body %s=%q>, want %q", attr, body.attrs[attr], want)
		}
	}
	var offered []string
	for _, b := range find(els, func(e *element) bool { return e.attrs["class"] == "range" }) {
		offered = append(offered, b.attrs["data-range"]+"="+b.attrs["aria-pressed"])
	}
	if got := strings.Join(offered, " "); got != "1h=false 6h=false 24h=true 7d=false 30d=false" {
		t.Errorf("range buttons (range=pressed): %s", got)
	}
	logout := find(els, func(e *element) bool { return e.name == "form" && e.attrs["class"] == "logout" })
	if len(logout) != 1 || logout[0].attrs["method"] != "post" || logout[0].attrs["action"] != "/dashboard/logout" {
		t.Errorf("logout form: %+v", logout)
	}
	panels := find(els, func(e *element) bool { return e.attrs["data-panel"] != "" })
	if len(panels) != 13 {
		t.Errorf("%d panels, want 13", len(panels))
	}
	for _, p := range panels {
		if p.name != "section" || !strings.Contains(p.attrs["class"], "panel") || p.attrs["data-state"] != "loading" {
			t.Errorf("panel %s is <%s class=%q data-state=%q>", p.attrs["data-panel"], p.name, p.attrs["class"], p.attrs["data-state"])
		}
	}
}

func TestLoginPage(t *testing.T) {
	t.Parallel()
	els := parse(t, renderLogin(t, LoginData{Error: `That key is not an admin key. <a href="x">`, Action: "/dashboard/login"}))
	errs := find(els, func(e *element) bool { return e.attrs["class"] == "login-error" })
	if len(errs) != 1 || errs[0].text != `That key is not an admin key. <a href="x">` {
		t.Errorf("error shown as %+v", errs)
	}
	if a := find(els, func(e *element) bool { return e.name == "a" }); len(a) > 0 {
		t.Error("the error's markup became an element")
	}
	form := find(els, func(e *element) bool { return e.name == "form" })
	if len(form) != 1 || form[0].attrs["method"] != "post" || form[0].attrs["action"] != "/dashboard/login" {
		t.Fatalf("login form: %+v", form)
	}
	inputs := find(els, func(e *element) bool { return e.name == "input" })
	if len(inputs) != 1 || inputs[0].attrs["name"] != "key" || inputs[0].attrs["type"] != "password" || inputs[0].attrs["autocomplete"] != "off" {
		t.Errorf("inputs: %+v, want one password field named key, autocomplete off", inputs)
	}

	els = parse(t, renderLogin(t, LoginData{Action: "/dashboard/login"}))
	if errs := find(els, func(e *element) bool { return e.attrs["class"] == "login-error" }); len(errs) != 0 {
		t.Errorf("an error area without an error: %+v", errs)
	}
}

// TestNoInlineScriptOrStyle holds both pages to what the CSP allows:
// scripts and stylesheets from files only, no style attributes, no event
// handler attributes.
func TestNoInlineScriptOrStyle(t *testing.T) {
	t.Parallel()
	pages := map[string]string{
		"page":  renderPage(t, pageData()),
		"login": renderLogin(t, LoginData{Error: "nope", Action: "/dashboard/login"}),
	}
	for name, page := range pages {
		for _, e := range parse(t, page) {
			switch {
			case e.name == "script" && (e.attrs["src"] == "" || strings.TrimSpace(e.text) != ""):
				t.Errorf("%s: inline <script>%s</script>", name, e.text)
			case e.name == "style":
				t.Errorf("%s: inline <style>", name)
			}
			for a, v := range e.attrs {
				if a == "style" || strings.HasPrefix(a, "on") || strings.HasPrefix(strings.TrimSpace(strings.ToLower(v)), "javascript:") {
					t.Errorf("%s: <%s %s=%q>", name, e.name, a, v)
				}
			}
		}
	}
}

// TestEveryReferencedAssetIsServed follows every script and stylesheet
// of both pages to Assets.
func TestEveryReferencedAssetIsServed(t *testing.T) {
	t.Parallel()
	var refs []string
	for _, page := range []string{renderPage(t, pageData()), renderLogin(t, LoginData{Action: "/dashboard/login"})} {
		for _, e := range parse(t, page) {
			switch {
			case e.name == "script":
				refs = append(refs, e.attrs["src"])
			case e.name == "link" && e.attrs["rel"] == "stylesheet":
				refs = append(refs, e.attrs["href"])
			case e.name == "link" && e.attrs["rel"] == "icon" && e.attrs["href"] != "data:,":
				t.Errorf("icon %s: the browser would ask the server for it", e.attrs["href"])
			}
		}
	}
	if len(refs) != 8 { // uPlot's script and stylesheet, our four scripts, our stylesheet on both pages
		t.Errorf("%d assets referenced: %q", len(refs), refs)
	}
	for _, ref := range refs {
		u, err := url.Parse(ref)
		if err != nil || u.Host != "" || !strings.HasPrefix(u.Path, "/dashboard/assets/") || u.Query().Get("v") == "" {
			t.Errorf("%q is not a versioned URL of ours", ref)
			continue
		}
		rec := httptest.NewRecorder()
		Assets().ServeHTTP(rec, httptest.NewRequest("GET", ref, nil))
		want := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}[path.Ext(u.Path)]
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != want || rec.Body.Len() == 0 {
			t.Errorf("GET %s: %d %q, %d bytes; want 200 %q", ref, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len(), want)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s: Cache-Control %q", ref, cc)
		}
	}
}

func TestAssetPathHashesTheContent(t *testing.T) {
	t.Parallel()
	body, err := assetFiles.ReadFile("assets/dashboard.js")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	if got, want := AssetPath("dashboard.js"), "/dashboard/assets/dashboard.js?v="+hex.EncodeToString(sum[:8]); got != want {
		t.Errorf("AssetPath = %s, want %s", got, want)
	}

	one, err := readAssets(fstest.MapFS{"app.js": {Data: []byte("one")}})
	if err != nil {
		t.Fatal(err)
	}
	two, err := readAssets(fstest.MapFS{"app.js": {Data: []byte("two")}})
	if err != nil {
		t.Fatal(err)
	}
	if one.path("app.js") == two.path("app.js") {
		t.Errorf("new content, same URL: %s", one.path("app.js"))
	}
	if _, err := readAssets(fstest.MapFS{"logo.svg": {Data: []byte("<svg/>")}}); err == nil {
		t.Error("a file without a content type was accepted")
	}
}

func TestAssetsAnswers(t *testing.T) {
	t.Parallel()
	get := func(target string, header ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", target, nil)
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		rec := httptest.NewRecorder()
		Assets().ServeHTTP(rec, r)
		return rec
	}
	for _, target := range []string{
		"/dashboard/assets/nope.js", "/dashboard/assets/", "/dashboard/assets/vendor/uplot",
		"/dashboard/assets/../dashboard.go", "/dashboard/assets/templates/page.html",
	} {
		if rec := get(target); rec.Code != http.StatusNotFound || rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("GET %s: %d %s, want a 404 problem", target, rec.Code, rec.Header().Get("Content-Type"))
		}
	}

	// Without the current hash the browser must revalidate; the ETag
	// makes that cheap.
	rec := get("/dashboard/assets/dashboard.css?v=0123456789abcdef")
	if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "no-cache" {
		t.Errorf("an old version's URL: %d, Cache-Control %q", rec.Code, rec.Header().Get("Cache-Control"))
	}
	if again := get("/dashboard/assets/dashboard.css", "If-None-Match", rec.Header().Get("ETag")); again.Code != http.StatusNotModified {
		t.Errorf("revalidation with the ETag: %d, want 304", again.Code)
	}

	rec = get("/dashboard/assets/vendor/uplot/LICENSE")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/plain; charset=utf-8" || !strings.Contains(rec.Body.String(), "MIT") {
		t.Errorf("uPlot's licence: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
}
