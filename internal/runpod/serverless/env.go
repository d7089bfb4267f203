package serverless

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Env is what RunPod tells a worker through its environment. The URLs are
// kept as RunPod gives them, placeholders ($ID, $RUNPOD_POD_ID) and all:
// the worker fills them in per request, as the SDK does.
type Env struct {
	GetJob     string // RUNPOD_WEBHOOK_GET_JOB: long-poll for a job; $ID is the worker
	PostOutput string // RUNPOD_WEBHOOK_POST_OUTPUT: a job's result; $ID is the job, $RUNPOD_POD_ID the worker
	Ping       string // RUNPOD_WEBHOOK_PING: the heartbeat; "" sends none (as the SDK, off RunPod)
	AIKey      string // RUNPOD_AI_API_KEY: sent raw as Authorization; never logged
	PodID      string // RUNPOD_POD_ID: this worker's id
	EndpointID string // RUNPOD_ENDPOINT_ID: for the logs only
	// PingInterval is RUNPOD_PING_INTERVAL (milliseconds, default 10000).
	PingInterval time.Duration
}

// DefaultPingInterval is the SDK's when RUNPOD_PING_INTERVAL is unset
// (rp_ping.py).
const DefaultPingInterval = 10 * time.Second

// EnvFrom reads Env with getenv (os.Getenv in production). Its error names
// every variable missing or malformed, never a value: the key is one of
// them, and the URLs may carry credentials in their query.
func EnvFrom(getenv func(string) string) (Env, error) {
	e := Env{
		GetJob:       getenv("RUNPOD_WEBHOOK_GET_JOB"),
		PostOutput:   getenv("RUNPOD_WEBHOOK_POST_OUTPUT"),
		Ping:         getenv("RUNPOD_WEBHOOK_PING"),
		AIKey:        getenv("RUNPOD_AI_API_KEY"),
		PodID:        getenv("RUNPOD_POD_ID"),
		EndpointID:   getenv("RUNPOD_ENDPOINT_ID"),
		PingInterval: DefaultPingInterval,
	}
	var errs []error
	for _, v := range []struct{ name, value string }{
		{"RUNPOD_WEBHOOK_GET_JOB", e.GetJob},
		{"RUNPOD_WEBHOOK_POST_OUTPUT", e.PostOutput},
		{"RUNPOD_AI_API_KEY", e.AIKey},
		{"RUNPOD_POD_ID", e.PodID},
	} {
		if v.value == "" {
			errs = append(errs, fmt.Errorf("%s is not set", v.name))
		}
	}
	for _, v := range []struct{ name, value string }{
		{"RUNPOD_WEBHOOK_GET_JOB", e.GetJob},
		{"RUNPOD_WEBHOOK_POST_OUTPUT", e.PostOutput},
		{"RUNPOD_WEBHOOK_PING", e.Ping},
	} {
		if v.value != "" && !httpURL(v.value) {
			errs = append(errs, fmt.Errorf("%s is not an http(s) URL", v.name))
		}
	}
	if s := getenv("RUNPOD_PING_INTERVAL"); s != "" {
		ms, err := strconv.Atoi(s)
		if err != nil || ms <= 0 {
			errs = append(errs, errors.New("RUNPOD_PING_INTERVAL is not a positive number of milliseconds"))
		} else {
			e.PingInterval = time.Duration(ms) * time.Millisecond
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Env{}, fmt.Errorf("RunPod worker environment: %w", err)
	}
	return e, nil
}

// LogValue shows Env without the key and without the URLs' queries, so
// that logging an Env cannot leak either.
func (e Env) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("get_job", redact(e.GetJob)),
		slog.String("post_output", redact(e.PostOutput)),
		slog.String("ping", redact(e.Ping)),
		slog.Bool("ai_key_set", e.AIKey != ""),
		slog.String("pod_id", e.PodID),
		slog.String("endpoint_id", e.EndpointID),
		slog.Duration("ping_interval", e.PingInterval),
	)
}

// String is LogValue's text, for %v: an Env printed by mistake shows no
// secret either.
func (e Env) String() string { return e.LogValue().String() }

// httpURL reports whether s is an absolute http or https URL. The
// placeholders RunPod leaves in its URLs parse as path or query text.
func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// redact is s without its query, fragment or user info: what may be
// logged of a URL. Signed URLs carry their signature in the query, and
// RunPod's may carry routing parameters we have no reason to print.
func redact(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}

// withParams appends key=value pairs to the query of s, whether or not s
// already has one. The SDK appends "&job_in_progress=…" and
// "&isStream=…" to RunPod's URLs as text (rp_job.py, rp_http.py), which
// assumes a query is there; this does not. The existing query is kept
// byte for byte, not re-encoded.
func withParams(s string, kv ...string) string {
	var b strings.Builder
	b.WriteString(s)
	sep := "?"
	switch {
	case strings.HasSuffix(s, "?") || strings.HasSuffix(s, "&"):
		sep = ""
	case strings.Contains(s, "?"):
		sep = "&"
	}
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteString(sep)
		b.WriteString(url.QueryEscape(kv[i]))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(kv[i+1]))
		sep = "&"
	}
	return b.String()
}
