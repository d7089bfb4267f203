package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/testkit"
)

// Gateway figures: the load of wrk (connections, duration of a run) and
// how many rounds each target is measured in, alternating.
const (
	gatewayConns  = 32
	gatewayRun    = 5 * time.Second
	gatewayRounds = 5
)

// gatewayEnv lets the benchmark's one key poll as fast as the machine
// allows (100 000 requests a second, the most POLL_RATE_LIMIT takes),
// so that every decision is an allowed one, at the default log level.
var gatewayEnv = []string{"LOG_LEVEL=info", "POLL_RATE_LIMIT=100000", "POLL_RATE_WINDOW=1s"}

// benchGateway: GET /status/{id} of a completed job, through the whole
// stack (a key found in the one-second cache, the limiter, metrics, the
// access log at the default level), with the limiter in memory and in
// Redis, against a bare net/http server answering the same body; wrk at
// gatewayConns connections, the three alternating; then the latency at
// half the stack's measured rate (vegeta, a constant rate).
func benchGateway(t *testing.T, r *perfReport) {
	needTools(t, "wrk", "vegeta")
	dir := t.TempDir()
	mem := startBench(t, "serve", dir, gatewayEnv...)
	key := strings.TrimSpace(cli(t, []string{"DATA_DIR=" + dir}, "keys", "create", "--customer", "bench", "--rate-limit", "100000", "-q"))
	form, ct := loadForm(t)
	id := mem.post(t, form, ct, key)
	mem.waitState(t, id, key, "completed")
	redis := startBench(t, "serve", dir, append(gatewayEnv, "EMBEDDED_WORKERS=false", "REDIS_URL=redis://127.0.0.1:6379/0")...)

	path := "/status/" + id
	body, ctype := get(t, mem.url+path, key)
	bodyFile := filepath.Join(dir, "status.json")
	if err := os.WriteFile(bodyFile, body, 0o600); err != nil {
		t.Fatal(err)
	}
	bare := startBench(t, "bare", dir, "AVATAR_BENCH_BARE=1", "AVATAR_BENCH_BARE_BODY="+bodyFile, "AVATAR_BENCH_BARE_TYPE="+ctype)
	if b, _ := get(t, bare.url+path, key); string(b) != string(body) {
		t.Fatalf("the bare server answers %q, not %q", b, body)
	}

	targets := []struct {
		name string
		url  string
	}{{"bare net/http", bare.url}, {"full stack, limiter in memory", mem.url}, {"full stack, limiter in Redis", redis.url}}
	// AVATAR_BENCH_BASELINE names another build of avatar-api (an earlier
	// commit's, say): it is measured too, as the limiter-in-memory stack,
	// so that a change's effect is measured in the same run.
	if old := os.Getenv("AVATAR_BENCH_BASELINE"); old != "" {
		b := startBenchBinary(t, old, "serve", dir, append(gatewayEnv, "EMBEDDED_WORKERS=false")...)
		targets = append(targets, struct{ name, url string }{"full stack, limiter in memory, baseline build (`" + filepath.Base(old) + "`)", b.url})
	}
	n := len(targets)
	rps, p50, p99, ratio := make([]samples, n), make([]samples, n), make([]samples, n), make([]samples, n)
	for round := range gatewayRounds {
		got := make([]wrkResult, n)
		for k := range targets {
			i := (k + round) % n // each takes each place in turn
			got[i] = runWrk(t, targets[i].url+path, key, gatewayConns, gatewayRun)
			rps[i] = append(rps[i], got[i].rps)
			p50[i] = append(p50[i], ms(got[i].p50))
			p99[i] = append(p99[i], ms(got[i].p99))
		}
		for i := range targets {
			ratio[i] = append(ratio[i], got[i].rps/got[0].rps)
		}
	}
	memRatio := ratio[1]

	const sec = "gateway"
	r.printf(t, sec, "wrk, %d connections, 2 threads, %s a run, %d rounds with the targets alternating; medians (min–max). "+
		"The job is a completed one; the key is in the one-second cache; the access log is on (LOG_LEVEL=info).\n", gatewayConns, gatewayRun, gatewayRounds)
	r.printf(t, sec, "| target | requests/s | p50 | p99 | ÷ bare, same round |")
	r.printf(t, sec, "| --- | --- | --- | --- | --- |")
	for i, tg := range targets {
		rt := ratio[i].format(fmtRatio)
		if i == 0 {
			rt = "1"
		}
		r.printf(t, sec, "| %s | %s | %s | %s | %s |", tg.name, rps[i].format(fmtInt), p50[i].format(fmtMs), p99[i].format(fmtMs), rt)
	}
	perReq := 1e6/rps[2].median() - 1e6/rps[1].median()
	r.printf(t, sec, "\nTarget: full stack ÷ bare ≥ 0.8 with the limiter in memory: **%.2f**. Redis costs %.0f µs more a request "+
		"at this concurrency (the medians' difference of 1/throughput).\n", memRatio.median(), perReq)

	// Latency at a quarter and at half the stack's maximum rate: an
	// open-loop constant rate, as clients arrive, not as fast as answers
	// come back. vegeta costs more a request than wrk (about half a core
	// at 5 000 requests a second here), which the server shares.
	r.printf(t, sec, "Latency at a constant rate (vegeta, open loop: requests sent on time whether or not answers came back), "+
		"at a quarter and at half of the full stack's median rate above, 3 runs of %s each, the bare server at the same rate in between:\n", gatewayRun)
	r.printf(t, sec, "| rate | full stack p50 | full stack p99 | bare p50 | bare p99 |")
	r.printf(t, sec, "| --- | --- | --- | --- | --- |")
	for _, part := range []int{4, 2} {
		rate := int(rps[1].median()) / part
		var fp50, fp99, bp50, bp99, lost samples
		for range 3 {
			v := runVegeta(t, mem.url+path, key, rate, gatewayRun)
			fp50, fp99, lost = append(fp50, ms(v.p50)), append(fp99, ms(v.p99)), append(lost, 100*v.unanswered)
			b := runVegeta(t, bare.url+path, key, rate, gatewayRun)
			bp50, bp99, lost = append(bp50, ms(b.p50)), append(bp99, ms(b.p99)), append(lost, 100*b.unanswered)
		}
		note := ""
		if slices.Max(lost) > 0 {
			note = fmt.Sprintf(" (up to %.0f %% of the requests of a run unanswered within vegeta's 30 s: the machine could not keep that rate)", slices.Max(lost))
		}
		r.printf(t, sec, "| %d/s (1/%d)%s | %s | **%s** | %s | %s |", rate, part, note, fp50.format(fmtMs), fp99.format(fmtMs), bp50.format(fmtMs), bp99.format(fmtMs))
	}
	r.printf(t, sec, "\nTarget: full stack p99 under 5 ms at half the maximum rate.")
}

// benchProc is a process the benchmarks start: its output goes to a file
// (written by the kernel, not copied through the test), as a service's
// does to its journal.
type benchProc struct {
	*proc
}

// startBench starts `avatar-api command` (or, for "bare", this test binary
// as the bare server) on a socket of its own, its logs in dir.
func startBench(t *testing.T, command, dir string, env ...string) benchProc {
	t.Helper()
	prog := binary
	if command == "bare" {
		prog = os.Args[0]
	}
	return startBenchBinary(t, prog, command, dir, env...)
}

// startBenchBinary is startBench with the program prog.
func startBenchBinary(t *testing.T, prog, command, dir string, env ...string) benchProc {
	t.Helper()
	sock, addr := testkit.Socket(t)
	defer sock.Close()
	_, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command("sh", "-c", testkit.Activate, prog, command)
	cmd.Env = append(os.Environ(), "DATA_DIR="+dir, "PORT="+port, "API_KEY="+apiKey, "LISTEN_FDS=1")
	cmd.Env = append(cmd.Env, env...)
	cmd.ExtraFiles = []*os.File{sock}
	logs, err := os.CreateTemp(dir, command+"-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, url: "http://" + addr, logs: &testkit.Buffer{}, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			t.Logf("%s log:\n%s", command, lastLines(string(b), 40))
		}
	})
	if command == "bare" {
		testkit.WaitFor(t, 30*time.Second, "the bare server", func() bool {
			resp, err := http.Get(p.url)
			if err == nil {
				resp.Body.Close()
			}
			return err == nil
		})
	} else {
		p.waitHealthy(t)
	}
	return benchProc{p}
}

// post submits form with key and returns the job's id.
func (p benchProc) post(t *testing.T, form []byte, ct, key string) string {
	t.Helper()
	body, _ := call(t, http.MethodPost, p.url+"/generate", key, form, ct, http.StatusAccepted)
	var j struct {
		ID string `json:"job_id"`
	}
	if err := json.Unmarshal(body, &j); err != nil || j.ID == "" {
		t.Fatalf("POST /generate: %s", body)
	}
	return j.ID
}

// waitState waits for job id of key's to reach state.
func (p benchProc) waitState(t *testing.T, id, key, state string) {
	t.Helper()
	testkit.WaitFor(t, 2*time.Minute, "job "+id+" "+state, func() bool {
		body, _ := get(t, p.url+"/status/"+id, key)
		var j struct {
			State string `json:"state"`
		}
		_ = json.Unmarshal(body, &j)
		if j.State == "failed" || j.State == "cancelled" || j.State == "expired" {
			t.Fatalf("job %s ended %s: %s", id, j.State, body)
		}
		return j.State == state
	})
}

// get is a GET with key that must answer 200: its body and Content-Type.
func get(t *testing.T, url, key string) ([]byte, string) {
	t.Helper()
	return call(t, http.MethodGet, url, key, nil, "", http.StatusOK)
}

// call makes a request with key (and body of type ct, if any) that must
// answer want: the answer's body and Content-Type.
func call(t *testing.T, method, url, key string, body []byte, ct string, want int) ([]byte, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, got)
	}
	return got, resp.Header.Get("Content-Type")
}

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: make bench installs it (scripts/install-deps.sh --bench)", tool)
		}
	}
}

type wrkResult struct {
	rps        float64
	p50, p99   time.Duration
	unanswered float64 // vegeta's requests with no answer within its timeout, a share
}

var (
	wrkRate    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkLatency = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
)

// runWrk runs wrk against url with key for d, conns connections on two
// threads, and reads its rate and latency percentiles. Any answer but 2xx
// fails the test: the figures would not be of the route.
func runWrk(t *testing.T, url, key string, conns int, d time.Duration) wrkResult {
	t.Helper()
	out, err := exec.Command("wrk", "-t2", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", int(d.Seconds())), "--latency",
		"-H", "Authorization: Bearer "+key, url).CombinedOutput()
	if err != nil {
		t.Fatalf("wrk: %v\n%s", err, out)
	}
	s := string(out)
	if strings.Contains(s, "Non-2xx") || strings.Contains(s, "Socket errors") {
		t.Fatalf("wrk against %s saw errors:\n%s", url, s)
	}
	m := wrkRate.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no rate in wrk's output:\n%s", s)
	}
	res := wrkResult{}
	res.rps, _ = strconv.ParseFloat(m[1], 64)
	for _, l := range wrkLatency.FindAllStringSubmatch(s, -1) {
		v, _ := strconv.ParseFloat(l[2], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[l[3]]
		d := time.Duration(v * float64(unit))
		if l[1] == "50" {
			res.p50 = d
		} else {
			res.p99 = d
		}
	}
	if res.p50 == 0 || res.p99 == 0 {
		t.Fatalf("no latency distribution in wrk's output:\n%s", s)
	}
	return res
}

// runVegeta sends GET url with key at rate requests a second for d, and
// returns its latency percentiles; every answer must be 200.
func runVegeta(t *testing.T, url, key string, rate int, d time.Duration) wrkResult {
	t.Helper()
	attack := exec.Command("vegeta", "attack", fmt.Sprintf("-rate=%d/s", rate), fmt.Sprintf("-duration=%s", d),
		"-header", "Authorization: Bearer "+key)
	attack.Stdin = strings.NewReader("GET " + url + "\n")
	results, err := attack.Output()
	if err != nil {
		t.Fatalf("vegeta attack: %v", err)
	}
	report := exec.Command("vegeta", "report", "-type=json")
	report.Stdin = strings.NewReader(string(results))
	out, err := report.Output()
	if err != nil {
		t.Fatalf("vegeta report: %v", err)
	}
	var rep struct {
		Latencies struct {
			P50 time.Duration `json:"50th"`
			P99 time.Duration `json:"99th"`
		} `json:"latencies"`
		Success     float64        `json:"success"`
		StatusCodes map[string]int `json:"status_codes"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("vegeta report: %v\n%s", err, out)
	}
	for code := range rep.StatusCodes {
		if code != "200" && code != "0" { // 0: no answer in time, which the figures count
			t.Fatalf("vegeta against %s: answers other than 200: %v", url, rep.StatusCodes)
		}
	}
	return wrkResult{p50: rep.Latencies.P50, p99: rep.Latencies.P99, unanswered: 1 - rep.Success}
}
