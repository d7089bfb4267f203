package main_test

import (
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// benchGenerator runs the generator's own Go benchmarks (make
// bench-generator) and reports them: BenchmarkGenerator, the whole
// generator against the encoder fed a still frame, in runs of 3
// iterations, 3 runs; BenchmarkRender, one 512×512 frame, 5 runs.
func benchGenerator(t *testing.T, r *perfReport) {
	const sec = "generator"
	gen := goBench(t, "../../internal/generator/builtin/", "BenchmarkGenerator", "3x", 3)
	r.printf(t, sec, "`BenchmarkGenerator` (internal/generator/builtin): the 13.7 s recording and the astronaut; (a) the whole generator, (b) the floor: "+
		"the same ffmpeg encoder with the same settings fed the unanimated portrait as many times. 3 runs of 3 iterations, each run's medians; median (min–max) of the runs.\n")
	r.printf(t, sec, "| size | a | b (floor) | a ÷ b | real-time factor | targets |")
	r.printf(t, sec, "| --- | --- | --- | --- | --- | --- |")
	for _, size := range []string{"512x512@25", "1280x720@30"} {
		m := gen["BenchmarkGenerator/"+size]
		target := "–"
		if size == "512x512@25" {
			target = "a under 2 s, a ÷ b under 1.5"
		}
		r.printf(t, sec, "| %s | %s | %s | **%s** | %s× | %s |", strings.Replace(size, "@", ", ", 1)+" fps", m["a_s"].format(fmtSec), m["b_floor_s"].format(fmtSec),
			m["a/b"].format(fmtRatio), m["x_realtime"].format(fmtX), target)
	}
	render := goBench(t, "../../internal/generator/animate/", "BenchmarkRender", "2s", 5)["BenchmarkRender"]
	r.printf(t, sec, "\n`BenchmarkRender` (internal/generator/animate), one 512×512 frame with the head, jaw and lids moving, on one core: %s a frame (5 runs).",
		render["ns/op"].format(func(v float64) string { return strconv.FormatFloat(v/1e6, 'f', 2, 64) + " ms" }))
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
