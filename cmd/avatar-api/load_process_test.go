package main_test

// The load test: a thousand jobs from twenty clients against the real
// binary, on SQLite (`serve` with two workers) and on PostgreSQL (two API
// processes and a worker process), while processes are killed with
// SIGKILL and restarted; then every accepted job must have been generated
// exactly once and nothing may be left behind. It takes minutes, so it
// runs only when asked: AVATAR_LOADTEST=1 (`make load`, scripts/load-test).
// docs/RESILIENCE.md has its figures.

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/store/postgres/pgtest"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

// loadEnv is every load process's configuration beyond the defaults: the
// jobs of a killed worker are taken back once silent for 5 s
// (JOB_HEARTBEAT_TIMEOUT's least, instead of 30 s, so that the run stays
// short); the load's one customer may use every upload slot (its key's own
// rate limit is raised when it is made), and poll the service at will.
// (The API processes' limits in Redis are kept under the new key's id: no
// other test's.)
var loadEnv = []string{"LOG_LEVEL=info", "JOB_HEARTBEAT_TIMEOUT=5s", "MAX_CONCURRENT_UPLOADS=4",
	"MAX_CONCURRENT_UPLOADS_PER_CUSTOMER=4", "POLL_RATE_LIMIT=100000"}

// loadWorkers is the number of jobs generated at once, in both topologies.
const loadWorkers = "WORKERS=2"

// TestLoad runs the load on each topology in turn (not in parallel: they
// would share the machine's cores). AVATAR_LOAD_JOBS changes the number of
// jobs (default 1000), AVATAR_LOAD_REPORT names a file the figures are
// appended to as Markdown.
func TestLoad(t *testing.T) {
	if os.Getenv("AVATAR_LOADTEST") == "" {
		t.Skip("the load test runs with AVATAR_LOADTEST=1 (make load)")
	}
	jobs := 1000
	if s := os.Getenv("AVATAR_LOAD_JOBS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 10 {
			t.Fatalf("AVATAR_LOAD_JOBS=%q: want a number of at least 10", s)
		}
		jobs = n
	}
	form, ct := loadForm(t)
	t.Run("sqlite", func(t *testing.T) {
		top := sqliteTopology(t)
		reportLoad(t, runLoad(t, top, form, ct, jobs))
	})
	t.Run("postgres", func(t *testing.T) {
		top := postgresTopology(t)
		reportLoad(t, runLoad(t, top, form, ct, jobs))
	})
}

// member is one process of a topology. It keeps its socket across
// restarts, as a systemd socket unit does: a restarted process answers at
// the same address, and clients' connections wait in the socket's queue
// while none runs.
type member struct {
	name, command, dir string
	env                []string
	sock               *os.File
	addr               string
	works              bool          // it runs workers
	spent              time.Duration // processor time of its killed processes
	p                  *proc
}

func newMember(t *testing.T, name, command, dir string, env ...string) *member {
	t.Helper()
	sock, addr := testkit.Socket(t) // closed when the test ends
	m := &member{name: name, command: command, dir: dir, env: env, sock: sock, addr: addr}
	m.p = startOn(t, sock, addr, command, dir, env...)
	return m
}

func (m *member) url() string { return "http://" + m.addr }

// kill ends the process with SIGKILL and returns when it has exited.
func (m *member) kill(t *testing.T) time.Time {
	t.Helper()
	m.spent += cpuOf(m.p.cmd.Process.Pid) // what it used until now, lost with it
	if err := m.p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	_ = m.p.exit(t, 10*time.Second)
	return at
}

// cpu is the processor time the member's processes and the programs they
// ran (ffmpeg, ffprobe) have used, its killed ones included.
func (m *member) cpu() time.Duration { return m.spent + cpuOf(m.p.cmd.Process.Pid) }

// cpuOf reads a live process's processor time and its waited-for
// children's from /proc (Linux; 0 elsewhere): utime, stime, cutime and
// cstime, in clock ticks of 1/100 s.
func cpuOf(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command's name, which is in parentheses.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	var ticks int64
	for _, f := range fields[11:15] {
		n, _ := strconv.ParseInt(f, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// restart starts the process again on its socket, returning once it
// answers /health.
func (m *member) restart(t *testing.T) {
	t.Helper()
	m.p = startOn(t, m.sock, m.addr, m.command, m.dir, m.env...)
}

// topology is the processes of one run, the database they share and the
// two kills to make.
type topology struct {
	name    string
	db      *sql.DB
	dataDir string    // the shared DATA_DIR: storage, scratch directories
	cliEnv  []string  // of avatar-api keys
	apis    []*member // the processes clients submit to
	members []*member // every process
	kills   [2]killPlan
}

// killPlan says which process to kill, and when.
type killPlan struct {
	member *member
	when   string // for the report
	due    func(p progress) bool
}

// progress is what the test knows of a run at one moment.
type progress struct {
	jobs      int            // to submit
	accepted  int            // distinct jobs answered 202
	states    map[string]int // jobs by state, from the database
	submitted bool           // every client has finished
}

// sqliteTopology is `serve` with two embedded workers on SQLite, the
// embedded defaults; it is killed once while jobs are being submitted and
// once while they are being generated.
func sqliteTopology(t *testing.T) *topology {
	dir := t.TempDir()
	serve := newMember(t, "serve", "serve", dir, append(loadEnv, loadWorkers)...)
	serve.works = true
	db, err := sql.Open("sqlite", "file:"+dir+"/avatar.db?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	top := &topology{name: "sqlite: serve, 2 workers", db: db, dataDir: dir, cliEnv: []string{"DATA_DIR=" + dir}, apis: []*member{serve}, members: []*member{serve}}
	top.kills = killsOf(serve, serve)
	return top
}

// postgresTopology is two API processes (shared rate limits in Redis) and
// one worker process with two workers, on PostgreSQL, sharing one
// DATA_DIR (local storage on one machine). An API process is killed while
// jobs are being submitted, the worker while they are being generated.
func postgresTopology(t *testing.T) *topology {
	dbURL := pgtest.NewDatabase(t)
	dir := t.TempDir()
	env := append([]string{"DATABASE_URL=" + dbURL, "SIGNING_SECRET=load-test-signing-secret-0123456789abcdef"}, loadEnv...)
	api := append([]string{"EMBEDDED_WORKERS=false", "REDIS_URL=redis://127.0.0.1:6379/0"}, env...)
	a := newMember(t, "api-1", "serve", dir, api...) // the first runs the migrations
	b := newMember(t, "api-2", "serve", dir, api...)
	w := newMember(t, "worker", "worker", dir, append(env, loadWorkers, "WORKER_METRICS_ADDR=127.0.0.1:9091")...)
	w.works = true
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	top := &topology{name: "postgres: 2 API processes, 1 worker process (2 workers)", db: db, dataDir: dir,
		cliEnv: []string{"DATABASE_URL=" + dbURL}, apis: []*member{a, b}, members: []*member{a, b, w}}
	top.kills = killsOf(a, w)
	return top
}

// killsOf plans the two kills: submitting, once a third of the jobs are
// accepted; generating, once half are completed.
func killsOf(submitting, generating *member) [2]killPlan {
	return [2]killPlan{
		{member: submitting, when: "a third of the jobs accepted", due: func(p progress) bool { return p.accepted*3 >= p.jobs }},
		{member: generating, when: "half of the jobs completed", due: func(p progress) bool { return p.states["completed"]*2 >= p.jobs }},
	}
}

// countStates reads the jobs by state from the database.
func countStates(ctx context.Context, db *sql.DB) (map[string]int, error) {
	rows, err := db.QueryContext(ctx, `SELECT state, count(*) FROM jobs GROUP BY state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	states := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		states[s] = n
	}
	return states, rows.Err()
}

// finalStates are the states a job ends in.
var finalStates = []string{"completed", "failed", "cancelled", "expired"}

func final(states map[string]int) (n int) {
	for _, s := range finalStates {
		n += states[s]
	}
	return n
}

func formatStates(states map[string]int) string {
	var parts []string
	for _, s := range append([]string{"queued", "processing"}, finalStates...) {
		if states[s] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", s, states[s]))
		}
	}
	return strings.Join(parts, ", ")
}
