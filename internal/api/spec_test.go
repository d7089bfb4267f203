package api_test

import (
	"bytes"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/avatar-api/avatar-api/internal/api"
)

var updateSpec = flag.Bool("update-spec", false, "rewrite api/openapi.yaml from the served document")

// specPath is the committed OpenAPI document: API changes show in diffs.
const specPath = "../../api/openapi.yaml"

// TestSpecCommitted: the document the whole service serves is the
// committed one (with its server written as the default PUBLIC_URL), and
// every server builds the same one. Regenerate it with:
//
//	go test ./internal/api -run TestSpecCommitted -update-spec
func TestSpecCommitted(t *testing.T) {
	t.Parallel()
	get := func(url string) []byte {
		resp, err := http.Get(url + "/openapi.yaml")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /openapi.yaml: %d %v", resp.StatusCode, err)
		}
		return b
	}
	tb := setup(t, options{noWorkers: true})
	got := bytes.ReplaceAll(get(tb.url), []byte(tb.url), []byte("http://localhost:8080"))
	bare := httptest.NewServer(api.New(api.Deps{Log: slog.New(slog.DiscardHandler), Files: http.NotFoundHandler(), PublicURL: "http://localhost:8080"}))
	defer bare.Close()
	if again := get(bare.URL); !bytes.Equal(got, again) {
		t.Error("a server built with other parts serves another document: the document must not depend on them")
	}
	if *updateSpec {
		if err := os.WriteFile(specPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the served OpenAPI document differs from %s; if the change is meant, run: go test ./internal/api -run TestSpecCommitted -update-spec, then go generate ./apiclient (the generated client)", specPath)
	}
}

// TestRoot: GET / tells a program where the documentation is, and sends
// a browser there.
func TestRoot(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(api.New(api.Deps{Log: slog.New(slog.DiscardHandler), Files: http.NotFoundHandler(), PublicURL: "https://avatar.example.com"}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte(`"docs":"https://avatar.example.com/docs"`)) ||
		!bytes.Contains(b, []byte(`"openapi":"https://avatar.example.com/openapi.json"`)) {
		t.Errorf("GET /: %d %s", resp.StatusCode, b)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/docs" {
		t.Errorf("a browser's GET /: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, err := http.Get(srv.URL + "/nothing-here"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nothing-here: %v %v (GET / must not catch every path)", resp, err)
	}
}
