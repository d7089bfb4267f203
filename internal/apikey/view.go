package apikey

import (
	"time"

	"github.com/avatar-api/avatar-api/internal/store"
)

// Key is a key's record as the service shows it, to the API's operators
// and on the command line alike: never the key itself, nor its hash.
type Key struct {
	ID          string     `json:"id" format:"uuid"`
	Display     string     `json:"display" doc:"The key's first characters, to tell keys apart" example:"av_live_Ab3x"`
	Customer    string     `json:"customer"`
	Scopes      []string   `json:"scopes" example:"[\"generate\"]"`
	RateLimit   int        `json:"rate_limit" doc:"Generation requests per hour; 0: the service's default"`
	Notes       string     `json:"notes"`
	CreatedBy   string     `json:"created_by"`
	RotatedFrom string     `json:"rotated_from,omitempty" doc:"The key this one replaced"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt  *time.Time `json:"last_used_at,omitempty" doc:"Recorded in batches, up to 10 s late"`
	Webhook     string     `json:"webhook_url,omitempty" doc:"The default webhook URL of the key's jobs, as shown: scheme, host and a hash (the URL may hold a token; it is stored sealed)" example:"https://example.com/… #1f2e3d4c"`
}

// Active reports whether the key opens the API at now (store.APIKey.Active
// is the rule).
func (k *Key) Active(now time.Time) bool {
	return (&store.APIKey{RevokedAt: k.RevokedAt, ExpiresAt: k.ExpiresAt}).Active(now)
}

// Event is a line of the keys' audit trail.
type Event struct {
	KeyID  string    `json:"key_id" format:"uuid"`
	Action string    `json:"action" example:"revoked" doc:"created, imported, updated, revoked or rotated"`
	Actor  string    `json:"actor" doc:"Who made the change: key:<id> through the API, cli:<user> on the command line"`
	Detail string    `json:"detail,omitempty"`
	At     time.Time `json:"at"`
}

func view(k *store.APIKey) *Key {
	if k == nil {
		return nil
	}
	return &Key{ID: k.ID, Display: k.Display, Customer: k.Customer, Scopes: k.Scopes, RateLimit: k.RateLimit,
		Notes: k.Notes, CreatedBy: k.CreatedBy, RotatedFrom: k.RotatedFrom, CreatedAt: k.CreatedAt,
		ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt, LastUsedAt: k.LastUsedAt, Webhook: k.WebhookDisplay}
}

// ParseLifetime is time.ParseDuration that also takes whole days ("90d"),
// the unit key lifetimes and grace periods are usually given in.
func ParseLifetime(s string) (time.Duration, error) {
	if n := len(s); n > 1 && s[n-1] == 'd' {
		d, err := time.ParseDuration(s[:n-1] + "h")
		return d * 24, err
	}
	return time.ParseDuration(s)
}
