package testkit

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
)

// Postgres is a private PostgreSQL server of one test, which the test may
// stop and start again (on the same port, over the same data) without
// touching the shared server of internal/store/postgres/pgtest. It runs
// Debian's binaries (/usr/lib/postgresql/<version>/bin, package
// postgresql, which scripts/install-deps.sh --test installs); as root,
// under the postgres user, since PostgreSQL refuses to run as root.
type Postgres struct {
	t    testing.TB
	bin  string // the directory of initdb and pg_ctl
	dir  string // data/, the socket and the log, under /tmp
	port int
	cred *syscall.Credential // the postgres user's, when the test runs as root
}

// StartPostgres initialises a cluster in a new directory under /tmp (the
// test's own temporary directory may not be traversable by the postgres
// user), with trust authentication, starts it on a free loopback port and
// waits until it accepts connections. The test is skipped, saying why,
// when the binaries are not installed; the server is stopped and its
// files removed when the test ends.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bin := postgresBin()
	if bin == "" {
		t.Skip("PostgreSQL's initdb and pg_ctl are not installed (/usr/lib/postgresql/*/bin): run scripts/install-deps.sh --test, which installs Debian's postgresql")
	}
	p := &Postgres{t: t, bin: bin}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	p.dir = dir
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		p.cred = postgresUser(t)
		if err := os.Chown(dir, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	p.port, _ = strconv.Atoi(port)
	p.run("initdb", "--pgdata", p.data(), "--username", "postgres", "--auth", "trust",
		"--no-sync", "--no-instructions", "--encoding", "UTF8", "--locale", "C")
	t.Cleanup(func() {
		if !p.running() {
			return
		}
		if err := p.pgCtl("stop", "-m", "immediate"); err != nil {
			t.Logf("stopping the private PostgreSQL: %v", err)
		}
	})
	p.Start()
	return p
}

// URL is the server's database postgres, for DATABASE_URL.
func (p *Postgres) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

// Start starts the server (again) on its port, over its data, and waits
// until it accepts connections.
func (p *Postgres) Start() {
	p.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off", p.port, p.dir)
	if err := p.pgCtl("start", "-l", filepath.Join(p.dir, "log"), "-o", opts); err != nil {
		log, _ := os.ReadFile(filepath.Join(p.dir, "log"))
		p.t.Fatalf("starting the private PostgreSQL: %v\n%s", err, log)
	}
}

// Stop stops the server as `pg_ctl stop -m fast` does: it disconnects
// every client, aborting their transactions, and shuts down cleanly.
func (p *Postgres) Stop() {
	p.t.Helper()
	if err := p.pgCtl("stop", "-m", "fast"); err != nil {
		p.t.Fatalf("stopping the private PostgreSQL: %v", err)
	}
}

func (p *Postgres) data() string { return filepath.Join(p.dir, "data") }

// running tells whether the server's postmaster.pid is there.
func (p *Postgres) running() bool {
	_, err := os.Stat(filepath.Join(p.data(), "postmaster.pid"))
	return err == nil
}

// pgCtl runs pg_ctl's action and waits for it (-w, at most 60 s).
func (p *Postgres) pgCtl(action string, args ...string) error {
	cmd := p.command("pg_ctl", append([]string{action, "-D", p.data(), "-w", "-t", "60"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl %s: %w: %s", action, err, out)
	}
	return nil
}

// run runs one of the binaries and fails the test if it fails.
func (p *Postgres) run(name string, args ...string) {
	p.t.Helper()
	if out, err := p.command(name, args...).CombinedOutput(); err != nil {
		p.t.Fatalf("%s: %v: %s", name, err, out)
	}
}

// command is one of the binaries, run in the server's directory, as the
// postgres user when the test is root.
func (p *Postgres) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	cmd.Dir = p.dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"}
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	return cmd
}

// postgresBin is the bin directory of the newest PostgreSQL installed
// Debian's way, or "".
func postgresBin() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return version(a) - version(b) })
	for _, d := range slices.Backward(dirs) {
		if isFile(filepath.Join(d, "initdb")) && isFile(filepath.Join(d, "pg_ctl")) {
			return d
		}
	}
	return ""
}

// version is the major version in /usr/lib/postgresql/<version>/bin.
func version(bin string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(bin)))
	return v
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir()
}

// postgresUser is the credential of the postgres user, which Debian's
// package creates; a root test without it is skipped.
func postgresUser(t testing.TB) *syscall.Credential {
	t.Helper()
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Skipf("PostgreSQL refuses to run as root and there is no postgres user to run it as (%v): run scripts/install-deps.sh --test", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil || uid == 0 {
		t.Fatalf("the postgres user's ids: %q %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}
