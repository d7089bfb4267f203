package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

const healthUsage = `Usage: avatar-api health [--url URL] [--timeout 3s]

Asks a running avatar-api for GET /health and exits 0 when it answers 200,
1 otherwise, saying why. By default it asks the API of this machine, at
http://127.0.0.1:$PORT/health (PORT as serve reads it, default 8080;
https when TLS_CERT_FILE is set, as serve then speaks only TLS); a
worker's /health is at WORKER_METRICS_ADDR: pass it with --url. It is the
container image's HEALTHCHECK, so that the image needs no curl.`

// runHealth is a health probe for container runtimes. It reads PORT
// alone, not the whole configuration: a probe must not fail, nor read
// secrets, for anything but the server's answer.
func runHealth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, healthUsage) }
	url := fs.String("url", "", "the URL to GET (default http://127.0.0.1:$PORT/health)")
	timeout := fs.Duration("timeout", 3*time.Second, "how long the answer may take")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *url == "" {
		scheme := "http"
		if os.Getenv("TLS_CERT_FILE") != "" {
			scheme = "https"
		}
		*url = scheme + "://" + net.JoinHostPort("127.0.0.1", cmpEnv("PORT", "8080")) + "/health"
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return fmt.Errorf("health URL: %w", err)
	}
	resp, err := healthClient(req.URL).Do(req)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: no answer within %s", *url, *timeout)
	}
	if err != nil {
		return fmt.Errorf("no answer: %w", err) // it names the URL and what failed
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	answer := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s: %s", *url, resp.Status, answer)
	}
	fmt.Fprintf(stdout, "healthy: %s answered %s\n", *url, answer)
	return nil
}

// healthClient asks directly (no proxy from the environment) and follows
// no redirect. On this machine's own loopback it does not verify the
// certificate: the server's is made out to its public name, not to
// 127.0.0.1, and the probe sends nothing and reads only a status.
func healthClient(u *url.URL) *http.Client {
	ip := net.ParseIP(u.Hostname())
	loopback := u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback())
	return &http.Client{
		Transport: &http.Transport{
			Proxy:           nil,
			TLSClientConfig: &tls.Config{InsecureSkipVerify: loopback, MinVersion: tls.VersionTLS12},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
