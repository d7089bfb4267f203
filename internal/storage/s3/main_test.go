package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

// gw is the versitygw server shared by every test in the package. TestMain
// starts it before the tests and stops it after them.
var gw *gateway

const testBucket = "avatar-test"

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	bin, err := findVersitygw()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	gw, err = startGateway(bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: start versitygw:", err)
		return 1
	}
	defer gw.stop()
	if err := gw.createBucket(testBucket); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: create test bucket:", err)
		return 1
	}
	return m.Run()
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
		"the s3 tests need a real S3 server: run scripts/install-versitygw.sh")
}

// gateway is a running versitygw process serving a temporary directory.
type gateway struct {
	cmd       *exec.Cmd
	exited    chan struct{}
	output    *bytes.Buffer
	dir       string
	endpoint  string
	accessKey string
	secretKey string
}

func startGateway(bin string) (*gateway, error) {
	dir, err := os.MkdirTemp("", "versitygw-")
	if err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	addr, err := freeAddr()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	g := &gateway{
		exited:    make(chan struct{}),
		output:    new(bytes.Buffer),
		dir:       dir,
		endpoint:  "http://" + addr,
		accessKey: "test" + rand.Text()[:12],
		secretKey: rand.Text(),
	}
	// The gateway runs in region "auto", as R2 does, so the tests use
	// Config's default region.
	g.cmd = exec.Command(bin, "--access", g.accessKey, "--secret", g.secretKey,
		"--port", addr, "--region", DefaultRegion, "--quiet", "posix", dir)
	g.cmd.Stdout = g.output
	g.cmd.Stderr = g.output
	if err := g.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("run %s: %w", bin, err)
	}
	go func() {
		_ = g.cmd.Wait()
		close(g.exited)
	}()
	if err := g.waitReady(15 * time.Second); err != nil {
		g.stop()
		return nil, fmt.Errorf("%w; output:\n%s", err, g.output)
	}
	return g, nil
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
func (g *gateway) waitReady(timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-g.exited:
			return errors.New("versitygw exited during startup")
		default:
		}
		if resp, err := client.Get(g.endpoint + "/"); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("versitygw did not answer within %s", timeout)
}

func (g *gateway) stop() {
	if g.cmd.Process != nil {
		_ = g.cmd.Process.Kill()
		<-g.exited
	}
	_ = os.RemoveAll(g.dir)
}

// config returns a Config for bucket on the gateway.
func (g *gateway) config(bucket string) Config {
	return Config{
		Bucket:          bucket,
		Endpoint:        g.endpoint,
		AccessKeyID:     g.accessKey,
		SecretAccessKey: g.secretKey,
		ForcePathStyle:  true,
	}
}

func (g *gateway) createBucket(bucket string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := New(ctx, g.config(bucket))
	if err != nil {
		return err
	}
	_, err = s.client.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(bucket)})
	return err
}
