// Package webhook sends customers the events of their jobs: completion
// webhooks signed with the Standard Webhooks scheme.
//
// A job's webhook URL is checked against SSRF when it is given (netguard)
// and stored sealed; each transition that a job's webhook asks for writes
// a delivery in its own transaction (store.Apply), with a River job that
// calls Deliver until the endpoint answers 2xx, for up to a day. Each
// customer's signing secret is derived from the service's SIGNING_SECRET
// and a salt stored per customer, so that the database never holds it.
package webhook

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/avatar-api/avatar-api/internal/netguard"
	"github.com/avatar-api/avatar-api/internal/refusal"
	"github.com/avatar-api/avatar-api/internal/stdwebhook"
	"github.com/avatar-api/avatar-api/internal/store"
)

// Codes of refused webhook settings (problem+json, 422).
const (
	CodeURLInvalid    = "webhook_url_invalid"    // not an http(s) URL the service may call
	CodeURLForbidden  = "webhook_url_forbidden"  // resolves to a loopback, private or other non-public address
	CodeURLUnresolved = "webhook_url_unresolved" // the host does not resolve
	CodeEventsInvalid = "webhook_events_invalid" // an unknown event, or events without a URL
	CodeSecretMissing = "webhook_secret_missing" // the customer has no signing secret yet
	CodeGraceInvalid  = "invalid_request"        // a rotation's grace period out of bounds
)

// Timeout is how long an endpoint has to answer an attempt: a 2xx within
// it is a delivery.
const Timeout = 10 * time.Second

// MaxGrace bounds a rotation's grace period, DefaultGrace is its default.
const (
	MaxGrace     = 7 * 24 * time.Hour
	DefaultGrace = 24 * time.Hour
)

// Sentinel errors.
var (
	// ErrGone: a Renderer's job no longer exists; its delivery is given up.
	ErrGone       = errors.New("the job no longer exists")
	ErrNoDelivery = errors.New("the job has no webhook delivery") // nothing to redeliver
	ErrNoSecret   = errors.New("no webhook signing secret")       // the customer has made none
)

// Store is what the service keeps in the database.
type Store interface {
	store.Webhooks
	GetKey(ctx context.Context, id string) (*store.APIKey, error)
}

// Renderer builds a delivery's body: the event and the job as it is.
type Renderer func(ctx context.Context, d *store.WebhookDelivery) ([]byte, error)

// Observer is told of each attempt (metrics).
type Observer interface {
	WebhookAttempt(event string, delivered, final bool, latency time.Duration)
}

// Options configure a Service.
type Options struct {
	// SigningSecret is the service's own secret (SIGNING_SECRET): the
	// customers' secrets and the sealing key derive from it.
	SigningSecret []byte
	Store         Store
	Guard         netguard.Guard // WEBHOOK_ALLOW_PRIVATE
	Render        Renderer       // required by Deliver
	Log           *slog.Logger
	Observer      Observer
	// Timeout bounds one attempt; zero: Timeout.
	Timeout time.Duration
}

// Service checks, stores and delivers webhooks.
type Service struct {
	opts   Options
	guard  *netguard.Guard
	client *http.Client
	aead   cipher.AEAD
	secret []byte // derives the customers' signing keys
	mark   []byte // keys the display form's hash
	now    func() time.Time
}

// New returns a service; the signing secret must not be empty.
func New(o Options) (*Service, error) {
	if len(o.SigningSecret) == 0 {
		return nil, errors.New("webhooks: no signing secret")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Timeout <= 0 {
		o.Timeout = Timeout
	}
	block, err := aes.NewCipher(derive(o.SigningSecret, "avatar-api webhook URL sealing key v1"))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	g := o.Guard
	return &Service{opts: o, guard: &g, client: g.Client(o.Timeout), aead: aead,
		secret: derive(o.SigningSecret, "avatar-api webhook signing secrets v1"),
		mark:   derive(o.SigningSecret, "avatar-api webhook URL display v1"), now: time.Now}, nil
}

// SetClock replaces the clock of signatures, secrets and attempts (tests).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

func derive(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// Target is where a job's events go: the URL sealed, its display form and
// the events asked for; a zero Target sends none.
type Target struct {
	URL     string
	Display string
	Events  []string
}

// Target checks a submission's webhook: rawURL, or else the default URL
// of the key keyID, and the events asked for (none: the defaults). The
// customer must have a signing secret.
func (s *Service) Target(ctx context.Context, customer, keyID, rawURL string, events []string) (Target, error) {
	evs, err := checkEvents(events)
	if err != nil {
		return Target{}, err
	}
	var t Target
	switch {
	case rawURL != "":
		if t.URL, t.Display, err = s.Seal(ctx, rawURL); err != nil {
			return Target{}, err
		}
	case keyID != "":
		k, err := s.opts.Store.GetKey(ctx, keyID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return Target{}, fmt.Errorf("reading the key's webhook: %w", err)
		}
		if k != nil {
			t.URL, t.Display = k.WebhookURL, k.WebhookDisplay
		}
	}
	if t.URL == "" {
		if len(evs) > 0 {
			return Target{}, refusal.New(CodeEventsInvalid, "webhook_events needs a webhook_url (or a default one on the API key)")
		}
		return Target{}, nil
	}
	if _, err := s.opts.Store.WebhookSecret(ctx, customer); errors.Is(err, store.ErrNotFound) {
		return Target{}, refusal.New(CodeSecretMissing, "create your webhook signing secret first (POST /webhooks/secret): webhooks are always signed")
	} else if err != nil {
		return Target{}, fmt.Errorf("reading the webhook secret: %w", err)
	}
	t.Events = evs
	return t, nil
}

func checkEvents(events []string) ([]string, error) {
	var out []string
	for _, e := range events {
		for _, e := range strings.Split(e, ",") {
			e = strings.TrimSpace(e)
			if e == "" {
				continue
			}
			if !slices.Contains(store.WebhookEvents, e) {
				return nil, refusal.New(CodeEventsInvalid, "unknown webhook event %q: use %s", e, strings.Join(store.WebhookEvents, ", "))
			}
			if !slices.Contains(out, e) {
				out = append(out, e)
			}
		}
	}
	return out, nil
}

// Seal checks a webhook URL (SSRF) and returns it sealed, with its display
// form.
func (s *Service) Seal(ctx context.Context, raw string) (sealed, display string, err error) {
	if len(raw) > 2048 {
		return "", "", refusal.New(CodeURLInvalid, "the webhook URL is longer than 2048 characters")
	}
	if err := s.guard.CheckURL(ctx, raw); err != nil {
		code := CodeURLInvalid
		switch {
		case errors.Is(err, netguard.ErrForbiddenAddress):
			code = CodeURLForbidden
		case errors.Is(err, netguard.ErrUnresolvable):
			code = CodeURLUnresolved
		}
		return "", "", refusal.New(code, "webhook_url: %s", err.Error())
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", "", err
	}
	ct := s.aead.Seal(nonce, nonce, []byte(raw), []byte(sealLabel))
	return "v1." + base64.RawURLEncoding.EncodeToString(ct), s.display(raw), nil
}

const sealLabel = "avatar-api webhook url"

// open is a sealed URL in clear.
func (s *Service) open(sealed string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(sealed, "v1."))
	if err != nil || !strings.HasPrefix(sealed, "v1.") || len(b) < s.aead.NonceSize() {
		return "", errors.New("the stored webhook URL is not sealed")
	}
	n := s.aead.NonceSize()
	pt, err := s.aead.Open(nil, b[:n], b[n:], []byte(sealLabel))
	if err != nil {
		return "", errors.New("the stored webhook URL cannot be opened: was SIGNING_SECRET changed?")
	}
	return string(pt), nil
}

// display is what may be shown of a URL: its scheme and host, and a keyed
// hash that tells URLs apart without revealing a path or query, which may
// hold a token.
func (s *Service) display(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "invalid"
	}
	m := hmac.New(sha256.New, s.mark)
	m.Write([]byte(raw))
	return u.Scheme + "://" + u.Host + "/… #" + hex.EncodeToString(m.Sum(nil))[:8]
}

// Secret is a customer's signing secret, as created or rotated: shown
// once.
type Secret struct {
	Secret        string     `json:"secret" doc:"The signing secret: keep it; it is shown only now" example:"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"`
	CreatedAt     time.Time  `json:"created_at"`
	PreviousUntil *time.Time `json:"previous_valid_until,omitempty" doc:"Until then webhooks are signed with the previous secret too (the rotation's grace period)"`
}

// SecretInfo is what is known of a customer's secret, without it.
type SecretInfo struct {
	CreatedAt     time.Time  `json:"created_at"`
	PreviousUntil *time.Time `json:"previous_valid_until,omitempty" doc:"Until then webhooks are signed with the previous secret too"`
}

// Rotate creates the customer's secret, or replaces it: the previous one
// keeps signing, alongside, for grace (0 to MaxGrace).
func (s *Service) Rotate(ctx context.Context, customer string, grace time.Duration) (*Secret, error) {
	if grace < 0 || grace > MaxGrace {
		return nil, refusal.New(CodeGraceInvalid, "grace must be from 0 to %d seconds", int(MaxGrace.Seconds()))
	}
	salt, err := newSalt()
	if err != nil {
		return nil, err
	}
	now := s.now()
	w, err := s.opts.Store.PutWebhookSecret(ctx, customer, salt, now, now.Add(grace))
	if errors.Is(err, store.ErrConflict) { // a first secret made meanwhile: rotate it
		w, err = s.opts.Store.PutWebhookSecret(ctx, customer, salt, now, now.Add(grace))
	}
	if err != nil {
		return nil, fmt.Errorf("storing the webhook secret: %w", err)
	}
	return &Secret{Secret: stdwebhook.FormatSecret(s.key(customer, w.Salt)), CreatedAt: w.CreatedAt, PreviousUntil: w.PreviousUntil}, nil
}

// Ensure makes the customer's secret if they have none, and returns it to
// show once; nil if they had one (it is left as it is).
func (s *Service) Ensure(ctx context.Context, customer string) (*Secret, error) {
	salt, err := newSalt()
	if err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	created, err := s.opts.Store.AddWebhookSecret(ctx, customer, salt, now)
	if err != nil || !created {
		return nil, err
	}
	return &Secret{Secret: stdwebhook.FormatSecret(s.key(customer, salt)), CreatedAt: now}, nil
}

func newSalt() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// Info describes the customer's secret; ErrNoSecret if none.
func (s *Service) Info(ctx context.Context, customer string) (*SecretInfo, error) {
	w, err := s.opts.Store.WebhookSecret(ctx, customer)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoSecret
	}
	if err != nil {
		return nil, err
	}
	info := &SecretInfo{CreatedAt: w.CreatedAt}
	if w.PreviousUntil != nil && w.PreviousUntil.After(s.now()) {
		info.PreviousUntil = w.PreviousUntil
	}
	return info, nil
}

// key is the signing key of a customer's secret with salt.
func (s *Service) key(customer, salt string) []byte {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(customer + "\x00" + salt))
	return m.Sum(nil)
}

// keys are the keys that sign now: the current one, and the previous one
// during its grace period.
func (s *Service) keys(ctx context.Context, customer string, now time.Time) ([][]byte, error) {
	w, err := s.opts.Store.WebhookSecret(ctx, customer)
	if err != nil {
		return nil, err
	}
	keys := [][]byte{s.key(customer, w.Salt)}
	if w.PreviousSalt != "" && w.PreviousUntil != nil && now.Before(*w.PreviousUntil) {
		keys = append(keys, s.key(customer, w.PreviousSalt))
	}
	return keys, nil
}

// responseCap is how much of an endpoint's answer is read.
const responseCap = 4 << 10

// permanent is a cause no retry can remedy: the attempt is the last.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// internal is a failure of the service itself: the customer's record of
// the attempt says so in general words, the log has the detail.
type internal struct {
	error
	public string
}

// Deliver makes one attempt of generation (queue.DeliverWebhookArgs) to
// deliver a webhook and records it. final says no attempt follows: a
// failure then gives the delivery up (unless a redelivery since goes on).
// An error asks for another attempt.
func (s *Service) Deliver(ctx context.Context, id string, generation int, final bool) error {
	d, err := s.opts.Store.WebhookDelivery(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		s.opts.Log.WarnContext(ctx, "webhook delivery not found", "webhook_id", id)
		return nil
	}
	if err != nil {
		return err
	}
	if d.State == store.DeliveryDelivered || d.Redeliveries > generation {
		return nil // done, or a redelivery's own entry carries it on
	}
	now := s.now()
	status, latency, cause := s.send(ctx, d, now)
	if cause != nil && ctx.Err() != nil {
		return cause // shutting down: the attempt did not happen
	}
	var perm permanent
	if errors.As(cause, &perm) {
		final = true
	}
	a := store.WebhookAttempt{DeliveryID: d.ID, At: now, Delivered: cause == nil, Status: status, Latency: latency,
		Final: cause != nil && final, Generation: generation}
	var in internal
	switch {
	case errors.As(cause, &in):
		a.Error = in.public
		s.opts.Log.ErrorContext(ctx, "webhook attempt failed in the service", "webhook_id", d.ID, "job_id", d.JobID, "error", cause)
	case cause != nil:
		a.Error = cause.Error()
	}
	err = s.opts.Store.RecordWebhookAttempt(ctx, a)
	if errors.Is(err, store.ErrConflict) {
		return nil // another attempt delivered it meanwhile
	}
	if err != nil {
		return fmt.Errorf("recording webhook attempt: %w", err)
	}
	if s.opts.Observer != nil {
		s.opts.Observer.WebhookAttempt(d.Type, a.Delivered, a.Final, latency)
	}
	log := s.opts.Log.With("webhook_id", d.ID, "job_id", d.JobID, "event", d.Type, "endpoint", d.Display,
		"status", status, "latency_ms", latency.Milliseconds())
	switch {
	case cause == nil:
		log.InfoContext(ctx, "webhook delivered")
		return nil
	case final:
		log.WarnContext(ctx, "webhook given up", "error", cause)
		return nil
	}
	log.InfoContext(ctx, "webhook attempt failed", "error", cause)
	return cause
}

// send posts the delivery's body once; the error says why it was not a
// delivery, in words that never hold the URL.
func (s *Service) send(ctx context.Context, d *store.WebhookDelivery, now time.Time) (int, time.Duration, error) {
	raw, err := s.open(d.URL)
	if err != nil {
		return 0, 0, permanent{err}
	}
	body, err := s.opts.Render(ctx, d)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, ErrGone) {
		return 0, 0, permanent{errors.New("the job no longer exists")}
	}
	if err != nil {
		return 0, 0, internal{fmt.Errorf("building the payload: %w", err), "the service could not build the webhook's body; it will retry"}
	}
	keys, err := s.keys(ctx, store.OwnerCustomer(d.Owner), now)
	if errors.Is(err, store.ErrNotFound) {
		return 0, 0, permanent{errors.New("no webhook signing secret")}
	}
	if err != nil {
		return 0, 0, internal{fmt.Errorf("reading the signing secret: %w", err), "the service could not read the signing secret; it will retry"}
	}
	h, err := stdwebhook.Sign(keys, d.ID, now, body)
	if err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, raw, bytes.NewReader(body))
	if err != nil {
		return 0, 0, errors.New("the webhook URL is not a valid request URL")
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "avatar-api-webhook/1")
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) { // it quotes the whole URL; keep the cause
			err = ue.Err
		}
		return 0, time.Since(start), fmt.Errorf("post to %s: %w", d.Display, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, responseCap))
	latency := time.Since(start)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, latency, fmt.Errorf("status %d %s", resp.StatusCode, snippet(answer))
	}
	return resp.StatusCode, latency, nil
}

// snippet is the start of an endpoint's answer, quoted.
func snippet(b []byte) string {
	const max = 200
	if len(b) > max {
		b = b[:max]
	}
	return strconv.QuoteToASCII(string(b))
}

// Delivery is a webhook sent for a job, as its owner sees it.
type Delivery struct {
	WebhookID   string     `json:"webhook_id" doc:"The webhook-id header of every attempt (and redelivery): deduplicate on it" example:"msg_0193a8e2c4f37c2a9b1d5e6f7a8b9c0d"`
	Event       string     `json:"event" enum:"job.started,job.completed,job.failed,job.cancelled,job.expired"`
	Endpoint    string     `json:"endpoint" doc:"The URL's scheme and host and a hash that tells URLs apart; the URL itself is never shown" example:"https://example.com/… #1f2e3d4c"`
	State       string     `json:"state" enum:"pending,delivered,failed" doc:"pending: being tried (with backoff, for up to 24 h); failed: given up"`
	EventAt     time.Time  `json:"event_at" doc:"When the transition happened"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	Attempts    []Attempt  `json:"attempts"`
}

// Attempt is one try to deliver a webhook.
type Attempt struct {
	At        time.Time `json:"at"`
	Delivered bool      `json:"delivered" doc:"The endpoint answered 2xx within 10 s"`
	Status    int       `json:"status,omitempty" doc:"The endpoint's HTTP status; absent: no answer"`
	LatencyMS int64     `json:"latency_ms"`
	Error     string    `json:"error,omitempty"`
}

// Deliveries lists the webhooks sent for a job (the caller has checked it
// is the customer's).
func (s *Service) Deliveries(ctx context.Context, jobID string) ([]Delivery, error) {
	ds, as, err := s.opts.Store.JobWebhooks(ctx, jobID)
	if err != nil {
		return nil, err
	}
	out := make([]Delivery, 0, len(ds))
	at := map[string]int{}
	for _, d := range ds {
		at[d.ID] = len(out)
		out = append(out, Delivery{WebhookID: d.ID, Event: d.Type, Endpoint: d.Display, State: d.State,
			EventAt: d.EventAt, DeliveredAt: d.DeliveredAt, Attempts: []Attempt{}})
	}
	for _, a := range as {
		if i, ok := at[a.DeliveryID]; ok {
			out[i].Attempts = append(out[i].Attempts, Attempt{At: a.At, Delivered: a.Delivered, Status: a.Status,
				LatencyMS: a.Latency.Milliseconds(), Error: a.Error})
		}
	}
	return out, nil
}

// Redeliver sends a job's last webhook again, under the same webhook-id
// (the caller has checked the job is the customer's).
func (s *Service) Redeliver(ctx context.Context, jobID string) (*Delivery, error) {
	d, err := s.opts.Store.RedeliverWebhook(ctx, jobID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoDelivery
	}
	if err != nil {
		return nil, err
	}
	all, err := s.Deliveries(ctx, jobID)
	if err != nil {
		return nil, err
	}
	for i := range all {
		if all[i].WebhookID == d.ID {
			return &all[i], nil
		}
	}
	return nil, ErrNoDelivery
}

// Health is how customers' endpoints fared since t: those with deliveries
// retrying or given up.
func (s *Service) Health(ctx context.Context, since time.Time) ([]store.WebhookHealth, error) {
	return s.opts.Store.WebhookHealth(ctx, since)
}
