package testkit

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Gateway is a running versitygw: a real S3 server (the S3 API over a
// directory, its posix backend), for the tests of S3 storage. Start one
// per test package in TestMain; Stop removes it and its files. A fault
// test may Kill it and Start it again.
type Gateway struct {
	Endpoint  string // http://127.0.0.1:port
	AccessKey string
	SecretKey string
	Region    string

	bin    string
	addr   string
	cmd    *exec.Cmd
	exited chan struct{}
	output *bytes.Buffer
	dir    string
}

// StartVersitygw runs versitygw on a free loopback port over a new
// temporary directory, in region "auto" (as Cloudflare R2), with random
// credentials, and waits until it answers.
func StartVersitygw() (*Gateway, error) {
	bin, err := findVersitygw()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "versitygw-")
	if err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	addr, err := freeAddr()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	g := &Gateway{
		bin:       bin,
		addr:      addr,
		output:    new(bytes.Buffer),
		dir:       dir,
		Endpoint:  "http://" + addr,
		AccessKey: "test" + rand.Text()[:12],
		SecretKey: rand.Text(),
		Region:    "auto",
	}
	if err := g.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return g, nil
}

// Start runs the gateway (again, after Kill) on its address, over its
// directory, and waits until it answers.
func (g *Gateway) Start() error {
	g.exited = make(chan struct{})
	g.cmd = exec.Command(g.bin, "--access", g.AccessKey, "--secret", g.SecretKey,
		"--port", g.addr, "--region", g.Region, "--quiet", "posix", g.dir)
	g.cmd.Stdout = g.output
	g.cmd.Stderr = g.output
	if err := g.cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", g.bin, err)
	}
	cmd, exited := g.cmd, g.exited
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	if err := g.waitReady(15 * time.Second); err != nil {
		g.Kill()
		return fmt.Errorf("%w; output:\n%s", err, g.output)
	}
	return nil
}

// CreateBucket makes an empty bucket: with the posix backend, a bucket is
// a directory.
func (g *Gateway) CreateBucket(name string) error {
	return os.Mkdir(filepath.Join(g.dir, name), 0o755)
}

// Kill kills the gateway (SIGKILL), as a crash would, keeping its files:
// its port refuses connections until Start.
func (g *Gateway) Kill() {
	if g.cmd != nil && g.cmd.Process != nil {
		_ = g.cmd.Process.Kill()
		<-g.exited
	}
}

// Stop kills the gateway and removes its files.
func (g *Gateway) Stop() {
	g.Kill()
	_ = os.RemoveAll(g.dir)
}

// findVersitygw looks for the binary on PATH, then where
// scripts/install-versitygw.sh puts it.
func findVersitygw() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output()
	if err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		var dirs []string
		if len(lines) > 0 && lines[0] != "" {
			dirs = append(dirs, lines[0])
		}
		if len(lines) > 1 {
			for _, gopath := range filepath.SplitList(lines[1]) {
				dirs = append(dirs, filepath.Join(gopath, "bin"))
			}
		}
		for _, dir := range dirs {
			p := filepath.Join(dir, "versitygw")
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
				return p, nil
			}
		}
	}
	return "", errors.New("versitygw not found on PATH or in $(go env GOPATH)/bin; " +
		"the S3 tests need a real S3 server: run scripts/install-versitygw.sh")
}

// freeAddr returns a loopback address with a port nothing listens on now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitReady polls until the gateway answers HTTP at all; an anonymous
// request is refused, which is enough to know it is serving.
func (g *Gateway) waitReady(timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-g.exited:
			return errors.New("versitygw exited during startup")
		default:
		}
		if resp, err := client.Get(g.Endpoint + "/"); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("versitygw did not answer within %s", timeout)
}
