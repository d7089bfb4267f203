package main_test

import (
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// benchGenerator runs the generator's own Go benchmarks (make
// bench-generator) and reports them: BenchmarkGenerator, the whole
// generator against the encoder fed a still frame and fed the generator's
// frames rendered beforehand, in runs of 3 iterations, 3 runs;
// BenchmarkRender, one frame at both sizes, the fixed-point inner loops and
// the float ones they replaced, 5 runs.
func benchGenerator(t *testing.T, r *perfReport) {
	const sec = "generator"
	gen := goBench(t, "../../internal/generator/builtin/", "BenchmarkGenerator", "3x", 3)
	r.printf(t, sec, "`BenchmarkGenerator` (internal/generator/builtin): the 13.7 s recording and the astronaut; (a) the whole generator, (b) the floor: "+
		"the same ffmpeg encoder with the same settings fed the unanimated portrait as many times; (c) the same encoder fed the generator's own frames, "+
		"rendered before the clock starts. a − c is what planning and rendering add, c − b what x264 spends on a moving picture. "+
		"3 runs of 3 iterations, each run's medians; median (min–max) of the runs.\n")
	r.printf(t, sec, "| size | a | b (floor) | c (encoding the frames) | a ÷ b | c ÷ b | real-time factor | targets |")
	r.printf(t, sec, "| --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, size := range []string{"512x512@25", "1280x720@30"} {
		m := gen["BenchmarkGenerator/"+size]
		target := "–"
		if size == "512x512@25" {
			target = "a under 2 s, a ÷ b under 1.5"
		}
		q := func(name string, s samples, f func(float64) string) string {
			return s.formatFigure("generator."+strings.Split(size, "@")[0]+"."+name, f)
		}
		r.printf(t, sec, "| %s | %s | %s | %s | **%s** | %s | %s× | %s |", strings.Replace(size, "@", ", ", 1)+" fps", q("a", m["a_s"], fmtSec), q("b", m["b_floor_s"], fmtSec),
			q("c", m["c_encode_s"], fmtSec), q("a-b", m["a/b"], fmtRatio), q("c-b", m["c/b"], fmtRatio), q("realtime", m["x_realtime"], fmtX), target)
	}
	render := goBench(t, "../../internal/generator/animate/", "BenchmarkRender", "2s", 5)
	ms := func(v float64) string { return strconv.FormatFloat(v/1e6, 'f', 2, 64) + " ms" }
	r.printf(t, sec, "\n`BenchmarkRender` (internal/generator/animate): one frame at a time on one core, cycling through the poses of 20 s of lively speech; "+
		"the fixed-point inner loops against the float loops they replaced (kept in reference_test.go; the jaw's and lids' warp is the same code in both), "+
		"in the same run: 5 runs of each, the ratio of each pair.\n")
	r.printf(t, sec, "| size | fixed point | float loops | fixed ÷ float |")
	r.printf(t, sec, "| --- | --- | --- | --- |")
	for _, size := range []string{"512x512", "1280x720"} {
		fixed, float := render["BenchmarkRender/"+size+"/fixed"]["ns/op"], render["BenchmarkRender/"+size+"/float"]["ns/op"]
		r.printf(t, sec, "| %s | %s | %s | **%s** |", size, fixed.formatFigure("render."+size+".fixed", ms),
			float.format(ms), ratios(fixed, float).formatFigure("render."+size+".ratio", fmtRatio))
	}
}

// formatFigure is format with the median marked as the figure name, which
// README.md and docs/generator.md quote.
func (s samples) formatFigure(name string, f func(float64) string) string {
	if len(s) == 0 {
		return "–"
	}
	return fmt.Sprintf("%s (%s–%s)", figure(name, f(s.median())), f(slices.Min(s)), f(slices.Max(s)))
}

// ratios is a[i] ÷ b[i] for each pair of runs.
func ratios(a, b samples) samples {
	r := make(samples, min(len(a), len(b)))
	for i := range r {
		r[i] = a[i] / b[i]
	}
	return r
}

func fmtX(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+\d+\s+(.*)$`)

// goBench runs the benchmarks matching name in pkg, count times with
// benchtime, and returns each benchmark's metrics (ns/op and those it
// reports), one sample a run.
func goBench(t *testing.T, pkg, name, benchtime string, count int) map[string]map[string]samples {
	t.Helper()
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "^"+name+"$", "-benchtime", benchtime, "-count", strconv.Itoa(count), pkg)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go test -bench %s %s: %v\n%s", name, pkg, err, out)
	}
	res := map[string]map[string]samples{}
	for _, line := range strings.Split(string(out), "\n") {
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if res[m[1]] == nil {
			res[m[1]] = map[string]samples{}
		}
		f := strings.Fields(m[3])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err == nil {
				res[m[1]][f[i+1]] = append(res[m[1]][f[i+1]], v)
			}
		}
	}
	if len(res) == 0 {
		t.Fatalf("no benchmark results from %s:\n%s", pkg, out)
	}
	return res
}
