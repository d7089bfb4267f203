package server_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/avatar-api/avatar-api/internal/server"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

// TestListenInheritsTheSocket: started by socket activation, the process
// serves on the socket it was given (file descriptor 3), not on addr, and
// takes it once.
func TestListenInheritsTheSocket(t *testing.T) {
	if os.Getenv("LISTEN_TEST_CHILD") != "" {
		serveOnce()
		return
	}
	t.Parallel()
	f, addr := testkit.Socket(t)
	cmd := exec.Command("sh", "-c", testkit.Activate, os.Args[0], "-test.run=^TestListenInheritsTheSocket$")
	cmd.Env = append(os.Environ(), "LISTEN_TEST_CHILD=1", "LISTEN_FDS=1", "LISTEN_FDNAMES=http")
	cmd.ExtraFiles = []*os.File{f}
	out := &testkit.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("GET on the passed socket: %v\n%s", err, out)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if string(body) != "inherited, variables cleared, second call binds anew" {
		t.Fatalf("child answered %q\n%s", body, out)
	}
}

// serveOnce is the child: Listen must return the passed socket, whatever
// addr says, and clear the variables.
func serveOnce() {
	ln, err := server.Listen("127.0.0.1:1") // a port nobody may bind: only the passed socket works
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	msg := "inherited"
	if os.Getenv("LISTEN_PID")+os.Getenv("LISTEN_FDS")+os.Getenv("LISTEN_FDNAMES") == "" {
		msg += ", variables cleared"
	}
	if again, err := server.Listen("127.0.0.1:0"); err == nil && again.Addr().String() != ln.Addr().String() {
		msg += ", second call binds anew"
		again.Close()
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		_, _ = io.WriteString(w, msg)
		go ln.Close()
	})}
	_ = srv.Serve(ln)
	os.Exit(0)
}

// TestListenIgnoresSocketsForAnotherProcess: LISTEN_PID names the process
// the sockets are for; any other binds addr as usual.
func TestListenIgnoresSocketsForAnotherProcess(t *testing.T) {
	t.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()+1))
	t.Setenv("LISTEN_FDS", "1")
	ln, err := server.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if os.Getenv("LISTEN_FDS") != "1" {
		t.Fatal("another process's variables were consumed")
	}
	if _, port, _ := net.SplitHostPort(ln.Addr().String()); port == "0" {
		t.Fatalf("bound %s", ln.Addr())
	}
}
