package runpod

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Config is what a Client needs. Only EndpointID and APIKey have no
// default.
type Config struct {
	// APIURL is the job API's base; /v2/{endpoint}/... is appended.
	// Default https://api.runpod.ai.
	APIURL string
	// RESTURL is the REST API v2's base; /v2/serverless/{id} is appended.
	// Default https://api.runpod.io. REST v1 (rest.runpod.io/v1) is
	// retired: docs.runpod.io/api-reference-v2/migrate-from-v1 gives
	// 2026-12-01 (2026-11-15 in its August 2026 text).
	RESTURL    string
	EndpointID string
	// APIKey is a secret: sent as "Authorization: Bearer <key>", as
	// runpod-python's client does (runpod/endpoint/runner.py) and the REST
	// API v2's OpenAPI schema asks (bearerAuth); never put in an error or
	// a log.
	APIKey string
	// HTTP makes the requests; nil is a client with a 30 s timeout.
	HTTP *http.Client
	// Retries is how many attempts may follow the first for a failure
	// worth retrying; 0 means 4, a negative number none.
	Retries int
	// Sleep waits d or until ctx ends, for tests; nil is a real timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

const (
	defaultAPIURL  = "https://api.runpod.ai"
	defaultRESTURL = "https://api.runpod.io"
	defaultRetries = 4
	defaultTimeout = 30 * time.Second
)

// Policy bounds RunPod documents (docs.runpod.io/serverless/endpoints/
// send-requests, "Execution policies"); a request outside them is refused
// here rather than by RunPod.
const (
	minExecutionTimeout = 5 * time.Second
	minTTL              = 10 * time.Second
	maxPolicy           = 7 * 24 * time.Hour
)

// Client calls RunPod's job API (run, status, cancel, health) for one
// endpoint, and the REST API v2 for that endpoint's settings. Each call
// retries what is worth retrying (see Retries and Run). It is safe for
// concurrent use.
type Client struct {
	api      string // {APIURL}/v2/{endpoint}
	endpoint string // {RESTURL}/v2/serverless/{endpoint}
	key      string
	http     *http.Client
	retries  int
	sleep    func(ctx context.Context, d time.Duration) error
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.APIURL == "" {
		cfg.APIURL = defaultAPIURL
	}
	if cfg.RESTURL == "" {
		cfg.RESTURL = defaultRESTURL
	}
	var errs []error
	api, err := baseURL(cfg.APIURL)
	if err != nil {
		errs = append(errs, fmt.Errorf("runpod API URL: %w", err))
	}
	rest, err := baseURL(cfg.RESTURL)
	if err != nil {
		errs = append(errs, fmt.Errorf("runpod REST URL: %w", err))
	}
	if !validEndpointID(cfg.EndpointID) {
		errs = append(errs, errors.New("runpod endpoint id must be 1 to 64 letters, digits, '-' or '_'"))
	}
	switch {
	case cfg.APIKey == "":
		errs = append(errs, errors.New("runpod API key is required"))
	case strings.ContainsFunc(cfg.APIKey, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		errs = append(errs, errors.New("runpod API key has spaces or control characters"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c := &Client{
		api:      api + "/v2/" + cfg.EndpointID,
		endpoint: rest + "/v2/serverless/" + cfg.EndpointID,
		key:      cfg.APIKey,
		http:     cfg.HTTP,
		retries:  cfg.Retries,
		sleep:    cfg.Sleep,
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: defaultTimeout}
	}
	switch {
	case c.retries == 0:
		c.retries = defaultRetries
	case c.retries < 0:
		c.retries = 0
	}
	if c.sleep == nil {
		c.sleep = sleep
	}
	return c, nil
}

// baseURL checks an absolute http(s) URL with no query and trims its
// trailing slash.
func baseURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", errors.New("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", errors.New("want an http(s) URL with a host, and no query or credentials")
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// validEndpointID accepts what RunPod's ids are made of (lower-case
// letters and digits, "4m7x2k9q" among the REST API v2 schema's examples,
// "ep_abc123" another), and '-' and '_', which a path segment carries as
// they are.
func validEndpointID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// RunRequest is one job for /run. Zero ExecutionTimeout and TTL leave
// RunPod's defaults (the endpoint's execution timeout, 10 min unless
// set; 24 h).
type RunRequest struct {
	Input   any
	Webhook string // POSTed the job's status when it ends, unsigned
	// ExecutionTimeout bounds the job's run once a worker takes it:
	// 5 s to 7 days.
	ExecutionTimeout time.Duration
	// TTL bounds the job's whole life from submission, queue included:
	// 10 s to 7 days. At its end RunPod deletes the job whatever its state.
	TTL time.Duration
}

// Job is a job as RunPod reports it.
type Job struct {
	ID, Status    string
	DelayTime     time.Duration // from submission to a worker taking it
	ExecutionTime time.Duration // from a worker taking it to its end
	// Output is the result when COMPLETED; while IN_PROGRESS, the last
	// progress update; nil when there is none.
	Output   json.RawMessage
	Error    string // a FAILED job's error (ParseError reads ours)
	WorkerID string
	Retries  int // RunPod does not document it; 0 unless it reports one
}

// jobBody is RunPod's JSON of a job (docs.runpod.io/serverless/endpoints/
// operation-reference: /run, /status, /cancel).
type jobBody struct {
	ID            string          `json:"id"`
	Status        string          `json:"status"`
	DelayTime     int64           `json:"delayTime"`     // ms
	ExecutionTime int64           `json:"executionTime"` // ms
	Output        json.RawMessage `json:"output"`
	Error         json.RawMessage `json:"error"`
	WorkerID      string          `json:"workerId"`
	Retries       int             `json:"retries"`
}

func (b jobBody) job() Job {
	j := Job{
		ID:            b.ID,
		Status:        b.Status,
		DelayTime:     time.Duration(b.DelayTime) * time.Millisecond,
		ExecutionTime: time.Duration(b.ExecutionTime) * time.Millisecond,
		WorkerID:      b.WorkerID,
		Retries:       b.Retries,
	}
	if !isNull(b.Output) {
		j.Output = b.Output
	}
	if !isNull(b.Error) {
		// RunPod's error is a string; anything else is kept as its JSON.
		if json.Unmarshal(b.Error, &j.Error) != nil {
			j.Error = string(b.Error)
		}
	}
	return j
}

func isNull(m json.RawMessage) bool {
	s := strings.TrimSpace(string(m))
	return s == "" || s == "null"
}

// Run submits a job. RunPod has no idempotency key, so a /run whose
// answer is lost after it was sent (a timeout, a connection cut, a 500 or
// a 504) may have been accepted, and a retry could run the job twice:
// such a failure is returned and the caller decides. Run retries only
// what RunPod surely did not take: 429, 502, 503, and a connection that
// failed before the request was written.
func (c *Client) Run(ctx context.Context, r RunRequest) (Job, error) {
	type policy struct {
		ExecutionTimeout int64 `json:"executionTimeout,omitempty"` // ms
		TTL              int64 `json:"ttl,omitempty"`              // ms
	}
	body := struct {
		Input   any     `json:"input"`
		Webhook string  `json:"webhook,omitempty"`
		Policy  *policy `json:"policy,omitempty"`
	}{Input: r.Input, Webhook: r.Webhook}
	if err := checkPolicy(r.ExecutionTimeout, minExecutionTimeout, "execution timeout"); err != nil {
		return Job{}, err
	}
	if err := checkPolicy(r.TTL, minTTL, "ttl"); err != nil {
		return Job{}, err
	}
	if r.ExecutionTimeout != 0 || r.TTL != 0 {
		body.Policy = &policy{ExecutionTimeout: r.ExecutionTimeout.Milliseconds(), TTL: r.TTL.Milliseconds()}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return Job{}, fmt.Errorf("runpod run: encode input: %w", err)
	}
	if r.Input == nil || strings.HasPrefix(string(b), `{"input":null`) {
		return Job{}, errors.New("runpod run: input is required")
	}
	var j jobBody
	if err := c.do(ctx, request{op: "run", method: http.MethodPost, url: c.api + "/run", body: b, run: true}, &j); err != nil {
		return Job{}, err
	}
	if j.ID == "" {
		return Job{}, errors.New("runpod run: the answer has no job id")
	}
	return j.job(), nil
}

func checkPolicy(d, least time.Duration, name string) error {
	if d != 0 && (d < least || d > maxPolicy) {
		return fmt.Errorf("runpod run: %s %v is outside RunPod's %v to %v", name, d, least, maxPolicy)
	}
	return nil
}

// Status returns the job's state. ErrNotFound: RunPod no longer knows it
// (its ttl, or the 30 minutes a /run result is kept, are over).
func (c *Client) Status(ctx context.Context, id string) (Job, error) {
	return c.jobCall(ctx, "status", http.MethodGet, "/status/", id)
}

// Cancel cancels the job: a queued one is dropped, a running one stopped.
// The job is returned as RunPod answers; an ended job keeps its state.
func (c *Client) Cancel(ctx context.Context, id string) (Job, error) {
	return c.jobCall(ctx, "cancel", http.MethodPost, "/cancel/", id)
}

func (c *Client) jobCall(ctx context.Context, op, method, path, id string) (Job, error) {
	if id == "" {
		return Job{}, fmt.Errorf("runpod %s: job id is required", op)
	}
	var j jobBody
	err := c.do(ctx, request{op: op, method: method, url: c.api + path + url.PathEscape(id), jobNotFound: true}, &j)
	if err != nil {
		return Job{}, err
	}
	return j.job(), nil
}

// Health is the endpoint's /health: its jobs and workers by state.
type Health struct {
	Jobs    struct{ Completed, Failed, InProgress, InQueue, Retried int }
	Workers struct{ Idle, Initializing, Ready, Running, Throttled, Unhealthy int }
}

// Health returns the endpoint's job and worker counts.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health // its fields match RunPod's names, case aside
	if err := c.do(ctx, request{op: "health", method: http.MethodGet, url: c.api + "/health"}, &h); err != nil {
		return Health{}, err
	}
	return h, nil
}
