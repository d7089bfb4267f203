package main_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"
)

// figures are what one run measured.
type figures struct {
	topology        string
	jobs, accepted  int
	replayed        int
	states          map[string]int
	retries         map[string]int
	submitted, wall time.Duration // from the first submission to the last 202, and to the last job's end
	p50, p99        time.Duration // of the requests answered 202
	cpu             time.Duration // used by the service's processes and the ffmpeg runs they made
	kills           []*recovery
	check           checked
	startedAt       string
}

// recovery is what followed one kill.
type recovery struct {
	plan       killPlan
	at         time.Time     // the SIGKILL
	into       time.Duration // since the run began
	completed  int           // jobs completed when the process was gone
	inFlight   map[int64]int // River entries the process was running → their attempt
	ready      time.Duration // until the restarted process answered /health
	firstOK    time.Duration // until it answered a submission 202 (API processes)
	firstDone  time.Duration // until a job completed again
	requeued   time.Duration // until every entry it ran was back in the queue
	url        int           // the member's index among the topology's APIs, or -1
	worksToo   bool          // the member runs workers
	inFlightOK bool          // requeued is known
}

// runLoad submits jobs to top from loadClients clients, kills and
// restarts its processes as planned, waits for every job to end and
// checks what the run left.
func runLoad(t *testing.T, top *topology, form []byte, ct string, jobs int) figures {
	key := strings.TrimSpace(cli(t, top.cliEnv, "keys", "create", "--customer", "load", "--rate-limit", "100000", "-q"))
	var urls []string
	for _, m := range top.apis {
		urls = append(urls, m.url())
	}
	ctx, cancel := context.WithTimeout(context.Background(), loadTimeout(t))
	sub := newSubmitter(urls, key, "load", form, ct)
	start := time.Now()
	submitted := make(chan struct{})
	go func() {
		defer close(submitted)
		sub.run(ctx, jobs)
	}()
	defer func() {
		cancel()
		<-submitted
	}()

	f := figures{topology: top.name, jobs: jobs, startedAt: start.UTC().Format(time.RFC3339)}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			states, _ := countStates(context.Background(), top.db)
			t.Fatalf("the run did not end within %s: %d accepted; jobs %s", loadTimeout(t), sub.accepted.Load(), formatStates(states))
		case <-tick.C:
		}
		states, err := countStates(ctx, top.db)
		if err != nil {
			t.Logf("reading the jobs' states: %v", err)
			continue
		}
		p := progress{jobs: jobs, accepted: int(sub.accepted.Load()), states: states, submitted: isClosed(submitted)}
		if p.submitted && f.submitted == 0 {
			f.submitted = time.Since(start)
		}
		for _, r := range f.kills {
			r.observe(ctx, t, top.db, states, sub)
		}
		if n := len(f.kills); n < len(top.kills) && top.kills[n].due(p) {
			f.kills = append(f.kills, killAndRestart(t, top, top.kills[n], start))
			continue
		}
		total := 0
		for _, n := range states {
			total += n
		}
		if p.submitted && len(f.kills) == len(top.kills) && total >= p.accepted && final(states) == total && observed(f.kills) {
			f.wall = time.Since(start)
			f.states = states
			break
		}
	}
	if submitDone := lastAccept(sub); !submitDone.IsZero() {
		f.submitted = submitDone.Sub(start)
	}
	f.accepted, f.replayed, f.retries = len(sub.jobs), sub.replayed, sub.retries
	f.p50, f.p99 = sub.latencies()
	for _, why := range sub.failures {
		t.Errorf("submission failed: %s", why)
	}
	for _, m := range top.members {
		f.cpu += m.cpu()
	}
	f.check = verify(t, top, sub)
	return f
}

// observed reports whether every kill's recovery has been seen through.
func observed(kills []*recovery) bool {
	for _, r := range kills {
		if r.worksToo && (r.firstDone == 0 || !r.inFlightOK) {
			return false
		}
	}
	return true
}

// killAndRestart kills plan's process with SIGKILL, notes what it was
// doing, and starts it again at once, as a supervisor would.
func killAndRestart(t *testing.T, top *topology, plan killPlan, start time.Time) *recovery {
	t.Helper()
	m := plan.member
	r := &recovery{plan: plan, url: -1, worksToo: m.works}
	for i, api := range top.apis {
		if api == m {
			r.url = i
		}
	}
	r.at = m.kill(t)
	r.into = r.at.Sub(start)
	ctx := context.Background()
	if m.works {
		states, err := countStates(ctx, top.db)
		if err != nil {
			t.Fatal(err)
		}
		r.completed = states["completed"]
		r.inFlight = runningEntries(t, top.db)
	}
	m.restart(t)
	r.ready = time.Since(r.at)
	t.Logf("%s killed %.1fs into the run (%s) with %d queue entries running; answering again after %.1fs",
		m.name, r.into.Seconds(), plan.when, len(r.inFlight), r.ready.Seconds())
	return r
}

// observe notes, after a kill, the first submission the restarted API
// process accepted, the first job completed, and when the queue entries
// the killed process ran were all back in the queue.
func (r *recovery) observe(ctx context.Context, t *testing.T, db *sql.DB, states map[string]int, sub *submitter) {
	if r.url >= 0 && r.firstOK == 0 {
		r.firstOK = sub.firstAcceptAfter(r.at, r.url)
	}
	if !r.worksToo {
		return
	}
	if r.firstDone == 0 && states["completed"] > r.completed {
		r.firstDone = time.Since(r.at)
	}
	if r.inFlightOK {
		return
	}
	if n, err := stillRunning(ctx, db, r.inFlight); err == nil && n == 0 {
		r.requeued, r.inFlightOK = time.Since(r.at), true
	} else if err != nil {
		t.Logf("reading the queue: %v", err)
	}
}

// runningEntries returns the generation entries River has as running for
// a job not yet ended, with their attempt. (An entry of an ended job may
// be left running by a kill between the job's commit and River's; the
// heartbeat rescue leaves it to River's rescuer: see verify.)
func runningEntries(t *testing.T, db *sql.DB) map[int64]int {
	t.Helper()
	entries, err := queueEntries(context.Background(), db, `kind = 'generate_video' AND state = 'running'
		AND id IN (SELECT river_job_id FROM jobs WHERE state IN ('queued', 'processing'))`)
	if err != nil {
		t.Fatal(err)
	}
	running := map[int64]int{}
	for _, e := range entries {
		running[e.id] = e.attempt
	}
	return running
}

// stillRunning counts the entries of inFlight still running on the
// attempt they were on at the kill: those no process has taken back yet.
// (Taken back, an entry is available again, or running on a later
// attempt.)
func stillRunning(ctx context.Context, db *sql.DB, inFlight map[int64]int) (int, error) {
	if len(inFlight) == 0 {
		return 0, nil
	}
	list := make([]string, 0, len(inFlight))
	for id := range inFlight {
		list = append(list, fmt.Sprint(id))
	}
	entries, err := queueEntries(ctx, db, `id IN (`+strings.Join(list, ",")+`)`)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if e.state == "running" && e.attempt == inFlight[e.id] {
			n++
		}
	}
	return n, nil
}

// entry is a row of River's table.
type entry struct {
	id      int64
	state   string
	attempt int
}

func queueEntries(ctx context.Context, db *sql.DB, where string) ([]entry, error) {
	rows, err := db.QueryContext(ctx, `SELECT id, state, attempt FROM river_job WHERE `+where)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var entries []entry
	for rows.Next() {
		var e entry
		if err := rows.Scan(&e.id, &e.state, &e.attempt); err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	return entries, rows.Err()
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// lastAccept is when the last 202 came.
func lastAccept(s *submitter) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var last time.Time
	for _, a := range s.accepts {
		if a.at.After(last) {
			last = a.at
		}
	}
	return last
}

// loadTimeout bounds one topology's run: 30 minutes, or less when go
// test's own deadline comes sooner.
func loadTimeout(t *testing.T) time.Duration {
	d := 30 * time.Minute
	if dl, ok := t.Deadline(); ok {
		d = min(d, time.Until(dl)-2*time.Minute)
	}
	return d
}
