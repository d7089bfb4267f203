package main_test

import (
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestHealthCommand: `avatar-api health`, the image's HEALTHCHECK, exits 0
// when the API of PORT answers /health with 200, and 1, saying why, when
// the URL answers something else, nothing listens there or the answer
// takes longer than --timeout.
func TestHealthCommand(t *testing.T) {
	t.Parallel()
	p := start(t, t.TempDir())
	u, err := url.Parse(p.url)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(u.Host)
	health := func(env []string, args ...string) (string, int) {
		cmd := exec.Command(binary, append([]string{"health"}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), exitCode(err)
	}

	out, code := health([]string{"PORT=" + port})
	if code != 0 || !strings.Contains(out, "healthy: http://127.0.0.1:"+port+"/health answered") {
		t.Errorf("with the server's PORT: exit %d\n%s", code, out)
	}
	out, code = health(nil, "--url", p.url+"/health")
	if code != 0 {
		t.Errorf("--url of the server: exit %d\n%s", code, out)
	}
	out, code = health(nil, "--url", p.url+"/no-such-page")
	if code != 1 || !strings.Contains(out, "answered 404") {
		t.Errorf("--url answering 404: exit %d\n%s", code, out)
	}
	dead := deadAddr(t)
	_, deadPort, _ := net.SplitHostPort(dead)
	out, code = health([]string{"PORT=" + deadPort})
	if code != 1 || !strings.Contains(out, "no answer") || !strings.Contains(out, "connection refused") {
		t.Errorf("nothing listening: exit %d\n%s", code, out)
	}
	// A listener that never answers: the probe gives up at its timeout.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	out, code = health(nil, "--url", "http://"+silent.Addr().String()+"/health", "--timeout", "200ms")
	if code != 1 || !strings.Contains(out, "no answer within 200ms") {
		t.Errorf("a silent server: exit %d\n%s", code, out)
	}
	if out, code = health(nil, "extra"); code != 1 || !strings.Contains(out, `unexpected argument "extra"`) {
		t.Errorf("an extra argument: exit %d\n%s", code, out)
	}
}
