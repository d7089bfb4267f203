package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/avatar-api/avatar-api/internal/problem"
)

// The page's own scripts and stylesheet, and the vendored uPlot (see
// assets/vendor/uplot/README.md). Everything the page loads is here.
//
//go:embed assets
var assetFiles embed.FS

// assetPrefix is where Assets is mounted.
const assetPrefix = "/dashboard/assets/"

// contentTypes are the media types of the embedded files, by extension,
// fixed here rather than read from the host's mime.types.
var contentTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".md":  "text/markdown; charset=utf-8",
	"":     "text/plain; charset=utf-8", // LICENSE
}

// asset is one static file, read once.
type asset struct {
	body        []byte
	hash        string // hex of the first 8 bytes of its SHA-256: its URL's v
	contentType string
}

// assetSet is every static file, by its path under the set's root.
type assetSet map[string]asset

// readAssets reads and hashes every file of fsys. A file whose extension
// has no content type is an error, so a new kind of file cannot be served
// as something the browser guesses.
func readAssets(fsys fs.FS) (assetSet, error) {
	set := assetSet{}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		ct, ok := contentTypes[path.Ext(name)]
		if !ok {
			return fmt.Errorf("no content type for %s", name)
		}
		sum := sha256.Sum256(body)
		set[name] = asset{body: body, hash: hex.EncodeToString(sum[:8]), contentType: ct}
		return nil
	})
	return set, err
}

// embedded is the set built into the binary, read on first use.
var embedded = sync.OnceValue(func() assetSet {
	sub, err := fs.Sub(assetFiles, "assets")
	if err == nil {
		var set assetSet
		if set, err = readAssets(sub); err == nil {
			return set
		}
	}
	panic("dashboard: reading the embedded assets: " + err.Error()) // the binary itself is broken
})

// Assets serves the embedded static files; mount it at
// "GET /dashboard/assets/" (it strips that prefix itself).
//
// A request whose v is the file's content hash (a URL from AssetPath) may
// be cached for a year as immutable: new content has a new URL. Any other
// (no v, or another version's, as during a rolling deploy) must be
// revalidated, so a browser never keeps one version under another's URL.
// X-Content-Type-Options is set by the server's middleware.
func Assets() http.Handler { return embedded() }

func (s assetSet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a, ok := s[strings.TrimPrefix(r.URL.Path, assetPrefix)]
	if !ok {
		problem.Write(w, r, problem.New(http.StatusNotFound, problem.CodeNotFound, "no such dashboard asset"))
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("ETag", `"`+a.hash+`"`)
	if r.URL.Query().Get("v") == a.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// AssetPath is the URL of an asset with its content hash for cache
// busting, e.g. "/dashboard/assets/dashboard.js?v=3f2a…"; name is the
// file's path under assets/ ("vendor/uplot/uPlot.min.css"). It panics on a
// name that is not embedded: names are the code's own, and the tests
// render every template.
func AssetPath(name string) string { return embedded().path(name) }

func (s assetSet) path(name string) string {
	a, ok := s[name]
	if !ok {
		panic("dashboard: no asset " + name)
	}
	return assetPrefix + name + "?v=" + a.hash
}
