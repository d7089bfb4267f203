package app

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"

	"github.com/avatar-api/avatar-api/internal/api"
	"github.com/avatar-api/avatar-api/internal/config"
	"github.com/avatar-api/avatar-api/internal/job"
	"github.com/avatar-api/avatar-api/internal/netguard"
	"github.com/avatar-api/avatar-api/internal/storage/local"
	"github.com/avatar-api/avatar-api/internal/store"
	"github.com/avatar-api/avatar-api/internal/store/sqlstore"
	"github.com/avatar-api/avatar-api/internal/webhook"
)

// signingSecret is SIGNING_SECRET, or else the one generated once into
// DATA_DIR/signing.key: local download URLs, RunPod's webhook tokens and
// the customers' webhook secrets all derive from it.
func signingSecret(cfg *config.Config) ([]byte, error) {
	if cfg.SigningSecret != "" {
		return []byte(cfg.SigningSecret), nil
	}
	return local.LoadOrCreateSecret(joinData(cfg, "signing.key"))
}

// NewWebhooks builds the webhook service of the configuration without a
// renderer: enough to check and seal URLs and to make secrets (the keys
// command); App.Webhooks builds the one that delivers. It uses the
// servers' signing secret and never makes one: a secret of its own would
// seal URLs and make customers' secrets the servers cannot use.
func NewWebhooks(cfg *config.Config, st *sqlstore.Store, log *slog.Logger) (*webhook.Service, error) {
	secret := []byte(cfg.SigningSecret)
	if len(secret) == 0 {
		var err error
		if secret, err = local.LoadSecret(joinData(cfg, "signing.key")); errors.Is(err, fs.ErrNotExist) {
			return nil, errors.New("SIGNING_SECRET is not set and DATA_DIR has no signing.key: set SIGNING_SECRET as the servers have it, or run this where their DATA_DIR is (after a server has started once)")
		} else if err != nil {
			return nil, err
		}
	}
	return buildWebhooks(cfg, secret, st, log, nil, nil)
}

func newWebhooks(cfg *config.Config, st *sqlstore.Store, log *slog.Logger, render webhook.Renderer, obs webhook.Observer) (*webhook.Service, error) {
	secret, err := signingSecret(cfg)
	if err != nil {
		return nil, err
	}
	return buildWebhooks(cfg, secret, st, log, render, obs)
}

func buildWebhooks(cfg *config.Config, secret []byte, st *sqlstore.Store, log *slog.Logger, render webhook.Renderer, obs webhook.Observer) (*webhook.Service, error) {
	if log != nil {
		log = log.With("component", "webhooks")
	}
	return webhook.New(webhook.Options{
		SigningSecret: secret, Store: st, Guard: netguard.Guard{AllowPrivate: cfg.WebhookAllowPrivate},
		Render: render, Log: log, Observer: obs,
	})
}

// Webhooks is the customers' webhook service, built on first use: it
// renders each delivery from the job as it is, through the job service.
func (a *App) Webhooks() (*webhook.Service, error) {
	if a.webhooks != nil {
		return a.webhooks, nil
	}
	w, err := newWebhooks(a.Config, a.Store, a.Log, a.renderWebhook, a.Metrics)
	if err != nil {
		return nil, err
	}
	if a.alertClock != nil {
		w.SetClock(a.alertClock)
	}
	a.webhooks = w
	return w, nil
}

// renderWebhook is a delivery's body: its event and the job as GET
// /status shows it now, with a fresh download URL when completed.
func (a *App) renderWebhook(ctx context.Context, d *store.WebhookDelivery) ([]byte, error) {
	jobs := a.viewJobs
	if jobs == nil {
		return nil, errors.New("no job service to render webhooks with")
	}
	j, err := jobs.Get(ctx, d.Owner, d.JobID)
	if errors.Is(err, job.ErrNotFound) {
		return nil, webhook.ErrGone
	}
	if err != nil {
		return nil, err
	}
	var dl *job.Download
	if j.State == string(store.StateCompleted) {
		dl, err = jobs.Result(ctx, d.Owner, d.JobID)
		switch {
		case errors.Is(err, job.ErrExpired), errors.Is(err, job.ErrNoResult):
			dl = nil
		case err != nil:
			return nil, err
		}
	}
	return api.WebhookBody(a.Config.PublicURL, d.Type, d.EventAt, j, dl)
}
