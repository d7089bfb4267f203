package api

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/metric"
	"github.com/avatar-api/avatar-api/internal/stats"
	"github.com/avatar-api/avatar-api/internal/storage/local"
)

// TestRouteTable: every route says who may call it, no two lines claim
// the same method and path, every documented operation is a route, and
// what the OpenAPI document tells clients
// (the bearer scheme and its scopes, the 401/403/429 answers) follows from
// the table's access column.
func TestRouteTable(t *testing.T) {
	t.Parallel()
	a := &api{Deps: Deps{Files: http.NotFoundHandler(), Metrics: metric.New(nil)}}
	seen := map[string]bool{}
	for _, r := range a.routes() {
		r.access.scopes() // panics on a route without access
		if seen[r.method+" "+r.path] {
			t.Errorf("%s %s is in the table twice", r.method, r.path)
		}
		seen[r.method+" "+r.path] = true
	}
	for _, want := range []string{"GET /metrics", "GET /files/", "HEAD /files/", "PUT /files/", "GET /health", "POST /generate",
		"GET /openapi.json", "GET /openapi.yaml", "GET /openapi-3.0.json", "GET /openapi-3.0.yaml"} {
		if !seen[want] {
			t.Errorf("%s is not in the route table", want)
		}
	}

	srv := httptest.NewServer(New(Deps{Log: slog.New(slog.DiscardHandler), Files: http.NotFoundHandler()}))
	defer srv.Close()
	for _, form := range []string{"/openapi.yaml", "/openapi-3.0.json", "/openapi-3.0.yaml"} {
		resp, err := http.Get(srv.URL + form)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "/generate") {
			t.Errorf("GET %s = %d, %.80q", form, resp.StatusCode, body)
		}
	}
	resp, err := http.Get(srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Paths map[string]map[string]struct {
			Security  []map[string][]string `json:"security"`
			Responses map[string]any        `json:"responses"`
		} `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	// Every documented operation is a route of the table (a plain
	// handler's under its pattern: a whole subtree, or the root alone).
	routeOf := map[string]string{"/files/{key}": "/files/", "/": "/{$}"}
	for path, ops := range doc.Paths {
		for method := range ops {
			if !seen[strings.ToUpper(method)+" "+cmp.Or(routeOf[path], path)] {
				t.Errorf("%s %s is documented but not in the route table", strings.ToUpper(method), path)
			}
		}
	}
	// Every route is documented, but pages for a browser (the dashboard
	// and its login, /docs) and the service's own callbacks (a remote
	// worker's upload of a video, RunPod's webhook): they are not the API.
	pathOf := map[string]string{"/files/": "/files/{key}", "/{$}": "/"}
	for _, r := range a.routes() {
		op, ok := doc.Paths[cmp.Or(pathOf[r.path], r.path)][strings.ToLower(r.method)]
		if r.method+" "+r.path == "PUT /files/" || strings.HasPrefix(r.path, "/runpod/") || strings.HasPrefix(r.path, "/docs") ||
			(strings.HasPrefix(r.path, "/dashboard") && r.path != "/dashboard/data") {
			continue
		}
		if !ok {
			t.Errorf("%s %s is not in the OpenAPI document", r.method, r.path)
			continue
		}
		scopes, keyed := r.access.scopes()
		switch {
		case !keyed && len(op.Security) != 0:
			t.Errorf("%s %s is open but documented with security %v", r.method, r.path, op.Security)
		case keyed && (len(op.Security) != 1 || len(op.Security[0]["bearer"]) != len(scopes)):
			t.Errorf("%s %s: security %v, want bearer with %v", r.method, r.path, op.Security, scopes)
		case keyed && (op.Responses["401"] == nil || op.Responses["429"] == nil):
			t.Errorf("%s %s needs a key but documents no 401 or 429", r.method, r.path)
		case len(scopes) > 0 && op.Responses["403"] == nil:
			t.Errorf("%s %s needs a scope but documents no 403", r.method, r.path)
		}
	}
}

// TestRouteWithoutAccess: a line of the table that does not say who may
// call it stops the service from starting, instead of being open.
func TestRouteWithoutAccess(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Fatal("a route without access was registered")
		}
	}()
	route{method: "GET", path: "/x"}.access.scopes()
}

// TestUploadThroughTheRouteTable: an upload URL of local storage works
// through the API's mux (the PUT line of the table), and a download URL
// of the same key cannot upload.
func TestUploadThroughTheRouteTable(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	srv := httptest.NewUnstartedServer(nil)
	disk, err := local.New(t.TempDir(), "http://"+srv.Listener.Addr().String(), bytes.Repeat([]byte("k"), 32))
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = New(Deps{Log: log, Files: disk.Handler(log)})
	srv.Start()
	defer srv.Close()
	ctx := context.Background()
	put := func(url string) int {
		req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader("video"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	get, err := disk.URL(ctx, "results/x.mp4", time.Now().Add(time.Hour), "")
	if err != nil {
		t.Fatal(err)
	}
	if st := put(get); st != http.StatusForbidden {
		t.Fatalf("PUT with a download URL = %d, want 403", st)
	}
	up, err := disk.UploadURL(ctx, "results/x.mp4", time.Now().Add(time.Hour), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if st := put(up); st != http.StatusCreated {
		t.Fatalf("PUT with an upload URL = %d, want 201", st)
	}
	if n, err := disk.Size(ctx, "results/x.mp4"); err != nil || n != 5 {
		t.Fatalf("stored: %d bytes, %v", n, err)
	}
}

// TestDashboardRangesDocumented: the ranges the data operation documents
// (its enum) are the ranges the dashboard offers.
func TestDashboardRangesDocumented(t *testing.T) {
	t.Parallel()
	f, _ := reflect.TypeOf(dashboardInput{}).FieldByName("Range")
	if got, want := f.Tag.Get("enum"), strings.Join(stats.RangeNames(), ","); got != want {
		t.Errorf("range enum %q, want %q", got, want)
	}
	if f.Tag.Get("default") != stats.DefaultRange {
		t.Errorf("range default %q, want %q", f.Tag.Get("default"), stats.DefaultRange)
	}
}
