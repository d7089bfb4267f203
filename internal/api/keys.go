package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/avatar-api/avatar-api/internal/apikey"
	"github.com/avatar-api/avatar-api/internal/problem"
)

// actor names who made a change through the API: the admin key's id.
func actor(ctx context.Context) string { return "key:" + identity(ctx).KeyID }

type createKeyInput struct {
	Body struct {
		Customer  string   `json:"customer" minLength:"1" maxLength:"200" doc:"Whose key it is; jobs belong to the customer. One line of text, at most 200 characters."`
		Scopes    []string `json:"scopes,omitempty" doc:"generate (default) and/or admin"`
		RateLimit int      `json:"rate_limit,omitempty" minimum:"0" doc:"Generation requests per hour; 0 or absent: the default"`
		ExpiresIn string   `json:"expires_in,omitempty" doc:"Lifetime, e.g. 90d or 720h; absent: never" example:"90d"`
		Notes     string   `json:"notes,omitempty" maxLength:"2000" doc:"Free text, at most 2000 characters; newlines and tabs allowed, no other control characters"`
		Webhook   string   `json:"webhook_url,omitempty" maxLength:"2048" doc:"The default webhook URL of the key's jobs (a job's own webhook_url replaces it); checked as a job's is, stored sealed, shown only as scheme, host and a hash"`
	}
}

type createdKeyOutput struct {
	Body struct {
		Key    string     `json:"key" doc:"The key itself. It is shown this once and never again: store it now." example:"av_live_0123456789ABCDEFGHIJabcdefghij0123Ab3xYz"`
		Record apikey.Key `json:"record"`
		// WebhookSecret is shown when a default webhook URL was given
		// to a customer without a signing secret.
		WebhookSecret string `json:"webhook_secret,omitempty" doc:"With webhook_url, for a customer who had no webhook signing secret: the one just made for them, shown only now; give it to the customer"`
	}
}

func opCreateKey() huma.Operation {
	return huma.Operation{
		OperationID: "create-key", DefaultStatus: http.StatusCreated,
		Summary: "Create a customer's key", Tags: []string{"Keys (operator)"},
		Description: "Returns the new key once; only its hash is kept.", Errors: []int{401, 403, 422},
	}
}

func (a *api) createKey(ctx context.Context, in *createKeyInput) (*createdKeyOutput, error) {
	exp, err := parseLifetime(in.Body.ExpiresIn)
	if err != nil {
		return nil, err
	}
	c, err := a.Keys.Create(ctx, apikey.CreateParams{Customer: in.Body.Customer, Scopes: in.Body.Scopes,
		RateLimit: in.Body.RateLimit, ExpiresIn: exp, Notes: in.Body.Notes, WebhookURL: in.Body.Webhook}, actor(ctx))
	if err != nil {
		return nil, recordsDown(err)
	}
	out := &createdKeyOutput{}
	out.Body.Key, out.Body.Record = c.Key, *c.Record
	if in.Body.Webhook != "" {
		out.Body.WebhookSecret = a.ensureSecret(ctx, c.Record.Customer)
	}
	return out, nil
}

// parseLifetime reads "90d", "36h" or "" (never).
func parseLifetime(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := apikey.ParseLifetime(s)
	if err != nil || d <= 0 {
		return 0, problem.New(http.StatusUnprocessableEntity, CodeInvalidRequest, "expires_in must be a positive duration such as 90d or 720h")
	}
	return d, nil
}

type keysOutput struct {
	Body struct {
		Keys []apikey.Key `json:"keys"`
	}
}

func opListKeys() huma.Operation {
	return huma.Operation{
		OperationID: "list-keys",
		Summary:     "List every key", Tags: []string{"Keys (operator)"}, Errors: []int{401, 403},
	}
}

func (a *api) listKeys(ctx context.Context, _ *struct{}) (*keysOutput, error) {
	keys, err := a.Keys.List(ctx)
	if err != nil {
		return nil, recordsDown(err)
	}
	out := &keysOutput{}
	out.Body.Keys = make([]apikey.Key, 0, len(keys))
	for _, k := range keys {
		out.Body.Keys = append(out.Body.Keys, *k)
	}
	return out, nil
}

type keyIDInput struct {
	ID string `path:"id" doc:"The key's id"`
}

type keyOutput struct {
	Body struct {
		apikey.Key
		Events        []apikey.Event `json:"events,omitempty" doc:"Audit trail, oldest first"`
		WebhookSecret string         `json:"webhook_secret,omitempty" doc:"After webhook_url was set for a customer who had no webhook signing secret: the one just made for them, shown only now; give it to the customer"`
	}
}

func opShowKey() huma.Operation {
	return huma.Operation{
		OperationID: "show-key",
		Summary:     "Show a key and its audit trail", Tags: []string{"Keys (operator)"}, Errors: []int{401, 403, 404},
	}
}

func (a *api) showKey(ctx context.Context, in *keyIDInput) (*keyOutput, error) {
	k, err := a.Keys.Get(ctx, in.ID)
	if err != nil {
		return nil, recordsDown(err)
	}
	events, err := a.Keys.Events(ctx, k.ID, 1000)
	if err != nil {
		return nil, recordsDown(err)
	}
	out := &keyOutput{}
	out.Body.Key = *k
	out.Body.Events = events
	return out, nil
}

type updateKeyInput struct {
	ID   string `path:"id"`
	Body struct {
		RateLimit *int    `json:"rate_limit,omitempty" minimum:"0" doc:"Generation requests per hour; 0: the default. Takes effect within about a second."`
		Notes     *string `json:"notes,omitempty" maxLength:"2000" doc:"Free text, at most 2000 characters; newlines and tabs allowed, no other control characters"`
		ExpiresIn *string `json:"expires_in,omitempty" doc:"New lifetime from now, e.g. 30d; empty string: never expires"`
		Webhook   *string `json:"webhook_url,omitempty" maxLength:"2048" doc:"The default webhook URL of the key's jobs; empty string: none"`
	}
}

func opUpdateKey() huma.Operation {
	return huma.Operation{
		OperationID: "update-key",
		Summary:     "Change a key's limit, notes, expiry or default webhook URL", Tags: []string{"Keys (operator)"}, Errors: []int{401, 403, 404, 422},
	}
}

func (a *api) updateKey(ctx context.Context, in *updateKeyInput) (*keyOutput, error) {
	p := apikey.UpdateParams{RateLimit: in.Body.RateLimit, Notes: in.Body.Notes, WebhookURL: in.Body.Webhook}
	if in.Body.ExpiresIn != nil {
		d, err := parseLifetime(*in.Body.ExpiresIn)
		if err != nil {
			return nil, err
		}
		p.ExpiresIn = &d
	}
	k, err := a.Keys.Update(ctx, in.ID, p, actor(ctx))
	if err != nil {
		return nil, recordsDown(err)
	}
	out := &keyOutput{}
	out.Body.Key = *k
	if in.Body.Webhook != nil && *in.Body.Webhook != "" {
		out.Body.WebhookSecret = a.ensureSecret(ctx, k.Customer)
	}
	return out, nil
}

func opRevokeKey() huma.Operation {
	return huma.Operation{
		OperationID: "revoke-key",
		Summary:     "Revoke a key", Tags: []string{"Keys (operator)"}, Errors: []int{401, 403, 404, 409},
		Description: "The key stops working on every server within about a second.",
	}
}

func (a *api) revokeKey(ctx context.Context, in *keyIDInput) (*keyOutput, error) {
	k, err := a.Keys.Revoke(ctx, in.ID, actor(ctx))
	if err != nil {
		return nil, recordsDown(err)
	}
	out := &keyOutput{}
	out.Body.Key = *k
	return out, nil
}

type rotateKeyInput struct {
	ID   string `path:"id"`
	Body struct {
		Grace string `json:"grace,omitempty" doc:"How long the old key keeps working, e.g. 24h (default) or 0s" example:"24h"`
	}
}

func opRotateKey() huma.Operation {
	return huma.Operation{
		OperationID: "rotate-key", DefaultStatus: http.StatusCreated,
		Summary: "Rotate a key", Tags: []string{"Keys (operator)"}, Errors: []int{401, 403, 404, 409, 422},
		Description: "Creates a new key with the same customer, scopes, limit and notes, returned once; the old key keeps working until the grace period ends.",
	}
}

func (a *api) rotateKey(ctx context.Context, in *rotateKeyInput) (*createdKeyOutput, error) {
	grace := 24 * time.Hour
	if in.Body.Grace != "" {
		d, err := apikey.ParseLifetime(in.Body.Grace)
		if err != nil || d < 0 {
			return nil, problem.New(http.StatusUnprocessableEntity, CodeInvalidRequest, "grace must be a duration such as 24h or 0s")
		}
		grace = d
	}
	c, err := a.Keys.Rotate(ctx, in.ID, grace, actor(ctx))
	if err != nil {
		return nil, recordsDown(err)
	}
	out := &createdKeyOutput{}
	out.Body.Key, out.Body.Record = c.Key, *c.Record
	return out, nil
}
