// Package internal_test holds the rules of the packages' layers: which may
// import which. A newcomer finds the architecture here, checked.
package internal_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/avatar-api/avatar-api/internal/"

// forbidden lists, for a package (and the packages beneath it), the
// packages it must not import, directly.
var forbidden = map[string][]string{
	// The HTTP layer talks to services, never to their storage or workers:
	// the row shape is not the public shape.
	"api": {"store", "storage/local", "storage/s3", "worker", "cli", "generator/builtin", "generator/still"},
	// Commands wire the service; they do not reach into the HTTP layer.
	"cli": {"api"},
	// Services know nothing of HTTP or of the commands.
	"job":    {"api", "cli", "worker", "server"},
	"apikey": {"api", "cli", "server"},
	"auth":   {"api", "cli"},
	// The store holds rows; it knows no service.
	"store": {"job", "apikey", "api", "worker", "cli", "generator", "media"},
	// Generators make videos from files; they know no job, queue or store.
	"generator": {"job", "api", "store", "worker", "cli", "queue"},
	"media":     {"job", "api", "store", "worker", "cli", "generator"},
	"storage":   {"store", "job", "api", "worker", "cli"},
	// The garbage collection deletes through the store and storage; the
	// worker's periodic job runs it.
	"gc": {"api", "cli", "server", "worker", "job", "app"},
	// Monitoring reads and writes history through the store; the HTTP
	// layer asks it, never the other way round.
	"stats":  {"api", "cli", "server", "worker", "job"},
	"rollup": {"api", "cli", "server", "worker", "job"},
	// The GPU sampler and the dashboard's page know nothing of the service.
	"gpu":       {"job", "api", "store", "worker", "cli", "server", "stats"},
	"dashboard": {"job", "api", "store", "worker", "cli", "server", "stats", "auth"},
	// RunPod: the client, the dispatcher (a generator, fed by the worker)
	// and the RunPod worker know no job, store or queue; the RunPod worker
	// runs in RunPod's container with no database and no storage
	// credentials, so it imports neither.
	"runpod":            {"job", "api", "store", "worker", "cli", "server", "queue"},
	"runpod/serverless": {"storage", "app", "config"},
	// Alerts decide and notify; they know no HTTP route or command.
	"alert": {"api", "cli", "server", "worker", "job", "app"},
	// Alert channels send one alert; the rules, their state and the
	// delivery queue above them decide what and when.
	"alert/notify": {"store", "job", "api", "app", "config", "queue", "worker", "cli", "server", "stats", "rollup"},
	// The SSRF guard of outgoing webhooks checks URLs and addresses; it
	// knows nothing of the service.
	"netguard": {"store", "job", "api", "app", "config", "queue", "worker", "cli", "server", "stats", "alert", "apikey", "auth"},
	// Customers' webhooks: checked, sealed, signed and delivered through
	// the store and the guard; the HTTP layer, the job service and the
	// workers call them, never the other way round.
	"webhook": {"api", "cli", "server", "worker", "job", "app", "apikey", "stats"},
	// The documentation page is static files: it knows nothing of the
	// service.
	"apidocs": {"store", "job", "api", "app", "config", "queue", "worker", "cli", "server", "webhook", "alert", "stats"},
	// The client's address knows only requests and networks: the server
	// resolves it, the API reads it.
	"clientip": {"store", "job", "api", "app", "config", "queue", "worker", "cli", "server", "auth", "apikey", "logging"},
	// Standard Webhooks signing knows only bytes and headers.
	"stdwebhook": {"store", "job", "api", "app", "config", "queue", "worker", "cli", "server", "webhook", "alert"},
}

func TestLayers(t *testing.T) {
	t.Parallel()
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		pkg := filepath.ToSlash(filepath.Dir(path))
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for layer, banned := range forbidden {
			if pkg != layer && !strings.HasPrefix(pkg, layer+"/") {
				continue
			}
			checked++
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				dep, ok := strings.CutPrefix(p, module)
				if !ok {
					continue
				}
				for _, b := range banned {
					if dep == b || strings.HasPrefix(dep, b+"/") {
						t.Errorf("%s imports %s: package %s must not depend on %s", path, dep, layer, b)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("checked only %d files: the walk is broken", checked)
	}
}
