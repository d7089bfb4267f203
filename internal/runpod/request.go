package runpod

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// ErrNotFound is the error of /status or /cancel for a job RunPod does
// not know: a wrong id, or one whose ttl or 30-minute result retention is
// over (docs.runpod.io/serverless/endpoints/send-requests).
var ErrNotFound = errors.New("runpod does not know the job")

// APIError is an answer of RunPod's other than 2xx.
type APIError struct {
	Op         string        // the call: run, status, cancel, health, get endpoint, update endpoint
	Status     int           // the HTTP status
	RetryAfter time.Duration // what Retry-After asked, 0 if nothing
	Message    string        // a short, cleaned excerpt of the body
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("runpod %s: %d %s", e.Op, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Temporary reports whether another attempt may succeed: RunPod was busy
// (429, its documented rate limits) or failed (5xx).
func (e *APIError) Temporary() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// Backoff between attempts: exponential with full jitter, from 500 ms to
// at most 30 s; a Retry-After longer than the cap ends the retries (the
// caller decides when to come back).
const (
	backoffBase = 500 * time.Millisecond
	backoffCap  = 30 * time.Second
)

// maxBody bounds what is read of an answer: RunPod's bodies here are
// small, our worker's output too.
const maxBody = 1 << 20

// request is one call of the API.
type request struct {
	op, method, url string
	body            []byte
	// run marks a /run, which is not idempotent: it is retried only when
	// RunPod surely did not take it.
	run bool
	// jobNotFound maps 404 to ErrNotFound.
	jobNotFound bool
}

// do makes r, retrying what may succeed another time, and decodes a 2xx
// answer's JSON into out.
func (c *Client) do(ctx context.Context, r request, out any) error {
	for attempt := 0; ; attempt++ {
		retry, after, err := c.once(ctx, r, out)
		if err == nil || !retry || attempt >= c.retries || ctx.Err() != nil || after > backoffCap {
			return err
		}
		wait := max(after, backoff(attempt))
		if serr := c.sleep(ctx, wait); serr != nil {
			return fmt.Errorf("%w (no retry: %w)", err, serr)
		}
	}
}

// backoff is the wait after the attempt'th retryable failure: full
// jitter, a random wait up to min(cap, base·2^attempt).
func backoff(attempt int) time.Duration {
	ceil := backoffCap
	if attempt < 16 {
		ceil = min(backoffCap, backoffBase<<attempt)
	}
	return rand.N(ceil + 1)
}

// once makes one attempt. It reports whether the failure is worth
// another, and how long RunPod asked to wait.
//
// What is retried: for every call but /run, a network failure, 429 and
// 5xx. For /run, only what RunPod surely did not take: 429 (refused by
// its rate limiter), 502 and 503 (its gateway could not reach, or was
// refused by, the service), and a network failure before the request's
// headers were written (a refused connection, a failed DNS lookup). A
// 500, a 504 (the gateway gave up waiting on a service that had the
// request) or a connection lost after sending are ambiguous: the job may
// exist.
func (c *Client) once(ctx context.Context, r request, out any) (retry bool, after time.Duration, err error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{WroteHeaders: func() { wrote.Store(true) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), r.method, r.url, body)
	if err != nil {
		return false, 0, fmt.Errorf("runpod %s: %w", r.op, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return !r.run || !wrote.Load(), 0, fmt.Errorf("runpod %s: %w", r.op, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		// The answer was cut short: for /run, the job may exist.
		return !r.run, 0, fmt.Errorf("runpod %s: read answer: %w", r.op, err)
	}
	if len(b) > maxBody {
		return false, 0, fmt.Errorf("runpod %s: answer over %d bytes", r.op, maxBody)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &APIError{
			Op:         r.op,
			Status:     resp.StatusCode,
			RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now()),
			Message:    excerpt(b, c.key),
		}
		if r.jobNotFound && e.Status == http.StatusNotFound {
			return false, 0, fmt.Errorf("%w: %w", e, ErrNotFound)
		}
		retry := e.Temporary()
		if r.run {
			switch e.Status {
			case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable:
			default:
				retry = false
			}
		}
		return retry, e.RetryAfter, e
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return false, 0, fmt.Errorf("runpod %s: decode answer: %w", r.op, err)
		}
	}
	return false, 0, nil
}

// retryAfter reads Retry-After, seconds or an HTTP date (RFC 9110
// 10.2.3), as a wait from now; 0 when absent or unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// excerpt is a short, printable excerpt of an error body for logs: the
// "error", "message" or "detail" of a JSON body, else the text; never the
// API key, should a body echo it. The REST API v2's problem details list
// what failed validation in "errors" ("$: additional properties 'x' not
// allowed", api.runpod.io/v2/openapi.json, ErrorResponse): those follow
// the detail, which alone says only "Request validation failed."
func excerpt(b []byte, key string) string {
	var m map[string]any
	if json.Unmarshal(b, &m) == nil {
		for _, k := range []string{"error", "message", "detail", "title"} {
			if s, ok := m[k].(string); ok && s != "" {
				b = []byte(s + problemErrors(m["errors"]))
				break
			}
		}
	}
	s := strings.ToValidUTF8(string(b), "?")
	if key != "" {
		s = strings.ReplaceAll(s, key, "[key]")
	}
	if strings.HasPrefix(strings.TrimSpace(s), "<") {
		return "(an HTML page)"
	}
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }), " ")
	const limit = 200
	if len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// problemErrors is the strings of a problem's "errors", joined by "; "
// in parentheses after a space; "" when it has none.
func problemErrors(v any) string {
	list, _ := v.([]any)
	var errs []string
	for _, e := range list {
		if s, ok := e.(string); ok && s != "" {
			errs = append(errs, s)
		}
	}
	if len(errs) == 0 {
		return ""
	}
	return " (" + strings.Join(errs, "; ") + ")"
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
