package main_test

// make bench (scripts/bench): TestPerformance measures each performance
// claim of the service against a baseline measured in the same run, on
// the real binary, and writes the figures to docs/PERFORMANCE.md. It runs
// only with AVATAR_BENCH=1; go test ./... skips it.

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// perfSection is one part of the report, measured by run; its Markdown
// goes under its title.
type perfSection struct {
	name, title string
	run         func(t *testing.T, r *perfReport)
}

var perfSections = []perfSection{
	{"gateway", "Gateway: `GET /status/{id}` through the whole stack against a bare handler", benchGateway},
	{"submit", "Submit: `POST /generate`", benchSubmit},
	{"dispatch", "Dispatch: from accepted to started, workers idle", benchDispatch},
	{"generator", "Generator: the built-in animator against the encoder alone", benchGenerator},
	{"scale", "Scale: 100 to 100 000 jobs in the database", benchScale},
}

// perfReport collects the Markdown of every section measured.
type perfReport struct {
	started  time.Time
	sections map[string]*bytes.Buffer
}

func (r *perfReport) section(name string) *bytes.Buffer {
	if r.sections[name] == nil {
		r.sections[name] = &bytes.Buffer{}
	}
	return r.sections[name]
}

// printf writes a line of section name's Markdown, and logs it.
func (r *perfReport) printf(t *testing.T, name, format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	t.Log(line)
	fmt.Fprintln(r.section(name), line)
}

// TestPerformance runs the sections named in AVATAR_BENCH_ONLY (a comma-
// separated list; default all) and writes the report to AVATAR_BENCH_OUT
// (default docs/PERFORMANCE.md), keeping the sections it did not run as
// they were there.
func TestPerformance(t *testing.T) {
	if os.Getenv("AVATAR_BENCH") == "" {
		t.Skip("make bench runs this (AVATAR_BENCH=1)")
	}
	only := map[string]bool{}
	for _, s := range strings.Split(os.Getenv("AVATAR_BENCH_ONLY"), ",") {
		if s = strings.TrimSpace(s); s != "" {
			only[s] = true
		}
	}
	const report = "../../docs/PERFORMANCE.md"
	out := cmp.Or(os.Getenv("AVATAR_BENCH_OUT"), report)
	// The figures other documents quote follow the report itself, not a
	// copy written elsewhere.
	quoting := samePath(out, report)
	r := &perfReport{started: time.Now(), sections: map[string]*bytes.Buffer{}}
	old := readPerfSections(out)
	for _, s := range perfSections {
		if len(only) > 0 && !only[s.name] {
			if md, ok := old[s.name]; ok {
				r.section(s.name).WriteString(md)
			}
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			start := time.Now()
			s.run(t, r)
			r.printf(t, s.name, "\n_Measured %s at commit `%s`%s in %.0f s, at %s._", time.Now().UTC().Format("2006-01-02 15:04 UTC"),
				commit(), dirty(), time.Since(start).Seconds(), machineLoad())
		})
	}
	if t.Failed() {
		return
	}
	md := r.markdown(old["preamble"], old["limits"])
	docs := map[string][]byte{}
	if quoting {
		var err error
		if docs, err = quotedDocs(md); err != nil {
			t.Fatal(err) // before any file is written
		}
	}
	if err := os.WriteFile(out, md, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", out)
	for path, doc := range docs {
		if err := os.WriteFile(path, doc, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote the figures %s quotes", path)
	}
}

// samePath reports whether a and b name the same file.
func samePath(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}

// Markers around each generated section of PERFORMANCE.md: what lies
// outside them (the introduction, what limits each figure) is written by
// hand and kept.
func beginMarker(name string) string { return "<!-- bench:" + name + " -->" }
func endMarker(name string) string   { return "<!-- /bench:" + name + " -->" }

// readPerfSections reads the generated sections of an earlier report, and
// the hand-written text before them (preamble) and after them (limits).
func readPerfSections(path string) map[string]string {
	b, err := os.ReadFile(path)
	if err != nil {
		return map[string]string{}
	}
	s := string(b)
	m := map[string]string{}
	first, last := len(s), 0
	for _, sec := range append([]perfSection{{name: "machine"}}, perfSections...) {
		i := strings.Index(s, beginMarker(sec.name))
		j := strings.Index(s, endMarker(sec.name))
		if i < 0 || j < i {
			continue
		}
		body := s[i+len(beginMarker(sec.name)) : j]
		// The section's title line is written again: keep what follows it.
		if _, rest, ok := strings.Cut(strings.TrimPrefix(body, "\n"), "\n"); ok && sec.name != "machine" {
			body = strings.TrimPrefix(rest, "\n")
		}
		m[sec.name] = body
		first, last = min(first, i), max(last, j+len(endMarker(sec.name)))
	}
	if last > 0 {
		m["preamble"] = s[:first]
		m["limits"] = s[last:]
	}
	return m
}

func (r *perfReport) markdown(preamble, limits string) []byte {
	var b bytes.Buffer
	if preamble == "" {
		preamble = "# Performance\n\n"
	}
	b.WriteString(preamble)
	fmt.Fprintf(&b, "%s\n%s%s\n\n", beginMarker("machine"), machineLine(r.started), endMarker("machine"))
	for _, s := range perfSections {
		fmt.Fprintf(&b, "%s\n## %s\n\n%s%s\n\n", beginMarker(s.name), s.title, r.section(s.name).String(), endMarker(s.name))
	}
	b.WriteString(strings.TrimLeft(limits, "\n"))
	return b.Bytes()
}

// machineLine says where and when the figures were measured.
func machineLine(at time.Time) string {
	cpu := "unknown processor"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("Last run of `make bench` on %s: commit `%s`%s, %s, %d cores (%s), %s. Each section says when and at which commit it was measured.\n",
		at.UTC().Format("2006-01-02 15:04 UTC"), commit(), dirty(), runtime.Version(), runtime.NumCPU(), cpu, machineLoad())
}

// commit is the checkout's commit, short.
func commit() string {
	out, _ := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	return strings.TrimSpace(string(out))
}

// dirty says whether the checkout has changes not committed.
func dirty() string {
	// The documents the runs rewrite do not count.
	out, _ := exec.Command("git", "status", "--porcelain", "--untracked-files=no", "--", ":(top)", ":(top,exclude)docs/PERFORMANCE.md",
		":(top,exclude)README.md", ":(top,exclude)docs/generator.md").Output()
	if len(out) > 0 {
		return " with uncommitted changes"
	}
	return ""
}

// machineLoad is the load average over the last minute: how much else ran.
func machineLoad() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "load unknown"
	}
	f := strings.Fields(string(b))
	return "load average " + f[0]
}

// samples are repeated measurements of one figure.
type samples []float64

func (s samples) median() float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	c := slices.Clone(s)
	slices.Sort(c)
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}

// format is the median with the range: "1 234 (1 100–1 300)".
func (s samples) format(f func(float64) string) string {
	if len(s) == 0 {
		return "–"
	}
	if len(s) == 1 {
		return f(s[0])
	}
	return fmt.Sprintf("%s (%s–%s)", f(s.median()), f(slices.Min(s)), f(slices.Max(s)))
}

func fmtInt(v float64) string { return fmt.Sprintf("%.0f", v) }
func fmtMs(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.2f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}
func fmtRatio(v float64) string { return fmt.Sprintf("%.2f", v) }
func fmtSec(v float64) string   { return fmt.Sprintf("%.2f s", v) }

// percentile of d, p in [0, 100], nearest rank.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// peakRSS is the most resident memory process pid has had (VmHWM), in MB.
func peakRSS(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb float64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%f kB", &kb); err != nil {
				return 0, err
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// serveBare answers every request with the body in AVATAR_BENCH_BARE_BODY
// (a file) and its Content-Type, on the socket passed as file descriptor
// 3: the baseline of the gateway figures, a bare net/http server run as a
// process of its own, as the service is. TestMain calls it when
// AVATAR_BENCH_BARE is set.
func serveBare() {
	body, err := os.ReadFile(os.Getenv("AVATAR_BENCH_BARE_BODY"))
	if err != nil {
		panic(err)
	}
	ct := os.Getenv("AVATAR_BENCH_BARE_TYPE")
	ln, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		panic(err)
	}
	panic(http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", ct)
		_, _ = w.Write(body)
	})))
}
