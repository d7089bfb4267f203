package stats

import (
	"context"
	"errors"
	"time"

	"github.com/avatar-api/avatar-api/internal/store"
)

// ErrUnknownRange is the answer to a range the dashboard does not offer.
var ErrUnknownRange = errors.New("unknown range")

// Service answers the dashboard's refreshes from the history in the
// database, with the service's cost settings and, with BACKEND=runpod, the
// endpoint's health as last read.
type Service struct {
	History  store.History
	Location *time.Location // COST_TIMEZONE
	Price    store.NanoUSD  // a second of the backend (COST_PER_SECOND, RUNPOD_PRICE_PER_SECOND)
	Budget   *store.NanoUSD // the month's budget; nil: none
	// Retention is METRICS_RETENTION (0: rollups are kept).
	Retention time.Duration
	Now       func() time.Time
	// RunPod answers the RunPod endpoint's health as this process last
	// read it, from memory; nil: the backend is not RunPod.
	RunPod func() RunPodHealth
	// Alerts, if set, make the alerts panel: their state, the channels
	// configured (by id) and the spending cap (nil: none).
	Alerts   store.Alerts
	Channels []string
	Cap      *Cap
	// Webhooks, if set, make the webhooks panel: the customers whose
	// webhook endpoints failed in the last 24 h; nil: the field is null.
	Webhooks WebhookHealthReader

	cache quarters // the quarter-hours that are over, read once
}

// Dashboard is one refresh of the dashboard over the range named name.
func (s *Service) Dashboard(ctx context.Context, name string) (*Dashboard, error) {
	r, ok := RangeNamed(name)
	if !ok {
		return nil, ErrUnknownRange
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	q := Query{Range: r, Now: now(), Location: s.Location, Price: s.Price, Budget: s.Budget, Retention: s.Retention}
	if s.RunPod != nil {
		h := s.RunPod()
		q.RunPod = &h
	}
	d, err := fetch(ctx, s.History, q, &s.cache)
	if err != nil {
		return nil, err
	}
	if s.Alerts != nil {
		if d.Alerts, err = Alerts(ctx, s.Alerts, s.Channels, s.Cap); err != nil {
			return nil, err
		}
	}
	if s.Webhooks != nil {
		if d.Webhooks, err = Webhooks(ctx, s.Webhooks, q.Now); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Warm reads the history of the longest range into the cache, so that the
// first operator to open the dashboard does not wait for it (a second or
// two for a month of a busy service).
func (s *Service) Warm(ctx context.Context) error {
	_, err := s.Dashboard(ctx, Ranges[len(Ranges)-1].Name)
	return err
}

// RangeNames are the names of Ranges, for documentation and the page.
func RangeNames() []string {
	out := make([]string, len(Ranges))
	for i, r := range Ranges {
		out[i] = r.Name
	}
	return out
}
