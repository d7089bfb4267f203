package apikey

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/avatar-api/avatar-api/internal/ratelimit"
	"github.com/avatar-api/avatar-api/internal/store"
	"github.com/avatar-api/avatar-api/internal/text"
)

// Scopes a key can carry.
const (
	ScopeGenerate = "generate" // customers: the job API
	ScopeAdmin    = "admin"    // the operator: key administration
)

// Errors of the service.
var (
	ErrNotFound = errors.New("key not found")
	ErrRevoked  = errors.New("key is revoked")
	ErrExpired  = errors.New("key has expired")
)

// MaxRateLimit is the largest per-key limit: the rate limiter's exact range.
const MaxRateLimit = ratelimit.MaxLimit

// ParamError is an invalid field of a request to the service.
type ParamError struct{ Field, Message string }

func (e *ParamError) Error() string { return e.Field + ": " + e.Message }

// Service manages keys: create, list, update, revoke, rotate. Every change
// is audited with its actor. Only hashes are stored; a new key's plaintext
// is returned once, by Create and Rotate.
type Service struct {
	store  store.KeyStore
	pepper []byte
	now    func() time.Time
	// Webhooks checks and seals a key's default webhook URL
	// (webhook.Service); nil: keys cannot have one.
	Webhooks Sealer
}

// Sealer checks a webhook URL (SSRF) and seals it for storage, with the
// form of it that may be shown.
type Sealer interface {
	Seal(ctx context.Context, raw string) (sealed, display string, err error)
}

// NewService returns a key service hashing with pepper (may be empty).
func NewService(st store.KeyStore, pepper []byte) *Service {
	return &Service{store: st, pepper: pepper, now: time.Now}
}

// CreateParams describe a new key.
type CreateParams struct {
	Customer  string
	Scopes    []string // default: generate
	RateLimit int      // generation requests per hour; 0: the configured default
	ExpiresIn time.Duration
	Notes     string
	// WebhookURL is the default webhook URL of the key's jobs; "": none.
	WebhookURL string

	expiresAt *time.Time // rotation: the replaced key's expiry, kept as it is
}

// Created is a new key: the plaintext, shown once, and its record.
type Created struct {
	Key    string
	Record *Key
}

// Create makes a key for a customer.
func (s *Service) Create(ctx context.Context, p CreateParams, actor string) (*Created, error) {
	k, plain, err := s.newRecord(p)
	if err != nil {
		return nil, err
	}
	if p.WebhookURL != "" {
		if k.WebhookURL, k.WebhookDisplay, err = s.seal(ctx, p.WebhookURL); err != nil {
			return nil, err
		}
	}
	if err := s.store.CreateKey(ctx, k, store.Audit{Action: "created", Actor: actor}); err != nil {
		return nil, fmt.Errorf("storing key: %w", err)
	}
	return &Created{Key: plain, Record: view(k)}, nil
}

func (s *Service) newRecord(p CreateParams) (*store.APIKey, string, error) {
	p.Customer = strings.TrimSpace(p.Customer)
	if err := checkCustomer(p.Customer); err != nil {
		return nil, "", err
	}
	if err := checkNotes(p.Notes); err != nil {
		return nil, "", err
	}
	if len(p.Scopes) == 0 {
		p.Scopes = []string{ScopeGenerate}
	}
	for _, sc := range p.Scopes {
		if sc != ScopeGenerate && sc != ScopeAdmin {
			return nil, "", &ParamError{"scopes", fmt.Sprintf("unknown scope %q; use generate or admin", sc)}
		}
	}
	if p.RateLimit < 0 || p.RateLimit > MaxRateLimit {
		return nil, "", &ParamError{"rate_limit", fmt.Sprintf("must be from 0 (the default) to %d per hour", MaxRateLimit)}
	}
	if p.ExpiresIn < 0 {
		return nil, "", &ParamError{"expires", "must be in the future"}
	}
	plain := Generate()
	k := &store.APIKey{
		ID: uuid.NewString(), Hash: Hash(plain, s.pepper), Display: Display(plain), Customer: p.Customer,
		Scopes: slices.Compact(slices.Sorted(slices.Values(p.Scopes))), RateLimit: p.RateLimit, Notes: p.Notes,
	}
	switch {
	case p.expiresAt != nil:
		k.ExpiresAt = p.expiresAt
	case p.ExpiresIn > 0:
		e := s.now().Add(p.ExpiresIn).UTC().Truncate(time.Second)
		k.ExpiresAt = &e
	}
	return k, plain, nil
}

// seal checks and seals a default webhook URL.
func (s *Service) seal(ctx context.Context, raw string) (sealed, display string, err error) {
	if s.Webhooks == nil {
		return "", "", &ParamError{"webhook_url", "webhooks are not available here"}
	}
	return s.Webhooks.Seal(ctx, raw)
}

// Limits of the text a key carries, in characters.
const (
	MaxCustomerChars = 200
	MaxNotesChars    = 2000
)

// checkCustomer and checkNotes hold a key's text to what every database
// stores alike: UTF-8, no control characters (notes may have newlines and
// tabs), within the documented lengths.
func checkCustomer(c string) error {
	if c == "" {
		return &ParamError{"customer", "is required"}
	}
	if why := text.Check(c, MaxCustomerChars, false); why != "" {
		return &ParamError{"customer", why}
	}
	return nil
}

func checkNotes(n string) error {
	if why := text.Check(n, MaxNotesChars, true); why != "" {
		return &ParamError{"notes", why}
	}
	return nil
}

// Import stores a key that exists already (the API_KEY of a first release)
// for customer, with every scope, so that its holder keeps working.
func (s *Service) Import(ctx context.Context, key, customer, actor string) (*Key, error) {
	if err := checkCustomer(customer); err != nil {
		return nil, err
	}
	k := s.importedRecord(key, customer)
	if err := s.store.CreateKey(ctx, k, store.Audit{Action: "imported", Actor: actor, Detail: importDetail}); err != nil {
		return nil, fmt.Errorf("importing key: %w", err)
	}
	return view(k), nil
}

const importDetail = "from the API_KEY environment variable"

// importedRecord is the record of a key of the first release's format.
func (s *Service) importedRecord(key, customer string) *store.APIKey {
	return &store.APIKey{
		ID: uuid.NewString(), Hash: Hash(key, s.pepper), Display: legacyDisplay(key), Customer: customer,
		Scopes: []string{ScopeAdmin, ScopeGenerate}, Notes: "imported from API_KEY",
	}
}

// legacyDisplay keeps the first 4 characters of a key of another format.
func legacyDisplay(key string) string {
	if len(key) > 4 {
		return key[:4] + "…"
	}
	return "…"
}

// Get returns a key's record.
func (s *Service) Get(ctx context.Context, id string) (*Key, error) {
	k, err := s.get(ctx, id)
	return view(k), err
}

func (s *Service) get(ctx context.Context, id string) (*store.APIKey, error) {
	id, ok := store.ParseID(id)
	if !ok {
		return nil, ErrNotFound
	}
	k, err := s.store.GetKey(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reading key: %w", err)
	}
	return k, nil
}

// List returns every key, newest first.
func (s *Service) List(ctx context.Context) ([]*Key, error) {
	keys, err := s.store.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing keys: %w", err)
	}
	views := make([]*Key, len(keys))
	for i, k := range keys {
		views[i] = view(k)
	}
	return views, nil
}

// Events returns the audit trail of a key, or of all keys with id "".
func (s *Service) Events(ctx context.Context, id string, limit int) ([]Event, error) {
	ev, err := s.store.KeyEvents(ctx, id, limit)
	if err != nil {
		return nil, fmt.Errorf("reading audit trail: %w", err)
	}
	views := make([]Event, len(ev))
	for i, e := range ev {
		views[i] = Event{KeyID: e.KeyID, Action: e.Action, Actor: e.Actor, Detail: e.Detail, At: e.At}
	}
	return views, nil
}

// UpdateParams change a key; nil fields stay. ExpiresIn 0 clears the expiry.
type UpdateParams struct {
	RateLimit *int
	Notes     *string
	ExpiresIn *time.Duration
	// WebhookURL sets the default webhook URL; "" removes it.
	WebhookURL *string
}

// Update changes a key's rate limit, notes or expiry.
func (s *Service) Update(ctx context.Context, id string, p UpdateParams, actor string) (*Key, error) {
	cur, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	id = cur.ID
	u := store.KeyUpdate{ID: id, RateLimit: p.RateLimit, Notes: p.Notes, Actor: actor}
	if p.Notes != nil {
		if err := checkNotes(*p.Notes); err != nil {
			return nil, err
		}
	}
	if p.RateLimit != nil && (*p.RateLimit < 0 || *p.RateLimit > MaxRateLimit) {
		return nil, &ParamError{"rate_limit", fmt.Sprintf("must be from 0 (the default) to %d per hour", MaxRateLimit)}
	}
	if p.ExpiresIn != nil {
		var e time.Time
		if *p.ExpiresIn < 0 {
			return nil, &ParamError{"expires", "must be in the future"}
		}
		if *p.ExpiresIn > 0 {
			e = s.now().Add(*p.ExpiresIn).UTC().Truncate(time.Second)
		}
		u.ExpiresAt = &e
	}
	if p.WebhookURL != nil {
		sealed, display := "", ""
		if *p.WebhookURL != "" {
			if sealed, display, err = s.seal(ctx, *p.WebhookURL); err != nil {
				return nil, err
			}
		}
		u.WebhookURL, u.WebhookDisplay = &sealed, display
	}
	k, err := s.store.UpdateKey(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("updating key: %w", err)
	}
	return view(k), nil
}

// Revoke stops a key at once (every replica within about a second).
func (s *Service) Revoke(ctx context.Context, id, actor string) (*Key, error) {
	cur, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	id = cur.ID
	k, err := s.store.RevokeKey(ctx, store.Revocation{ID: id, At: s.now(), Actor: actor})
	if errors.Is(err, store.ErrConflict) {
		return view(k), ErrRevoked
	}
	if err != nil {
		return nil, fmt.Errorf("revoking key: %w", err)
	}
	return view(k), nil
}

// Rotate makes a new key with the same customer, scopes, limit, notes,
// default webhook URL and expiry (rotation replaces a credential; it does not extend a contract);
// the old one keeps working for grace, then expires.
func (s *Service) Rotate(ctx context.Context, id string, grace time.Duration, actor string) (*Created, error) {
	old, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if old.RevokedAt != nil {
		return nil, ErrRevoked
	}
	if !old.Active(s.now()) {
		return nil, ErrExpired
	}
	if grace < 0 {
		return nil, &ParamError{"grace", "must not be negative"}
	}
	p := CreateParams{Customer: old.Customer, Scopes: old.Scopes, RateLimit: old.RateLimit, Notes: old.Notes,
		expiresAt: old.ExpiresAt}
	k, plain, err := s.newRecord(p)
	if err != nil {
		return nil, err
	}
	k.WebhookURL, k.WebhookDisplay = old.WebhookURL, old.WebhookDisplay
	if err := s.store.RotateKey(ctx, store.Rotation{Old: old.ID, Next: k, OldExpires: s.now().Add(grace), Actor: actor}); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, ErrRevoked
		}
		return nil, fmt.Errorf("rotating key: %w", err)
	}
	return &Created{Key: plain, Record: view(k)}, nil
}

// Bootstrap gives a fresh install its first key, once, even when several
// servers start together: if no key exists, it imports legacyKey (the
// API_KEY variable) for customer, or else creates an admin key whose
// plaintext the caller must show. With keys present it does nothing.
func (s *Service) Bootstrap(ctx context.Context, legacyKey, customer string) (created *Created, imported *Key, err error) {
	if legacyKey != "" {
		if err := checkCustomer(customer); err != nil {
			return nil, nil, err
		}
		k := s.importedRecord(legacyKey, customer)
		ok, err := s.store.BootstrapKey(ctx, k, store.Audit{Action: "imported", Actor: "bootstrap", Detail: importDetail})
		if err != nil || !ok {
			return nil, nil, err
		}
		return nil, view(k), nil
	}
	k, plain, err := s.newRecord(CreateParams{Customer: "operator", Scopes: []string{ScopeAdmin, ScopeGenerate},
		Notes: "first key, created at first start"})
	if err != nil {
		return nil, nil, err
	}
	ok, err := s.store.BootstrapKey(ctx, k, store.Audit{Action: "created", Actor: "bootstrap", Detail: "first start"})
	if err != nil || !ok {
		return nil, nil, err
	}
	return &Created{Key: plain, Record: view(k)}, nil, nil
}

// Known reports whether key is stored (whatever its state).
func (s *Service) Known(ctx context.Context, key string) (bool, error) {
	_, err := s.store.KeyByHash(ctx, Hash(key, s.pepper))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
