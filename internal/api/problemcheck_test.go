package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/avatar-api/avatar-api/internal/problem"
)

// Every problem a test's service answers is held to the committed
// document: its status must be a documented answer of the operation, and
// its code one of those listed (as an example) under that answer. So a
// code that a test provokes and the document does not list fails that
// test, and the document's lists stay complete as the code grows.

// specOp is an operation of the committed document, with the pattern of
// its path.
type specOp struct {
	method string
	path   *regexp.Regexp
	op     *openapi3.Operation
}

var specOps = sync.OnceValues(func() ([]specOp, error) {
	doc, err := openapi3.NewLoader().LoadFromFile(specPath)
	if err != nil {
		return nil, err
	}
	param := regexp.MustCompile(`\{[^}]+\}`)
	var ops []specOp
	for path, item := range doc.Paths.Map() {
		var pattern strings.Builder
		for i, lit := range param.Split(path, -1) {
			if i > 0 {
				pattern.WriteString(`[^/]+`)
			}
			pattern.WriteString(regexp.QuoteMeta(lit))
		}
		re := regexp.MustCompile("^" + pattern.String() + "$")
		for method, op := range item.Operations() {
			ops = append(ops, specOp{method: method, path: re, op: op})
		}
	}
	return ops, nil
})

// undocumentedProblems collects what a test's service answered that the
// document does not say.
type undocumentedProblems struct {
	mu  sync.Mutex
	bad []string
}

func (u *undocumentedProblems) add(format string, args ...any) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.bad) < 20 {
		u.bad = append(u.bad, fmt.Sprintf(format, args...))
	}
}

// report fails t with what was found; called once the server is closed.
func (u *undocumentedProblems) report(t testing.TB) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, b := range u.bad {
		t.Errorf("an answer the document does not list (internal/api/codes.go): %s", b)
	}
}

// checkProblems serves next, checking each problem it answers.
func checkProblems(t testing.TB, next http.Handler, u *undocumentedProblems) http.Handler {
	ops, err := specOps()
	if err != nil {
		t.Fatal(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var op *openapi3.Operation
		for _, o := range ops {
			if o.method == r.Method && o.path.MatchString(r.URL.Path) {
				op = o.op
				break
			}
		}
		if op == nil { // not an operation: a file, a page, an unknown path
			next.ServeHTTP(w, r)
			return
		}
		rec := &problemRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if !rec.problem || rec.status == 499 { // 499: the client had gone; nothing was sent
			return
		}
		var p struct{ Code string }
		if err := json.Unmarshal(rec.body, &p); err != nil {
			u.add("%s %s: %d with a problem body that is not JSON: %.200s", r.Method, r.URL.Path, rec.status, rec.body)
			return
		}
		resp := op.Responses.Value(strconv.Itoa(rec.status))
		if resp == nil || resp.Value == nil || resp.Value.Content[problem.ContentType] == nil {
			u.add("%s %s (%s): status %d (code %s) is not one of its documented answers", r.Method, r.URL.Path, op.OperationID, rec.status, p.Code)
			return
		}
		if _, ok := resp.Value.Content[problem.ContentType].Examples[p.Code]; !ok {
			var listed []string
			for c := range resp.Value.Content[problem.ContentType].Examples {
				listed = append(listed, c)
			}
			slices.Sort(listed)
			u.add("%s %s (%s): %d %s, which its %d answer does not list (it lists %s)", r.Method, r.URL.Path, op.OperationID, rec.status, p.Code, rec.status, strings.Join(listed, ", "))
		}
	})
}

// problemRecorder passes a response through, keeping the body of a
// problem.
type problemRecorder struct {
	http.ResponseWriter
	status  int
	problem bool
	body    []byte
}

func (r *problemRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
		r.problem = strings.HasPrefix(r.Header().Get("Content-Type"), problem.ContentType)
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *problemRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	if r.problem && len(r.body) < 64<<10 {
		r.body = append(r.body, b...)
	}
	return r.ResponseWriter.Write(b)
}

func (r *problemRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *problemRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// TestProblemsInTheGuide: every code the document lists under an answer
// is in docs/API.md's error table with that status, so the guide's table
// and the document agree.
func TestProblemsInTheGuide(t *testing.T) {
	t.Parallel()
	_, table, _ := strings.Cut(readAPIDoc(t), "\n## Errors\n")
	table, _, _ = strings.Cut(table, "\n## ")
	statuses := map[string][]string{} // code → the statuses its rows give
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| ([0-9, ]+) \\|").FindAllStringSubmatch(table, -1) {
		for _, s := range strings.Split(m[2], ",") {
			statuses[m[1]] = append(statuses[m[1]], strings.TrimSpace(s))
		}
	}
	ops, err := specOps()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, o := range ops {
		for status, r := range o.op.Responses.Map() {
			if r.Value == nil || r.Value.Content[problem.ContentType] == nil {
				continue
			}
			for code := range r.Value.Content[problem.ContentType].Examples {
				n++
				if !slices.Contains(statuses[code], status) {
					t.Errorf("%s answers %s %s, which docs/API.md's error table does not give (it gives %v)", o.op.OperationID, status, code, statuses[code])
				}
			}
		}
	}
	if n < 100 {
		t.Errorf("only %d documented problems found: is the document read right?", n)
	}
}
