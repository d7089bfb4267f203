package testkit

import (
	"net"
	"os"
	"testing"
)

// Activate is a shell script that runs its arguments as socket activation
// does: with LISTEN_PID set to the pid of the program (the shell's own,
// which exec keeps), as systemd sets it after the fork. Run it as
// sh -c Activate program args…, with LISTEN_FDS=1 in the environment and
// the socket from Socket as the first of cmd.ExtraFiles (fd 3).
const Activate = `LISTEN_PID=$$ exec "$0" "$@"`

// Socket binds a TCP socket on 127.0.0.1 to a port the kernel picks, and
// returns it as a file to hand to a child process, with its address. The
// test's own listener is closed: once the child closes its copy,
// connections are refused, as they would be by a stopped server.
func Socket(t testing.TB) (*os.File, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, ln.Addr().String()
}
