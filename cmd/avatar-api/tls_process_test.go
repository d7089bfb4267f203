package main_test

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/testkit"
)

// TestServeTLS: `serve` with TLS_CERT_FILE and TLS_KEY_FILE answers HTTPS
// (TLS 1.2 or later, HTTP/2) on its socket, with HSTS, and a key works
// over it; plain HTTP on the same port gets nothing useful.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := testkit.TLSCert(t)
	sock, addr := testkit.Socket(t)
	defer sock.Close() // the child has its copy
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("sh", "-c", testkit.Activate, binary, "serve")
	cmd.Env = append(os.Environ(), "DATA_DIR="+t.TempDir(), "PORT="+port, "API_KEY="+apiKey, "LOG_LEVEL=debug", "LISTEN_FDS=1",
		"TLS_CERT_FILE="+certFile, "TLS_KEY_FILE="+keyFile, "EMBEDDED_WORKERS=false")
	cmd.ExtraFiles = []*os.File{sock}
	logs := &testkit.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("server log:\n%s", lastLines(logs.String(), 40))
		}
	})

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true,
	}}
	base := "https://" + addr
	testkit.WaitFor(t, 60*time.Second, "the server's /health over HTTPS", func() bool {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("server exited at start: %v", err)
		default:
		}
		resp, err := client.Get(base + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	req, _ := http.NewRequest(http.MethodGet, base+"/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Proto != "HTTP/2.0" || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("GET /whoami over HTTPS: %d %s, TLS %v: %s", resp.StatusCode, resp.Proto, resp.TLS, body)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=63072000; includeSubDomains" {
		t.Errorf("Strict-Transport-Security %q", got)
	}
	if plain, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/health"); err == nil {
		plain.Body.Close()
		if plain.StatusCode == http.StatusOK {
			t.Error("plain HTTP was served on the HTTPS port")
		}
	}
	// The image's HEALTHCHECK, with serve's environment: https, since
	// TLS_CERT_FILE is set.
	if out := cli(t, []string{"PORT=" + port, "TLS_CERT_FILE=" + certFile}, "health"); !strings.Contains(out, "healthy: https://") {
		t.Errorf("avatar-api health said %q", out)
	}
	if !strings.Contains(logs.String(), `"tls":true`) {
		t.Errorf("the start's log line does not say TLS")
	}
}
