// Package config builds the service's configuration from environment
// variables, once, at start. Every variable is declared in one table (vars)
// with its default and its documentation, so that the reference in
// docs/configuration.md can be checked against the code by a test.
package config

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // COST_TIMEZONE works on machines without a zone database

	"github.com/avatar-api/avatar-api/internal/alert/notify"
	"github.com/avatar-api/avatar-api/internal/clientip"
	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/store"
	"github.com/avatar-api/avatar-api/internal/text"
)

// Config is the whole configuration of a process. It is built once by Load
// and passed down; nothing reads the environment after that.
type Config struct {
	Port      int
	PublicURL string
	// SupportEmail and SupportURL are how customers reach the operator:
	// the contact of the API's documentation (empty: not shown).
	SupportEmail, SupportURL string
	DataDir                  string
	LogLevel                 slog.Level

	// TLSCertFile and TLSKeyFile, both or neither: serve HTTPS itself.
	TLSCertFile, TLSKeyFile string
	// TrustedProxies may say whom they forward for (X-Forwarded-For).
	TrustedProxies clientip.Proxies
	// CORSOrigins are the browser origins allowed to call the customer
	// routes ("*": any, never with credentials); empty: no CORS at all.
	CORSOrigins []string

	DatabaseURL string // empty: SQLite in DataDir
	RedisURL    string // empty: rate limits in memory; secret

	RateLimitPerHour int // default generation requests per key per hour
	PollRateLimit    int // status/result/list requests per key per PollRateWindow
	PollRateWindow   time.Duration

	APIKey         string // a key of the first release, imported once; secret
	APIKeyCustomer string
	APIKeyPepper   string // secret

	EmbeddedWorkers     bool
	Workers             int
	WorkerMetricsAddr   string // empty: a worker process serves no metrics
	JobTimeout          time.Duration
	JobRescueAfter      time.Duration
	JobHeartbeatTimeout time.Duration
	JobMaxAttempts      int
	ShutdownGrace       time.Duration
	ResultTTL           time.Duration
	DownloadURLTTL      time.Duration

	Storage          string // "local" or "s3"
	SigningSecret    string // secret; empty: generated once into DataDir
	S3Bucket         string
	S3Endpoint       string
	S3Region         string
	S3AccessKeyID    string
	S3SecretKey      string // secret
	S3Prefix         string
	S3ForcePathStyle bool

	Generator        string // "builtin", "still" or "command"
	GeneratorCommand string // GENERATOR=command: the command line template
	GeneratorTimeout time.Duration
	// GeneratorEnv is what the model command gets of this process's
	// environment besides PATH, HOME and LANG: NAME=value of each variable
	// GENERATOR_ENV names that is set.
	GeneratorEnv []string
	generatorEnv []string // the names

	Backend                string // "local" or "runpod"
	RunPodEndpointID       string
	RunPodAPIKey           string // secret
	RunPodAPIURL           string
	RunPodRESTURL          string
	RunPodPrice            store.NanoUSD // a second of RunPod's executionTime
	RunPodExecutionTimeout time.Duration
	RunPodTTL              time.Duration
	RunPodPollInterval     time.Duration
	RunPodHealthInterval   time.Duration
	RunPodWebhook          bool
	RunPodConcurrency      int
	FaceCheck              bool // refuse faceless portraits before queueing
	FFmpeg                 string
	FFprobe                string

	MaxImageBytes     int64
	MaxAudioBytes     int64
	MaxImageDimension int
	MaxImageDecode    int64 // bytes one image may take decoded
	ImageDecodeMemory int64 // bytes all images being checked may take
	MaxAudioDuration  time.Duration
	MaxPromptChars    int
	MaxUploads        int
	MaxUploadsPerCust int   // 0: half of MaxUploads, rounded up
	UploadMinRate     int64 // bytes a second
	UploadRateGrace   time.Duration
	DefaultWidth      int
	DefaultHeight     int
	DefaultFPS        int

	MetricsToken        string        // bearer token of Prometheus scrapers; secret
	MetricsRetention    time.Duration // rollups and GPU readings are kept this long
	JobRetention        time.Duration // final jobs are kept this long after they ended
	OrphanAge           time.Duration // an object no job references is deleted once this old
	CostPerSecond       store.NanoUSD // the price of a second of generation
	CostLocation        *time.Location
	DashboardSessionTTL time.Duration
	GPUSampleInterval   time.Duration
	NvidiaSMI           string

	// Alerts: the rules' thresholds (0 turns a rule off), how often they
	// are evaluated and repeated, and where notifications go.
	CostDailyThreshold     store.NanoUSD
	CostMonthlyBudget      store.NanoUSD
	AlertFailureRatio      float64
	AlertFailureMinJobs    int
	AlertQueueWait         time.Duration
	AlertRateLimitRefusals int
	AlertEvalInterval      time.Duration
	AlertRepeatInterval    time.Duration
	AlertWebhookURLs       []string // secret: a Slack URL's path is its credential
	WebhookAllowPrivate    bool     // customers' webhooks may call private addresses (self-hosted)
	AlertWebhookSecret     string   // secret
	AlertEmailTo           []string
	AlertEmailFrom         string
	SMTPURL                string // secret: it may hold a password
	// Spending caps: new jobs are refused once the day's or the month's
	// cost reaches them (0: no cap).
	CostDailyCap   store.NanoUSD
	CostMonthlyCap store.NanoUSD
}

// SQLitePath is the database file used when no DATABASE_URL is given.
func (c *Config) SQLitePath() string { return filepath.Join(c.DataDir, "avatar.db") }

// Var describes one environment variable: its name, default and meaning.
type Var struct {
	Name    string
	Default string
	Secret  bool // also read from NAME_FILE; never printed
	// Computed defaults depend on other variables; Default describes them.
	Computed bool
	Doc      string
	set      func(c *Config, v string) error
}

var vars = []Var{
	{
		Name:    "PORT",
		Default: "8080",
		Doc:     "TCP port the HTTP API listens on, unless its service manager passes it a socket (systemd socket activation; see docs/operations.md).",
		set:     intVar(func(c *Config) *int { return &c.Port }, 1, 65535),
	},
	{
		Name:     "PUBLIC_URL",
		Default:  "http://localhost:$PORT",
		Computed: true,
		Doc:      "Base URL clients reach the API at; used in the links the API hands out (status, result, downloads). Its default is `https://localhost:$PORT` when `TLS_CERT_FILE` is set.",
		set: func(c *Config, v string) error {
			if v == "" {
				return nil // computed from PORT
			}
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return errors.New("must be an absolute http(s) URL")
			}
			// The scheme in lower case (url.Parse accepted HTTPS://): what
			// decides, among others, whether answers carry HSTS.
			c.PublicURL = strings.TrimRight(u.Scheme+v[len(u.Scheme):], "/")
			return nil
		},
	},
	{
		Name:    "SUPPORT_EMAIL",
		Default: "",
		Doc:     "Where customers write for help: the contact of the API documentation (`/docs`, `/openapi.json`).",
		set: func(c *Config, v string) error {
			if v != "" {
				if a, err := mail.ParseAddress(v); err != nil || a.Name != "" {
					return errors.New("must be a bare email address")
				}
			}
			c.SupportEmail = v
			return nil
		},
	},
	{
		Name:    "SUPPORT_URL",
		Default: "",
		Doc:     "A page where customers get help (status page, help desk): the contact of the API documentation.",
		set: func(c *Config, v string) error {
			if v == "" {
				c.SupportURL = ""
				return nil
			}
			return urlVar(func(c *Config) *string { return &c.SupportURL })(c, v)
		},
	},
	{
		Name:    "TLS_CERT_FILE",
		Default: "",
		Doc:     "PEM certificate chain with which `serve` answers HTTPS itself (TLS 1.2 or later, HTTP/2), with TLS_KEY_FILE; both or neither. Empty: plain HTTP, for a TLS-terminating proxy in front. A renewed certificate written over the same files is served within a minute, without a restart.",
		set:     strVar(func(c *Config) *string { return &c.TLSCertFile }),
	},
	{
		Name:    "TLS_KEY_FILE",
		Default: "",
		Doc:     "PEM private key of TLS_CERT_FILE.",
		set:     strVar(func(c *Config) *string { return &c.TLSKeyFile }),
	},
	{
		Name:    "TRUSTED_PROXIES",
		Default: "",
		Doc:     "Comma-separated CIDRs (`10.0.0.0/8,fd00::/8`; a bare address is one host) of the reverse proxies in front of the service. Only a request whose peer is in one of them has its client address taken from `X-Forwarded-For` (the rightmost address that is not a trusted proxy); anyone else's header is ignored. The client address is what the access log shows (`remote`) and what failed authentications are throttled by. Empty: the peer's address is the client's. Never list networks that clients can connect from.",
		set: func(c *Config, v string) error {
			p, err := clientip.ParseProxies(v)
			c.TrustedProxies = p
			return err
		},
	},
	{
		Name:    "CORS_ORIGINS",
		Default: "",
		Doc:     "Comma-separated browser origins (`https://app.example.com`: scheme, host and port, nothing else; no default port, as browsers send none) whose pages may call the customer routes (`/generate`, `/status`, `/result` …), the open ones (`/health`, `/openapi.json` …) and the signed downloads with a key in `Authorization`; or `*` alone for any origin (never with credentials: the API takes keys in a header, not cookies). Operator routes (`/admin/…`, `/metrics`, `/dashboard…`) and the service's callbacks never answer CORS. Empty: no CORS headers at all.",
		set: func(c *Config, v string) error {
			c.CORSOrigins = nil
			for i, raw := range strings.Split(v, ",") {
				raw = strings.TrimSpace(raw)
				if raw == "" {
					continue
				}
				if raw == "*" {
					c.CORSOrigins = append(c.CORSOrigins, raw)
					continue
				}
				u, err := url.Parse(raw)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
					u.Scheme+"://"+u.Host != raw || u.Host != strings.ToLower(u.Host) {
					return fmt.Errorf("entry %d must be an origin: scheme://host[:port] in lower case, with no path, such as https://app.example.com", i+1)
				}
				if p := u.Port(); (u.Scheme == "https" && p == "443") || (u.Scheme == "http" && p == "80") {
					return fmt.Errorf("entry %d: drop the default port :%s (browsers send the origin without it, so it would never match)", i+1, p)
				}
				if !slices.Contains(c.CORSOrigins, raw) {
					c.CORSOrigins = append(c.CORSOrigins, raw)
				}
			}
			if len(c.CORSOrigins) > 1 && slices.Contains(c.CORSOrigins, "*") {
				return errors.New("* must be the only entry")
			}
			return nil
		},
	},
	{
		Name:    "DATA_DIR",
		Default: "./data",
		Doc:     "Directory for the embedded SQLite database, local video storage, uploads in progress and the generated signing secret.",
		set: func(c *Config, v string) error {
			if v == "" {
				return errors.New("must not be empty")
			}
			c.DataDir = v
			return nil
		},
	},
	{
		Name:    "LOG_LEVEL",
		Default: "info",
		Doc:     "Minimum level of the JSON logs on standard error: debug, info, warn or error.",
		set: func(c *Config, v string) error {
			return c.LogLevel.UnmarshalText([]byte(v))
		},
	},
	{
		Name:    "DATABASE_URL",
		Default: "",
		Doc:     "PostgreSQL connection URL (postgres://user:pass@host:5432/db). Empty: an SQLite file in DATA_DIR.",
		Secret:  true,
		set: func(c *Config, v string) error {
			if v != "" && !strings.HasPrefix(v, "postgres://") && !strings.HasPrefix(v, "postgresql://") {
				return errors.New("must be a postgres:// URL")
			}
			c.DatabaseURL = v
			return nil
		},
	},
	{
		Name:    "REDIS_URL",
		Default: "",
		Secret:  true,
		Doc:     "Redis for rate limits shared by every replica (redis://[:password@]host:6379/0). Empty: limits are kept in memory, per process. If Redis becomes unreachable, each replica limits on its own until it returns.",
		set: func(c *Config, v string) error {
			if v != "" && !strings.HasPrefix(v, "redis://") && !strings.HasPrefix(v, "rediss://") {
				return errors.New("must be a redis:// or rediss:// URL")
			}
			c.RedisURL = v
			return nil
		},
	},
	{
		Name:    "RATE_LIMIT_PER_HOUR",
		Default: "10",
		Doc:     "Generation requests (`POST /generate`) a key may make in any rolling hour, unless the key has its own limit (`avatar-api keys update ID --rate-limit N`).",
		set:     intVar(func(c *Config) *int { return &c.RateLimitPerHour }, 1, 100000),
	},
	{
		Name:    "POLL_RATE_LIMIT",
		Default: "600",
		Doc:     "Other requests (status, result, cancel, list, whoami, admin) a key may make in any rolling POLL_RATE_WINDOW.",
		set:     intVar(func(c *Config) *int { return &c.PollRateLimit }, 1, 100000),
	},
	{
		Name:    "POLL_RATE_WINDOW",
		Default: "1m",
		Doc:     "The window of POLL_RATE_LIMIT, in whole seconds (the RateLimit-Policy field counts seconds).",
		set: func(c *Config, v string) error {
			if err := durationVar(func(c *Config) *time.Duration { return &c.PollRateWindow }, time.Second)(c, v); err != nil {
				return err
			}
			if c.PollRateWindow%time.Second != 0 {
				return errors.New("must be whole seconds, such as 30s or 1m")
			}
			return nil
		},
	},
	{
		Name:    "API_KEY",
		Default: "",
		Secret:  true,
		Doc:     "A key of the single-key first release. If set while the database has no keys, it is imported (hashed) as the first key, of customer API_KEY_CUSTOMER, with every scope; remove it afterwards. With neither, the first start creates an admin key and prints it once.",
		set: func(c *Config, v string) error {
			if v != "" && len(v) < 16 {
				return errors.New("must be at least 16 characters")
			}
			c.APIKey = v
			return nil
		},
	},
	{
		Name:    "API_KEY_CUSTOMER",
		Default: "default",
		Doc:     "Customer the imported API_KEY belongs to (one line of text, at most 200 characters).",
		set: func(c *Config, v string) error {
			if why := text.Check(v, 200, false); why != "" || v == "" {
				return errors.New("must be one line of text of 1 to 200 characters")
			}
			c.APIKeyCustomer = v
			return nil
		},
	},
	{
		Name:    "API_KEY_PEPPER",
		Default: "",
		Secret:  true,
		Doc:     "Optional server secret (16+ characters) keying the stored key hashes (HMAC-SHA256), so that the database alone cannot confirm a guessed key. Changing it invalidates every key.",
		set: func(c *Config, v string) error {
			if v != "" && len(v) < 16 {
				return errors.New("must be at least 16 characters")
			}
			c.APIKeyPepper = v
			return nil
		},
	},
	{
		Name:    "EMBEDDED_WORKERS",
		Default: "true",
		Doc:     "Whether `serve` also runs job workers in-process. Set false when separate `avatar-api worker` processes do the work.",
		set:     boolVar(func(c *Config) *bool { return &c.EmbeddedWorkers }),
	},
	{
		Name:    "WORKERS",
		Default: "1",
		Doc:     "Jobs one process generates at the same time. Each generation already uses every core.",
		set:     intVar(func(c *Config) *int { return &c.Workers }, 1, 64),
	},
	{
		Name:    "WORKER_METRICS_ADDR",
		Default: "",
		Doc:     "Address (`host:port`, e.g. `:9091`) on which an `avatar-api worker` process serves `GET /health` and `GET /metrics` (Prometheus), so that machines running only workers can be scraped. Empty: none. `/health` needs no key; `/metrics` needs METRICS_TOKEN or an admin key, as on the API. Not used by `serve`, whose `/metrics` is on the API.",
		set: func(c *Config, v string) error {
			if v == "" {
				return nil
			}
			if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
				return errors.New("must be host:port, such as :9091 or 127.0.0.1:9091")
			}
			c.WorkerMetricsAddr = v
			return nil
		},
	},
	{
		Name:    "JOB_TIMEOUT",
		Default: "10m",
		Doc:     "Longest a single generation attempt may run before it is stopped and the job fails with `timeout`.",
		set:     durationVar(func(c *Config) *time.Duration { return &c.JobTimeout }, time.Second),
	},
	{
		Name:     "JOB_RESCUE_AFTER",
		Default:  "JOB_TIMEOUT + 1m",
		Computed: true,
		Doc:      "How long a job may stay running without finishing before it is considered lost (its worker crashed) and retried. Must exceed JOB_TIMEOUT.",
		set:      durationVar(func(c *Config) *time.Duration { return &c.JobRescueAfter }, time.Second),
	},
	{
		Name:    "JOB_HEARTBEAT_TIMEOUT",
		Default: "30s",
		Doc:     "A running job's worker records its progress every second; a job not heard from for this long is taken for dead (its process was killed, its machine lost) and put back on the queue by whichever process leads, looked for every third of it. With the default a killed job runs again within about 40 s. An attempt that was only slow is stopped when it next writes: it can never overwrite its successor. At least 5s. River's own rescue (`JOB_RESCUE_AFTER`) stays as the last resort.",
		set:     durationVar(func(c *Config) *time.Duration { return &c.JobHeartbeatTimeout }, 5*time.Second),
	},
	{
		Name:    "JOB_MAX_ATTEMPTS",
		Default: "3",
		Doc:     "Attempts per job before it fails for good (crashes and transient errors are retried; bad inputs are not).",
		set:     intVar(func(c *Config) *int { return &c.JobMaxAttempts }, 1, 25),
	},
	{
		Name:    "SHUTDOWN_GRACE",
		Default: "30s",
		Doc:     "On SIGTERM, how long running jobs may finish before they are stopped and put back in the queue.",
		set:     durationVar(func(c *Config) *time.Duration { return &c.ShutdownGrace }, 0),
	},
	{
		Name:    "RESULT_TTL",
		Default: "6h",
		Doc:     "How long finished videos are kept; then they are deleted and the job becomes `expired`.",
		set:     durationVar(func(c *Config) *time.Duration { return &c.ResultTTL }, time.Minute),
	},
	{
		Name:    "DOWNLOAD_URL_TTL",
		Default: "1h",
		Doc:     "Validity of each signed download URL handed out by `GET /result` (never beyond the video's expiry; at most 168h).",
		set:     durationVar(func(c *Config) *time.Duration { return &c.DownloadURLTTL }, time.Second),
	},
	{
		Name:    "STORAGE",
		Default: "local",
		Doc:     "Where inputs and videos are kept: `local` (DATA_DIR, served by the API through signed URLs) or `s3` (any S3-compatible service, presigned URLs).",
		set: func(c *Config, v string) error {
			if v != "local" && v != "s3" {
				return errors.New("must be local or s3")
			}
			c.Storage = v
			return nil
		},
	},
	{
		Name:    "SIGNING_SECRET",
		Default: "",
		Secret:  true,
		Doc:     "Secret (32+ bytes) that signs local download URLs and RunPod's webhook tokens, seals customers' webhook URLs and derives their webhook signing secrets. Empty: generated once into DATA_DIR/signing.key. Give every replica, worker and `keys` command the same one; changing it invalidates customers' webhook secrets and stored webhook URLs (docs/keys.md).",
		set: func(c *Config, v string) error {
			if v != "" && len(v) < 32 {
				return errors.New("must be at least 32 characters")
			}
			c.SigningSecret = v
			return nil
		},
	},
	{
		Name:    "S3_BUCKET",
		Default: "",
		Doc:     "Bucket name (STORAGE=s3).",
		set:     strVar(func(c *Config) *string { return &c.S3Bucket }),
	},
	{
		Name:    "S3_ENDPOINT",
		Default: "",
		Doc:     "S3 API endpoint; empty for AWS. Cloudflare R2: https://<account>.r2.cloudflarestorage.com.",
		set:     strVar(func(c *Config) *string { return &c.S3Endpoint }),
	},
	{
		Name:    "S3_REGION",
		Default: "auto",
		Doc:     "Region; `auto` for Cloudflare R2.",
		set:     strVar(func(c *Config) *string { return &c.S3Region }),
	},
	{
		Name:    "S3_ACCESS_KEY_ID",
		Default: "",
		Doc:     "Access key id; empty: the AWS default credential chain.",
		set:     strVar(func(c *Config) *string { return &c.S3AccessKeyID }),
	},
	{
		Name:    "S3_SECRET_ACCESS_KEY",
		Default: "",
		Secret:  true,
		Doc:     "Secret access key.",
		set:     strVar(func(c *Config) *string { return &c.S3SecretKey }),
	},
	{
		Name:    "S3_PREFIX",
		Default: "",
		Doc:     "Key prefix inside the bucket, e.g. `avatar/`. A bucket and prefix belong to one deployment (one database): its garbage collection deletes the objects of jobs its database does not know.",
		set:     strVar(func(c *Config) *string { return &c.S3Prefix }),
	},
	{
		Name:    "S3_FORCE_PATH_STYLE",
		Default: "false",
		Doc:     "Path-style bucket addressing (MinIO, versitygw).",
		set:     boolVar(func(c *Config) *bool { return &c.S3ForcePathStyle }),
	},
	{
		Name:    "GENERATOR",
		Default: "builtin",
		Doc:     "Video generator of the workers of this process (`serve`'s embedded ones, `worker`, `worker --runpod`): `builtin` (the CPU animator: lip-synced mouth, blinks, head motion), `still` (the portrait as a still picture with the audio) or `command` (an external model, `GENERATOR_COMMAND`; see docs/generator.md).",
		set: func(c *Config, v string) error {
			if v != "builtin" && v != "still" && v != "command" {
				return errors.New("must be builtin, still or command")
			}
			c.Generator = v
			return nil
		},
	},
	{
		Name:    "GENERATOR_COMMAND",
		Default: "",
		Doc:     "With `GENERATOR=command`: the model's command line, run without a shell, placeholders such as `{image}`, `{audio}`, `{prompt}`, `{output}`, `{width}`, `{height}`, `{fps}` substituted per argument (docs/generator.md).",
		set:     strVar(func(c *Config) *string { return &c.GeneratorCommand }),
	},
	{
		Name:    "GENERATOR_ENV",
		Default: "LD_LIBRARY_PATH,CUDA_VISIBLE_DEVICES,NVIDIA_VISIBLE_DEVICES,HF_HOME,TORCH_HOME,PYTHONPATH",
		Doc:     "With `GENERATOR=command`: the variables of this process's environment the model's command also gets (it gets `PATH`, `HOME`, `LANG` and these, nothing else: never the service's secrets). Comma-separated names; those not set are left out.",
		set: func(c *Config, v string) error {
			for _, name := range strings.Split(v, ",") {
				name = strings.TrimSpace(name)
				if name == "" {
					continue
				}
				if strings.ContainsAny(name, "= \t") {
					return errors.New("must be comma-separated variable names")
				}
				c.generatorEnv = append(c.generatorEnv, name)
			}
			return nil
		},
	},
	{
		Name:     "GENERATOR_TIMEOUT",
		Default:  "JOB_TIMEOUT",
		Computed: true,
		Doc:      "With `GENERATOR=command`: longest one run of the command may take before its process group is killed.",
		set:      durationVar(func(c *Config) *time.Duration { return &c.GeneratorTimeout }, time.Second),
	},
	{
		Name:    "BACKEND",
		Default: "local",
		Doc:     "Where videos are made: `local` (this binary's workers: `serve`'s embedded ones and `avatar-api worker` processes) or `runpod` (a RunPod serverless endpoint running `avatar-api worker --runpod`; docs/runpod.md). Each job records the backend it was accepted for.",
		set: func(c *Config, v string) error {
			if v != "local" && v != "runpod" {
				return errors.New("must be local or runpod")
			}
			c.Backend = v
			return nil
		},
	},
	{
		Name:    "RUNPOD_ENDPOINT_ID",
		Default: "",
		Doc:     "With `BACKEND=runpod`: the serverless endpoint's id.",
		set: func(c *Config, v string) error {
			for _, r := range v {
				if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
					return errors.New("must hold only letters, digits, - and _")
				}
			}
			c.RunPodEndpointID = v
			return nil
		},
	},
	{
		Name:    "RUNPOD_API_KEY",
		Default: "",
		Secret:  true,
		Doc:     "With `BACKEND=runpod`: a RunPod API key allowed to run jobs on the endpoint (and, for `avatar-api runpod scale`, to edit it).",
		set:     strVar(func(c *Config) *string { return &c.RunPodAPIKey }),
	},
	{
		Name:    "RUNPOD_API_URL",
		Default: "https://api.runpod.ai",
		Doc:     "Base URL of RunPod's job API (`/v2/{endpoint}/run`, `/status`, `/cancel`, `/health`). Changed only by tests.",
		set:     urlVar(func(c *Config) *string { return &c.RunPodAPIURL }),
	},
	{
		Name:    "RUNPOD_REST_URL",
		Default: "https://api.runpod.io",
		Doc:     "Base URL of RunPod's REST API v2 (the endpoint's settings: `avatar-api runpod status` and `scale`). Changed only by tests.",
		set:     urlVar(func(c *Config) *string { return &c.RunPodRESTURL }),
	},
	{
		Name:    "RUNPOD_PRICE_PER_SECOND",
		Default: "0.00019",
		Doc:     "Price in US dollars of one second of RunPod `executionTime` on the endpoint's GPU type (the 24 GB tier's by default): RunPod jobs are billed the `executionTime` RunPod reports, at this price.",
		set:     priceVar(func(c *Config) *store.NanoUSD { return &c.RunPodPrice }),
	},
	{
		Name:     "RUNPOD_EXECUTION_TIMEOUT",
		Default:  "JOB_TIMEOUT",
		Computed: true,
		Doc:      "RunPod's `policy.executionTimeout`: longest a worker may run one job before RunPod stops it (`TIMED_OUT`).",
		set:      durationVar(func(c *Config) *time.Duration { return &c.RunPodExecutionTimeout }, 5*time.Second),
	},
	{
		Name:    "RUNPOD_TTL",
		Default: "1h",
		Doc:     "RunPod's `policy.ttl`: longest a job may live at RunPod, waiting in its queue and running, before RunPod drops it (10s to 168h). It bounds one attempt of a RunPod job, so `JOB_RESCUE_AFTER` defaults to it plus two minutes.",
		set:     durationVar(func(c *Config) *time.Duration { return &c.RunPodTTL }, 10*time.Second),
	},
	{
		Name:    "RUNPOD_POLL_INTERVAL",
		Default: "5s",
		Doc:     "How often a dispatched job's status is asked of RunPod. RunPod's webhook usually tells sooner; polling is what never misses an end (RunPod retries a webhook only twice).",
		set:     durationVar(func(c *Config) *time.Duration { return &c.RunPodPollInterval }, 100*time.Millisecond),
	},
	{
		Name:    "RUNPOD_HEALTH_INTERVAL",
		Default: "30s",
		Doc:     "How often the endpoint's health (workers idle, running, initializing, throttled; RunPod's queue) is read for the metrics and the dashboard.",
		set:     durationVar(func(c *Config) *time.Duration { return &c.RunPodHealthInterval }, time.Second),
	},
	{
		Name:    "RUNPOD_WEBHOOK",
		Default: "true",
		Doc:     "Ask RunPod to call `PUBLIC_URL/runpod/webhook/…` when a job ends, so it is followed up at once. `false` when RunPod cannot reach `PUBLIC_URL`: polling alone then follows the jobs.",
		set:     boolVar(func(c *Config) *bool { return &c.RunPodWebhook }),
	},
	{
		Name:    "RUNPOD_CONCURRENCY",
		Default: "100",
		Doc:     "RunPod jobs one process follows at once (waiting costs a goroutine, not a CPU). More queued jobs wait in our queue; the endpoint's max workers bounds how many run.",
		set:     intVar(func(c *Config) *int { return &c.RunPodConcurrency }, 1, 10000),
	},
	{
		Name:    "FACE_CHECK",
		Default: "true",
		Doc:     "Refuse, before a job is queued, a portrait in which no face is found (`no_face_detected`, unless the request sets `face_fallback=true`), whatever `GENERATOR` is. `false` accepts any picture, e.g. with `GENERATOR=still`, which needs no face.",
		set:     boolVar(func(c *Config) *bool { return &c.FaceCheck }),
	},
	{
		Name:    "FFMPEG",
		Default: "ffmpeg",
		Doc:     "ffmpeg executable (name on PATH or path).",
		set:     strVar(func(c *Config) *string { return &c.FFmpeg }),
	},
	{
		Name:    "FFPROBE",
		Default: "ffprobe",
		Doc:     "ffprobe executable (name on PATH or path).",
		set:     strVar(func(c *Config) *string { return &c.FFprobe }),
	},
	{
		Name:    "MAX_IMAGE_BYTES",
		Default: "20971520",
		Doc:     "Largest accepted image upload, in bytes (20 MiB).",
		set:     int64Var(func(c *Config) *int64 { return &c.MaxImageBytes }, 1024),
	},
	{
		Name:    "MAX_AUDIO_BYTES",
		Default: "52428800",
		Doc:     "Largest accepted audio upload, in bytes (50 MiB).",
		set:     int64Var(func(c *Config) *int64 { return &c.MaxAudioBytes }, 1024),
	},
	{
		Name:    "MAX_IMAGE_DIMENSION",
		Default: "4096",
		Doc:     "Largest accepted image width or height, in pixels, read from the header before decoding.",
		set:     intVar(func(c *Config) *int { return &c.MaxImageDimension }, 64, 16384),
	},
	{
		Name:    "MAX_IMAGE_DECODE_BYTES",
		Default: "134217728",
		Doc:     "Most memory one image's pixels may take while it is checked, worked out from its header before any pixel is decoded: the decoder's buffers (progressive JPEG coefficients, interlaced PNG passes…) and the copies made for the canonical PNG (128 MiB: a 4096² PNG at 16 bits per channel is just allowed). Larger images are refused with `image_dimensions_too_large`.",
		set:     int64Var(func(c *Config) *int64 { return &c.MaxImageDecode }, 1<<20),
	},
	{
		Name:    "IMAGE_DECODE_MEMORY",
		Default: "402653184",
		Doc:     "Memory all the images being checked at once by one API process may take (384 MiB), whatever MAX_CONCURRENT_UPLOADS allows: an upload waits up to 30 s for its share, then gets 503 with Retry-After. Besides the pixels it holds the decoders' tables (a lossless WebP, or a lossy one with an alpha plane, reserves up to 246 MiB for its Huffman tables, whatever its size: the default leaves room for one at MAX_IMAGE_DECODE_BYTES) and the face check's copies. At least MAX_IMAGE_DECODE_BYTES; an image whose pixels and tables need more than this is refused.",
		set:     int64Var(func(c *Config) *int64 { return &c.ImageDecodeMemory }, 1<<20),
	},
	{
		Name:    "MAX_AUDIO_DURATION",
		Default: "120s",
		Doc:     "Longest accepted audio.",
		set:     durationVar(func(c *Config) *time.Duration { return &c.MaxAudioDuration }, time.Second),
	},
	{
		Name:    "MAX_PROMPT_CHARS",
		Default: "1000",
		Doc:     "Longest accepted prompt, in characters.",
		set:     intVar(func(c *Config) *int { return &c.MaxPromptChars }, 1, 100000),
	},
	{
		Name:    "MAX_CONCURRENT_UPLOADS",
		Default: "4",
		Doc:     "Uploads received and checked at the same time by one API process; more wait up to 10 s, then get 503 with Retry-After. The memory their images take decoded is bounded apart, by IMAGE_DECODE_MEMORY.",
		set:     intVar(func(c *Config) *int { return &c.MaxUploads }, 1, 1024),
	},
	{
		Name:     "MAX_CONCURRENT_UPLOADS_PER_CUSTOMER",
		Default:  "a quarter of MAX_CONCURRENT_UPLOADS, at least 1",
		Computed: true,
		Doc:      "Upload slots one customer may hold at once, so that the others still get theirs; more of that customer's uploads wait up to 10 s, then get `429 too_many_concurrent_uploads` (not counted by the rate limit).",
		set: func(c *Config, v string) error {
			if v == "" {
				return nil // computed from MAX_CONCURRENT_UPLOADS
			}
			return intVar(func(c *Config) *int { return &c.MaxUploadsPerCust }, 1, 1024)(c, v)
		},
	},
	{
		Name:    "UPLOAD_MIN_RATE",
		Default: "32768",
		Doc:     "Bytes a second an upload must average once UPLOAD_RATE_GRACE has passed (32 KiB/s); a client ahead of that pace may pause while it is ahead, but bytes sent fast at first buy no more than 30 s of pausing; a slower one is cut off with `408 request_timeout`, so that a client trickling bytes cannot hold an upload slot. With the size limits it also sets each upload's total deadline: the grace plus its declared Content-Length (or, when it declares none, the largest request) at this rate.",
		set:     int64Var(func(c *Config) *int64 { return &c.UploadMinRate }, 1024),
	},
	{
		Name:    "UPLOAD_RATE_GRACE",
		Default: "10s",
		Doc:     "How long an upload may take before UPLOAD_MIN_RATE applies (a slow start, a mobile link waking up). An upload that sends nothing for 30 s is cut off whatever its rate.",
		set:     durationVar(func(c *Config) *time.Duration { return &c.UploadRateGrace }, 0),
	},
	{
		Name:    "VIDEO_WIDTH",
		Default: "512",
		Doc:     fmt.Sprintf("Default output width (even, %d–%d); a request may choose its own.", generator.MinSide, generator.MaxSide),
		set:     frameVar(func(c *Config) *int { return &c.DefaultWidth }, generator.CheckSide),
	},
	{
		Name:    "VIDEO_HEIGHT",
		Default: "512",
		Doc:     fmt.Sprintf("Default output height (even, %d–%d).", generator.MinSide, generator.MaxSide),
		set:     frameVar(func(c *Config) *int { return &c.DefaultHeight }, generator.CheckSide),
	},
	{
		Name:    "VIDEO_FPS",
		Default: "25",
		Doc:     fmt.Sprintf("Default frames per second (%d–%d).", generator.MinFPS, generator.MaxFPS),
		set:     frameVar(func(c *Config) *int { return &c.DefaultFPS }, generator.CheckFPS),
	},
	{
		Name:    "METRICS_TOKEN",
		Default: "",
		Secret:  true,
		Doc:     "Bearer token (32+ characters) with which Prometheus may read `GET /metrics` on the API, so that the scraper holds no admin key (`Authorization: Bearer <token>`; Prometheus: `authorization: {credentials_file: …}`). It opens `/metrics` and nothing else. Empty: only admin keys read `/metrics`.",
		set: func(c *Config, v string) error {
			if v != "" && len(v) < 32 {
				return errors.New("must be at least 32 characters")
			}
			c.MetricsToken = v
			return nil
		},
	},
	{
		Name:    "METRICS_RETENTION",
		Default: "35d",
		Doc:     "How long the dashboard's history of requests per minute, workers' time and GPU readings is kept (days as `35d`, or a duration such as `72h`); older rows are pruned by the sweep. Jobs are kept for JOB_RETENTION, their charges for good.",
		set: func(c *Config, v string) error {
			d, err := parseDays(v)
			if err != nil || d < time.Hour {
				return errors.New("must be a number of days such as 35d, or a duration of at least 1h")
			}
			c.MetricsRetention = d
			return nil
		},
	},
	{
		Name:    "JOB_RETENTION",
		Default: "30d",
		Doc:     "How long a job's row is kept after it ended (completed, failed, cancelled or expired), with its events and webhook deliveries (days as `30d`, or a duration such as `720h`; at least a day, and longer than RESULT_TTL). Older ones are pruned by the garbage collection, at most 1000 a run; what `GET /usage` and the report count of them is kept in per-minute rollups first, so their figures do not change. A pruned job is no longer found by `GET /status/{job_id}` or listed by `GET /jobs`. Charges (the cost record) are kept.",
		set: func(c *Config, v string) error {
			d, err := parseDays(v)
			if err != nil || d < 24*time.Hour {
				return errors.New("must be a number of days such as 30d, or a duration of at least 24h")
			}
			c.JobRetention = d
			return nil
		},
	},
	{
		Name:    "STORAGE_ORPHAN_AGE",
		Default: "1h",
		Doc:     "How old a stored object that no job needs must be before the garbage collection deletes it: inputs of a request that failed or crashed before its job was created, videos of superseded attempts, temporary files of writes that never finished. It must exceed the longest time between writing an object and recording the job that names it (a submission stores its inputs, then creates the job, in one request). At least 10m.",
		set:     durationVar(func(c *Config) *time.Duration { return &c.OrphanAge }, 10*time.Minute),
	},
	{
		Name:    "COST_PER_SECOND",
		Default: "0.00019",
		Doc:     "Price in US dollars of one second of generation, recorded on each job as it is accepted and billed per run: the built-in CPU backend bills each run's wall time (start to end of the attempt, or to its last progress report when its worker was lost). $0.00019 is RunPod's 24 GB tier.",
		set:     priceVar(func(c *Config) *store.NanoUSD { return &c.CostPerSecond }),
	},
	{
		Name:    "COST_TIMEZONE",
		Default: "UTC",
		Doc:     "IANA time zone (e.g. `Europe/Berlin`) in which days and months of cost are counted: \"today\" starts at its midnight, the month on its first day; the dashboard's daily charts use it too.",
		set: func(c *Config, v string) error {
			loc, err := time.LoadLocation(v)
			if err != nil || v == "" || v == "Local" {
				return errors.New("must be an IANA time zone name such as UTC or Europe/Berlin")
			}
			c.CostLocation = loc
			return nil
		},
	},
	{
		Name:    "COST_DAILY_THRESHOLD_USD",
		Default: "10",
		Doc:     "Alert (rule `cost_daily`) once the day's generation cost, in COST_TIMEZONE, reaches this many US dollars: once per day and threshold, repeated every ALERT_REPEAT_INTERVAL while it holds, resolved at midnight. 0: off.",
		set:     usdVar(func(c *Config) *store.NanoUSD { return &c.CostDailyThreshold }),
	},
	{
		Name:    "COST_MONTHLY_BUDGET_USD",
		Default: "",
		Doc:     "Monthly budget in US dollars. When set, alerts at 50, 80 and 100 % of the month's actual cost (`budget_actual`) and of its forecast month-end cost (`budget_forecast`, at the last 24 hours' rate), once each per month. Empty: no budget alerts.",
		set:     usdVar(func(c *Config) *store.NanoUSD { return &c.CostMonthlyBudget }),
	},
	{
		Name:    "ALERT_FAILURE_RATIO",
		Default: "0.05",
		Doc:     "Alert (rule `failure_ratio`) when at least this share (0–1) of the jobs that ended in the last hour failed (completed — or since expired — and failed jobs count; cancelled ones do not). 0: off.",
		set: func(c *Config, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 || math.IsNaN(f) {
				return errors.New("must be a number from 0 to 1, such as 0.05")
			}
			c.AlertFailureRatio = f
			return nil
		},
	},
	{
		Name:    "ALERT_FAILURE_MIN_JOBS",
		Default: "10",
		Doc:     "The failure-ratio rule waits for at least this many ended jobs in the last hour, so that one failure of two does not page anyone.",
		set:     intVar(func(c *Config) *int { return &c.AlertFailureMinJobs }, 1, 1_000_000),
	},
	{
		Name:    "ALERT_QUEUE_WAIT",
		Default: "15m",
		Doc:     "Alert (rule `queue_wait`) when the job that has waited longest in the queue has waited this long: the workers cannot keep up, or none run. 0: off.",
		set:     durationVar(func(c *Config) *time.Duration { return &c.AlertQueueWait }, 0),
	},
	{
		Name:    "ALERT_RATE_LIMIT_REFUSALS",
		Default: "100",
		Doc:     "Alert (rule `rate_limit_spike`, one per customer) when one customer's requests were refused by its rate limit this many times in the last hour: a client in a retry loop, or one that needs a higher limit. 0: off.",
		set:     intVar(func(c *Config) *int { return &c.AlertRateLimitRefusals }, 0, 1_000_000_000),
	},
	{
		Name:    "ALERT_EVAL_INTERVAL",
		Default: "1m",
		Doc:     "How often the alert rules are evaluated: by one periodic job of the queue, once across every process that runs workers. A threshold crossed is notified within this interval and the delivery's time.",
		set:     durationVar(func(c *Config) *time.Duration { return &c.AlertEvalInterval }, time.Second),
	},
	{
		Name:    "ALERT_REPEAT_INTERVAL",
		Default: "4h",
		Doc:     "How long after its last notification an alert that still fires is notified again. 0: never repeated.",
		set:     durationVar(func(c *Config) *time.Duration { return &c.AlertRepeatInterval }, 0),
	},
	{
		Name:    "WEBHOOK_ALLOW_PRIVATE",
		Default: "false",
		Doc:     "Let customers' job webhooks (webhook_url) call loopback, private, link-local and other non-public addresses. Off, such URLs are refused when submitted and again at each connection (no DNS rebinding); turn it on only for a self-hosted setup whose only customers are trusted and whose endpoints live on its own network: on, any customer can make the service call any host it can reach.",
		set:     boolVar(func(c *Config) *bool { return &c.WebhookAllowPrivate }),
	},
	{
		Name:    "ALERT_WEBHOOK_URLS",
		Default: "",
		Secret:  true,
		Doc:     "Comma-separated http(s) URLs that receive alert notifications (a repeated URL counts once): Alertmanager's webhook payload (version 4), or Slack's incoming-webhook payload for `https://hooks.slack.com/…` URLs. A secret: a Slack URL is its own credential; only a URL's host is ever shown.",
		set: func(c *Config, v string) error {
			c.AlertWebhookURLs = nil
			for _, raw := range strings.Split(v, ",") {
				raw = strings.TrimSpace(raw)
				if raw == "" {
					continue
				}
				u, err := url.Parse(raw)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
					// Not the value: it may be a credential.
					return fmt.Errorf("URL %d is not an http or https URL without credentials", len(c.AlertWebhookURLs)+1)
				}
				if !slices.Contains(c.AlertWebhookURLs, raw) { // a repeat would be sent everything twice
					c.AlertWebhookURLs = append(c.AlertWebhookURLs, raw)
				}
			}
			return nil
		},
	},
	{
		Name:    "ALERT_WEBHOOK_SECRET",
		Default: "",
		Secret:  true,
		Doc:     "Standard Webhooks secret (`whsec_` and base64 of 24–64 random bytes; `openssl rand -base64 32`) that signs every alert webhook: headers `webhook-id`, `webhook-timestamp`, `webhook-signature`. Empty: unsigned.",
		set: func(c *Config, v string) error {
			if v == "" {
				return nil
			}
			key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(v, "whsec_"))
			if !strings.HasPrefix(v, "whsec_") || err != nil || len(key) < 24 || len(key) > 64 {
				return errors.New("must be whsec_ followed by the base64 of 24 to 64 bytes")
			}
			c.AlertWebhookSecret = v
			return nil
		},
	},
	{
		Name:    "ALERT_EMAIL_TO",
		Default: "",
		Doc:     "Comma-separated addresses that receive alert emails (plain text and HTML). Needs ALERT_EMAIL_FROM and SMTP_URL.",
		set: func(c *Config, v string) error {
			c.AlertEmailTo = nil
			for _, a := range strings.Split(v, ",") {
				if a = strings.TrimSpace(a); a == "" {
					continue
				}
				if _, err := mail.ParseAddress(a); err != nil {
					return fmt.Errorf("%q is not an email address", a)
				}
				c.AlertEmailTo = append(c.AlertEmailTo, a)
			}
			return nil
		},
	},
	{
		Name:    "ALERT_EMAIL_FROM",
		Default: "",
		Doc:     "Sender address of alert emails, e.g. `Avatar API <alerts@example.com>`.",
		set: func(c *Config, v string) error {
			if v != "" {
				if _, err := mail.ParseAddress(v); err != nil {
					return errors.New("must be an email address")
				}
			}
			c.AlertEmailFrom = v
			return nil
		},
	},
	{
		Name:    "SMTP_URL",
		Default: "",
		Secret:  true,
		Doc:     "Mail server for alert emails: `smtp://user:pass@host:587` (STARTTLS, required except to a loopback host) or `smtps://user:pass@host:465` (TLS); PLAIN or LOGIN authentication when a user is given. A secret: the password is never logged or shown.",
		set: func(c *Config, v string) error {
			if v != "" {
				if _, err := notify.ParseSMTPURL(v); err != nil {
					return err // its errors never hold the password
				}
			}
			c.SMTPURL = v
			return nil
		},
	},
	{
		Name:    "COST_DAILY_CAP_USD",
		Default: "",
		Doc:     "Hard cap: once the day's cost (COST_TIMEZONE) reaches this many US dollars, `POST /generate` answers 429 `budget_exhausted` until midnight, or until the cap is raised; jobs already accepted still run, so the day can end a little over it. Empty: no cap.",
		set:     usdVar(func(c *Config) *store.NanoUSD { return &c.CostDailyCap }),
	},
	{
		Name:    "COST_MONTHLY_CAP_USD",
		Default: "",
		Doc:     "Hard cap on the month's cost, as COST_DAILY_CAP_USD is on the day's: new jobs are refused until the first of the next month. Empty: no cap.",
		set:     usdVar(func(c *Config) *store.NanoUSD { return &c.CostMonthlyCap }),
	},
	{
		Name:    "DASHBOARD_SESSION_TTL",
		Default: "12h",
		Doc:     "How long an operator stays logged in to `/dashboard` after exchanging an admin key for a session (at most 720h). A session also ends with its key.",
		set: func(c *Config, v string) error {
			if err := durationVar(func(c *Config) *time.Duration { return &c.DashboardSessionTTL }, time.Minute)(c, v); err != nil {
				return err
			}
			if c.DashboardSessionTTL > 720*time.Hour {
				return errors.New("must be at most 720h")
			}
			return nil
		},
	},
	{
		Name:    "GPU_SAMPLE_INTERVAL",
		Default: "5s",
		Doc:     "How often a worker with an NVIDIA GPU reads its utilisation and memory (with nvidia-smi) while it runs a job. Workers without one record nothing.",
		set:     durationVar(func(c *Config) *time.Duration { return &c.GPUSampleInterval }, time.Second),
	},
	{
		Name:    "NVIDIA_SMI",
		Default: "nvidia-smi",
		Doc:     "nvidia-smi executable (name on PATH or path), with which workers find and sample their GPUs.",
		set:     strVar(func(c *Config) *string { return &c.NvidiaSMI }),
	},
}

// AttemptTimeout bounds one attempt of a job of this process's backend:
// JOB_TIMEOUT for the local one; for RunPod, the job's ttl there (its
// wait in RunPod's queue and its run) and a minute to fetch and check the
// video.
func (c *Config) AttemptTimeout() time.Duration {
	if c.Backend == "runpod" {
		return c.RunPodTTL + time.Minute
	}
	return c.JobTimeout
}

// parseDays reads a duration that may be given in days ("35d").
func parseDays(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 3650 {
			return 0, errors.New("bad number of days")
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(v)
}

// Load builds the configuration from getenv (os.Getenv in production). It
// reports every invalid variable at once, naming each, never its value.
func Load(getenv func(string) string) (*Config, error) {
	c := &Config{}
	var errs []error
	for _, v := range vars {
		val, err := lookup(getenv, v)
		if err == nil {
			err = v.set(c, val)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", v.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, name := range c.generatorEnv {
		if v := getenv(name); v != "" {
			c.GeneratorEnv = append(c.GeneratorEnv, name+"="+v)
		}
	}
	return c, c.finish()
}

// lookup returns the variable's value: NAME, else the contents of the file
// named by NAME_FILE for secrets, else the default.
func lookup(getenv func(string) string, v Var) (string, error) {
	if val := getenv(v.Name); val != "" {
		return val, nil
	}
	if v.Secret {
		if path := getenv(v.Name + "_FILE"); path != "" {
			b, err := os.ReadFile(path)
			if err != nil {
				return "", fmt.Errorf("reading %s_FILE: %w", v.Name, err)
			}
			return strings.TrimRight(string(b), "\r\n"), nil
		}
	}
	if v.Computed {
		return "", nil // filled in by finish
	}
	return v.Default, nil
}

// finish fills computed defaults and checks rules that span variables.
func (c *Config) finish() error {
	if c.PublicURL == "" {
		scheme := "http"
		if c.TLSCertFile != "" {
			scheme = "https" // the server itself answers only TLS
		}
		c.PublicURL = fmt.Sprintf("%s://localhost:%d", scheme, c.Port)
	}
	if c.MaxUploadsPerCust == 0 {
		c.MaxUploadsPerCust = max(1, c.MaxUploads/4)
	}
	if c.GeneratorTimeout == 0 {
		c.GeneratorTimeout = c.JobTimeout
	}
	if c.RunPodExecutionTimeout == 0 {
		c.RunPodExecutionTimeout = c.JobTimeout
	}
	if c.JobRescueAfter == 0 {
		c.JobRescueAfter = c.AttemptTimeout() + time.Minute
	}
	var errs []error
	if c.JobRescueAfter <= c.AttemptTimeout() {
		errs = append(errs, errors.New("JOB_RESCUE_AFTER: must be longer than an attempt's limit (JOB_TIMEOUT; RUNPOD_TTL + 1m with BACKEND=runpod)"))
	}
	if c.Generator == "command" && strings.TrimSpace(c.GeneratorCommand) == "" {
		errs = append(errs, errors.New("GENERATOR_COMMAND: required when GENERATOR=command"))
	}
	if c.Backend == "runpod" {
		if c.RunPodEndpointID == "" {
			errs = append(errs, errors.New("RUNPOD_ENDPOINT_ID: required when BACKEND=runpod"))
		}
		if c.RunPodAPIKey == "" {
			errs = append(errs, errors.New("RUNPOD_API_KEY: required when BACKEND=runpod"))
		}
		if c.RunPodExecutionTimeout >= c.RunPodTTL {
			errs = append(errs, errors.New("RUNPOD_EXECUTION_TIMEOUT: must be shorter than RUNPOD_TTL"))
		}
		if c.RunPodTTL > 7*24*time.Hour {
			errs = append(errs, errors.New("RUNPOD_TTL: must be at most 168h (RunPod's limit, and presigned URLs')"))
		}
	}
	if c.DownloadURLTTL > 7*24*time.Hour {
		errs = append(errs, errors.New("DOWNLOAD_URL_TTL: must be at most 168h (S3 presigned URLs last a week at most)"))
	}
	if c.JobRetention <= c.ResultTTL {
		errs = append(errs, errors.New("JOB_RETENTION: must be longer than RESULT_TTL (a job is pruned only once its video has expired)"))
	}
	if c.MaxUploadsPerCust > c.MaxUploads {
		errs = append(errs, errors.New("MAX_CONCURRENT_UPLOADS_PER_CUSTOMER: must be at most MAX_CONCURRENT_UPLOADS"))
	}
	if c.ImageDecodeMemory < c.MaxImageDecode {
		errs = append(errs, errors.New("IMAGE_DECODE_MEMORY: must be at least MAX_IMAGE_DECODE_BYTES"))
	}
	if len(c.AlertEmailTo) > 0 && (c.AlertEmailFrom == "" || c.SMTPURL == "") {
		errs = append(errs, errors.New("ALERT_EMAIL_TO: needs ALERT_EMAIL_FROM and SMTP_URL"))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("TLS_CERT_FILE, TLS_KEY_FILE: give both or neither"))
	} else if c.TLSCertFile != "" {
		if _, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile); err != nil {
			errs = append(errs, fmt.Errorf("TLS_CERT_FILE, TLS_KEY_FILE: cannot load the certificate and its key: %w", err))
		}
	}
	if c.Storage == "s3" && c.S3Bucket == "" {
		errs = append(errs, errors.New("S3_BUCKET: required when STORAGE=s3"))
	}
	return errors.Join(errs...)
}

// priceVar reads a price in dollars a second.
func priceVar(field func(*Config) *store.NanoUSD) func(*Config, string) error {
	return func(c *Config, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1 || math.IsNaN(f) {
			return errors.New("must be a number of dollars from 0 to 1, such as 0.00019")
		}
		*field(c) = store.NanoUSD(math.Round(f * 1e9))
		return nil
	}
}

// usdVar reads an amount of US dollars; empty is none (0).
func usdVar(field func(*Config) *store.NanoUSD) func(*Config, string) error {
	return func(c *Config, v string) error {
		if v == "" {
			*field(c) = 0
			return nil
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1e9 || math.IsNaN(f) {
			return errors.New("must be an amount of US dollars such as 10 or 0.50")
		}
		*field(c) = store.NanoUSD(math.Round(f * 1e9))
		return nil
	}
}

// urlVar reads an http(s) base URL, kept without a trailing slash.
func urlVar(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
			return errors.New("must be an http or https URL with no credentials or query")
		}
		*field(c) = strings.TrimRight(v, "/")
		return nil
	}
}

func strVar(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *field(c) = v; return nil }
}

func boolVar(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("must be true or false")
		}
		*field(c) = b
		return nil
	}
}

func intVar(field func(*Config) *int, lo, hi int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("must be a whole number from %d to %d", lo, hi)
		}
		*field(c) = n
		return nil
	}
}

// frameVar is a video dimension or rate, held to what the generators make
// by the same check as a request's (package generator).
func frameVar(field func(*Config) *int, check func(int) string) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return errors.New(check(0))
		}
		if why := check(n); why != "" {
			return errors.New(why)
		}
		*field(c) = n
		return nil
	}
}

func int64Var(field func(*Config) *int64, lo int64) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < lo {
			return fmt.Errorf("must be a whole number of at least %d", lo)
		}
		*field(c) = n
		return nil
	}
}

func durationVar(field func(*Config) *time.Duration, lo time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		if v == "" {
			return nil // computed default
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < lo {
			return fmt.Errorf("must be a duration such as 30s or 10m, at least %s", lo)
		}
		*field(c) = d
		return nil
	}
}
