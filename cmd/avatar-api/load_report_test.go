package main_test

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// reportLoad logs a run's figures and appends them, as Markdown, to the file
// AVATAR_LOAD_REPORT names (scripts/load-test prints it).
func reportLoad(t *testing.T, f figures) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n", f.topology)
	fmt.Fprintf(&b, "| jobs | accepted | final states | wall time | jobs/s | all accepted after | submit p50 / p99 | replayed 202s | client retries | runs | completed on attempt |\n")
	fmt.Fprintf(&b, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	fmt.Fprintf(&b, "| %d | %d | %s | %s | %.2f | %s | %s / %s | %d | %s | %d | %s |\n\n",
		f.jobs, f.accepted, formatStates(f.states), seconds(f.wall), float64(f.accepted)/f.wall.Seconds(), seconds(f.submitted),
		millis(f.p50), millis(f.p99), f.replayed, counts(f.retries), f.check.runs, attempts(f.check.attempts))
	fmt.Fprintf(&b, "| kill | process | when | at | entries running | answering again | first 202 after | first completion after | running entries back in the queue after |\n")
	fmt.Fprintf(&b, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for i, r := range f.kills {
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", i+1, r.plan.member.name, r.plan.when, seconds(r.into),
			orNA(r.worksToo, fmt.Sprint(len(r.inFlight))), seconds(r.ready), orNA(r.url >= 0 && r.firstOK > 0, seconds(r.firstOK)),
			orNA(r.worksToo, seconds(r.firstDone)), orNA(r.worksToo && len(r.inFlight) > 0, seconds(r.requeued)))
	}
	fmt.Fprintf(&b, "\nProcessor time of the service's processes and of the ffmpeg and ffprobe they ran: %s, %.2f s a job.\n", seconds(f.cpu), f.cpu.Seconds()/float64(max(f.accepted, 1)))
	fmt.Fprintf(&b, "Storage after the run: %d files, every one a job's video; %d of them probed with ffprobe. Scratch directories empty. "+
		"Queue entries of a completed job not yet closed (a kill between the job's commit and River's; River's rescuer takes them back after JOB_RESCUE_AFTER): %d.\n\n",
		f.check.results, f.check.probed, f.check.unclosed)
	t.Logf("started %s\n%s", f.startedAt, b.String())
	path := os.Getenv("AVATAR_LOAD_REPORT")
	if path == "" || t.Failed() {
		return
	}
	out, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := out.WriteString(b.String()); err != nil {
		t.Fatal(err)
	}
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

func millis(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

func orNA(ok bool, s string) string {
	if !ok {
		return "–"
	}
	return s
}

// counts writes a map of counts as "a 3, b 1", largest first.
func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := slices.SortedFunc(maps.Keys(m), func(a, b string) int { return m[b] - m[a] })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func attempts(m map[int]int) string {
	var parts []string
	for _, a := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d: %d", a, m[a]))
	}
	return strings.Join(parts, ", ")
}
